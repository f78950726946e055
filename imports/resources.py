"""Contacts as a django-import-export resource: the admin's export, and an import side for
scripts and support that applies the import pipeline's own rules.

One place for the rules, two front doors: the import side maps columns with
imports.mapping (auto_map / clean_mapping: the same header synonyms and checks as the import
pages) and checks and normalises every row with imports.staging.stage_row (the pipeline's row
rules: contacts.emails.normalize_email, contacts.services.coerce_custom_value for typed custom
fields, tag limits), so a row refused here is refused with the very message the pipeline gives.

What it does not do, by design: domain (MX / disposable) checks, which the pipeline runs once
per distinct domain over a whole file, and rollback history. Existing contacts (same
normalised email) get the file's non-empty values, like the pipeline's "update" strategy.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import OuterRef
from import_export import resources
from import_export.fields import Field
from import_export.instance_loaders import ModelInstanceLoader

from contacts.models import Contact, ContactChange, ContactTag, CustomField
from contacts.services import TEXT_FIELDS, clean_tag_names, ensure_tags
from imports.mapping import MappingError, auto_map, clean_mapping
from imports.models import ImportJob
from imports.staging import STAGE_COLUMNS, TEXT_TARGETS, plan_columns, stage_row

SOURCE = "import_export"
SAMPLE_ROWS = 10  # rows auto_map looks at, as in the import pages' preview
FIRST_DATA_LINE = 2  # line numbers as a spreadsheet shows them: the header is line 1


def _text(value: Any) -> str:
    """A cell as text, the way the pipeline's readers give it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def _custom_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value)


class NormalizedEmailLoader(ModelInstanceLoader):
    """Finds the existing contact by normalised email (set on the row by before_import_row),
    the tenant-wide identity of a contact, whatever the case or form of the file's address."""

    def get_instance(self, row):
        return self.get_queryset().filter(email_normalized=row["email_normalized"]).first()


class ContactResource(resources.ModelResource):
    email = Field(attribute="email", column_name="email")
    tags = Field(column_name="tags", dehydrate_method="dehydrate_tags")

    class Meta:
        model = Contact
        fields = (
            "id",
            "email",
            *TEXT_FIELDS,
            "tags",
            "status",
            "validation_status",
            "validation_reason",
            "source",
            "created_at",
            "updated_at",
        )
        export_order = fields
        import_id_fields = ("email",)
        instance_loader_class = NormalizedEmailLoader
        clean_model_instances = False  # rows are checked by stage_row, as in the pipeline
        skip_diff = True

    def __init__(
        self, *, mapping: dict | None = None, tags: list[str] | None = None, **kwargs: Any
    ) -> None:
        """`mapping`: {column index: target} as the import pages use; None maps the columns
        automatically. `tags`: added to every imported row."""
        super().__init__(**kwargs)
        self.mapping = mapping
        self.extra_tags = clean_tag_names(tags or [])
        self.custom_fields = {field.key: field for field in CustomField.objects.all()}
        self.plan = None
        for key in self.custom_fields:  # one export column per custom field, named by its key
            self.fields[f"custom:{key}"] = Field(
                column_name=key,
                dehydrate_method=lambda contact, key=key: _custom_text(
                    (contact.custom_fields or {}).get(key)
                ),
            )

    # --- export -----------------------------------------------------------------------------

    def filter_export(self, queryset, **kwargs):
        # Tag names in the same query (no per-row query, and the export keeps streaming).
        names = ContactTag.objects.filter(contact=OuterRef("pk")).order_by("tag__name")
        return queryset.annotate(
            tag_names=ArraySubquery(names.values("tag__name"))
        )

    def dehydrate_tags(self, contact: Contact) -> str:
        names = getattr(contact, "tag_names", None)
        if names is None:
            names = contact.tags.values_list("name", flat=True)
        return ", ".join(names)

    # --- import: the pipeline's mapping ---------------------------------------------------------

    def before_import(self, dataset, **kwargs):
        """Map the file's columns as the import pages do, then reshape the dataset to one row
        per line holding the original cells (checked row by row in before_import_row)."""
        headers = [_text(header) for header in dataset.headers or []]
        rows = [[_text(value) for value in row] for row in dataset]
        dataset.wipe()  # a refused mapping leaves no row to import
        mapping = self._clean_mapping(headers, rows)
        job = ImportJob(headers=headers, mapping=mapping, tags=self.extra_tags)
        self.plan = plan_columns(job, self.custom_fields)
        dataset.headers = ["line", "cells", "email"]
        for line, cells in enumerate(rows, start=FIRST_DATA_LINE):
            dataset.append([line, cells, ""])

    def _clean_mapping(self, headers: list[str], rows: list[list[str]]) -> dict[str, str]:
        """The given or automatic mapping, checked by the pipeline's clean_mapping. Raises
        MappingError (the import's base error, shown instead of any row)."""
        fields = list(self.custom_fields.values())
        mapping = self.mapping
        if mapping is None:
            mapping = auto_map(headers, rows[:SAMPLE_ROWS], custom_fields=fields)
        mapping = clean_mapping(mapping, headers, custom_fields=fields)
        if any(target.startswith("new:") for target in mapping.values()):
            raise MappingError(
                "New custom fields are made by the import pages; create the "
                "field first or map the column to an existing one."
            )
        return mapping

    # --- import: the pipeline's row rules ------------------------------------------------------

    def before_import_row(self, row, **kwargs):
        """Check and normalise the row with the pipeline's stage_row; a refused row becomes
        this row's validation error, with the pipeline's message, keyed by the file's column."""
        staged = dict(
            zip(STAGE_COLUMNS, stage_row(self.plan, row["line"], row["cells"]), strict=True)
        )
        if staged["status"] != "ok":
            column = staged["error_column"] or NON_FIELD_ERRORS
            raise ValidationError({column: [staged["error_reason"]]})
        row["email"], row["email_normalized"] = staged["email"], staged["email_norm"]
        for name in TEXT_TARGETS:
            if staged[name]:  # empty cells leave an existing contact's value alone
                row[name] = staged[name]
        row["custom"] = json.loads(staged["custom"])
        row["tag_names"] = staged["tags"]

    def after_init_instance(self, instance, new, row, **kwargs):
        instance.import_previous = None
        if not new:
            row.pop("email")  # the contact keeps its address as first entered
            instance.import_previous = {
                name: getattr(instance, name) for name in (*TEXT_TARGETS, "custom_fields")
            }

    def before_save_instance(self, instance, row, **kwargs):
        instance.email_normalized = row["email_normalized"]
        instance.custom_fields = {**(instance.custom_fields or {}), **row["custom"]}
        if instance.pk is None:
            instance.source = SOURCE

    def after_save_instance(self, instance, row, **kwargs):
        """Tags and history, as every write to a contact has (not in bulk mode, where the
        rows are not written yet)."""
        unsaved = self._is_dry_run(kwargs) and not self._is_using_transactions(kwargs)
        if self._meta.use_bulk or unsaved:
            return
        tags = ensure_tags(row["tag_names"])
        ContactTag.objects.bulk_create(
            [ContactTag(contact=instance, tag=tag) for tag in tags], ignore_conflicts=True
        )
        previous = instance.import_previous
        if previous is None:
            ContactChange.objects.create(
                contact=instance, contact_email=instance.email, action="created", source=SOURCE
            )
            return
        changes = {
            name: [old, getattr(instance, name)]
            for name, old in previous.items()
            if getattr(instance, name) != old
        }
        if changes:
            ContactChange.objects.create(
                contact=instance,
                contact_email=instance.email,
                action="updated",
                changes=changes,
                source=SOURCE,
            )
