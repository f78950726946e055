"""Shapes of the imports API (/api/v1/imports…): what a client may send and what it gets back.

The import's representation is built by the service's import_progress() plus the job's own
facts, so the API, the progress page and the WebSocket push always show the same numbers."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from contacts.services import clean_tag_names
from imports.models import ImportJob, ImportRowError, ImportStatus, Strategy
from imports.services import import_progress

MAX_MAPPING_COLUMNS = 5000  # beyond IMPORT_MAX_COLUMNS; only a bound on what we parse


class ImportCreateSerializer(serializers.Serializer):
    """The multipart form of POST /api/v1/imports."""

    file = serializers.FileField(
        allow_empty_file=True,  # the service refuses it with the pipeline's own message
        use_url=False,
        help_text="CSV, TSV or TXT (any delimiter), XLSX or XLS.",
    )
    mapping = serializers.CharField(
        required=False,
        trim_whitespace=False,
        help_text='JSON object {"<header or 0-based column index>": "<target>"}; targets: '
        "email, first_name, last_name, full_name, company, job_title, phone, website, city, "
        'country, tags, ignore, "custom:<key>", "new:<text|number|date|boolean>:<label>". '
        "Columns not named are ignored. Without it the columns are mapped automatically.",
    )
    strategy = serializers.ChoiceField(
        choices=Strategy.choices, required=False, help_text="Default: update."
    )
    tags = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text='Tags added to every row: comma-separated, or a JSON list ["a", "b"].',
    )
    skip_undeliverable = serializers.BooleanField(
        required=False,
        help_text="Skip rows whose domain is disposable or cannot receive mail.",
    )
    preset = serializers.CharField(
        required=False,
        max_length=100,
        help_text="Name of a saved mapping preset to apply (instead of `mapping`).",
    )
    save_preset = serializers.CharField(
        required=False,
        max_length=100,
        help_text="Save the mapping used as a preset of this name.",
    )
    start = serializers.BooleanField(
        required=False,
        help_text="Start the import once analysed (when the analysis ran inline); same as "
        "`?start=true`.",
    )

    def validate_mapping(self, value: str) -> dict[str, str]:
        try:
            mapping = json.loads(value)
        except ValueError:
            raise serializers.ValidationError("Must be a JSON object.") from None
        if not isinstance(mapping, dict) or len(mapping) > MAX_MAPPING_COLUMNS:
            raise serializers.ValidationError(
                'Must be a JSON object {"<header or column index>": "<target>"}.'
            )
        if not all(isinstance(target, str) for target in mapping.values()):
            raise serializers.ValidationError('Each target must be text, e.g. "email".')
        return mapping

    def validate_tags(self, value: str) -> list[str]:
        names: Any = value
        if value.lstrip().startswith("["):
            try:
                names = json.loads(value)
            except ValueError:
                raise serializers.ValidationError("Not a valid JSON list.") from None
        try:
            return clean_tag_names(names)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "mapping" in attrs and "preset" in attrs:
            raise serializers.ValidationError(
                {"preset": ["Send either `mapping` or `preset`, not both."]}
            )
        return attrs


class RollbackSerializer(serializers.Serializer):
    force = serializers.BooleanField(
        required=False,
        help_text="For contacts changed after the import: `false` leaves them as they are and "
        "rolls back the rest; `true` rolls back everything (their later changes are lost). "
        "Needed only when there are such contacts: without it the answer is 409 "
        "`rollback_conflicts`.",
    )


class ImportSerializer(serializers.Serializer):
    """An import: status, counts (a preview before it runs, the result after) and set-up."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ImportStatus.choices)
    status_label = serializers.CharField()
    percent = serializers.IntegerField(help_text="Progress of the current step, 0–100.")
    total_rows = serializers.IntegerField()
    processed_rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    skipped = serializers.IntegerField()
    invalid = serializers.IntegerField()
    duplicates_in_file = serializers.IntegerField()
    possible_duplicates = serializers.IntegerField()
    flagged = serializers.IntegerField()
    error = serializers.CharField(help_text="Why the whole import failed, if it did.")
    is_active = serializers.BooleanField(help_text="Analysing, queued, running or rolling back.")
    cancel_requested = serializers.BooleanField()
    file_name = serializers.CharField()
    file_size = serializers.IntegerField()
    file_format = serializers.CharField()
    headers = serializers.ListField(child=serializers.CharField())
    mapping = serializers.DictField(
        child=serializers.CharField(), help_text="{column index: target}"
    )
    strategy = serializers.ChoiceField(choices=Strategy.choices)
    tags = serializers.ListField(child=serializers.CharField())
    skip_undeliverable = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    rolled_back_at = serializers.DateTimeField(allow_null=True)
    rollback_report = serializers.DictField()

    def to_representation(self, job: ImportJob) -> dict[str, Any]:
        when = serializers.DateTimeField()
        return {
            **import_progress(job),
            "file_name": job.original_name,
            "file_size": job.size,
            "file_format": job.file_format,
            "headers": job.headers,
            "mapping": job.mapping,
            "strategy": job.strategy,
            "tags": job.tags,
            "skip_undeliverable": job.skip_undeliverable,
            **{
                name: when.to_representation(value) if value else None
                for name in ("created_at", "started_at", "finished_at", "rolled_back_at")
                for value in [getattr(job, name)]
            },
            "rollback_report": job.rollback_report,
        }


class RowErrorSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportRowError
        fields = ("line", "column", "value", "reason")
