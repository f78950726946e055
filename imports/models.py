"""Imports of contact files: the job, its row errors, what it changed (for rollback) and saved
column mappings. All in the tenant's schema."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Strategy(models.TextChoices):
    SKIP = "skip", "Skip existing contacts"
    UPDATE = "update", "Update existing contacts"
    FILL = "fill", "Fill empty fields only"
    CREATE = "create", "Always create"


STRATEGY_HELP = {
    Strategy.SKIP: "Contacts already here (same email) are left untouched.",
    Strategy.UPDATE: "Contacts already here get the file's non-empty values.",
    Strategy.FILL: "Contacts already here only get values for fields they have empty.",
    Strategy.CREATE: "Every row becomes a new contact, even when name and company match an "
    "existing one; rows whose email already exists are reported, not created twice.",
}


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Waiting for mapping"
    ANALYSING = "analysing", "Checking the file"
    READY = "ready", "Ready to import"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Importing"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    ROLLING_BACK = "rolling_back", "Rolling back"
    ROLLED_BACK = "rolled_back", "Rolled back"


class ImportJob(models.Model):
    # --- the file ---
    file = models.CharField(max_length=500, help_text="Path in the default storage.")
    original_name = models.CharField(max_length=255)
    size = models.BigIntegerField(default=0)
    file_format = models.CharField(max_length=10)  # csv | xlsx | xls
    # How to read it (sniffed, then adjusted by the user): encoding, delimiter, quotechar,
    # header_row (1-based line of the header), sheet.
    read_settings = models.JSONField(default=dict, blank=True)
    headers = models.JSONField(default=list, blank=True)
    preview_rows = models.JSONField(default=list, blank=True)
    # {"<column index>": "<target>"}; targets are listed in imports.mapping.TARGETS.
    mapping = models.JSONField(default=dict, blank=True)
    preset = models.ForeignKey(
        "MappingPreset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # --- options ---
    strategy = models.CharField(max_length=10, choices=Strategy.choices, default=Strategy.UPDATE)
    tags = models.JSONField(default=list, blank=True)  # added to every imported row
    skip_undeliverable = models.BooleanField(
        default=False, help_text="Skip rows whose domain is disposable or cannot receive mail."
    )
    # The rows written or matched are added to this list (memberships removed on rollback).
    target_list = models.ForeignKey(
        "segments.StaticList", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # --- state ---
    status = models.CharField(
        max_length=20, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    error = models.TextField(blank=True)  # why the whole import failed, for the user
    total_rows = models.IntegerField(default=0)
    processed_rows = models.IntegerField(default=0)
    # Outcome counts. Before the run they are the preview ("would create …"); after, the result.
    created = models.IntegerField(default=0)
    updated = models.IntegerField(default=0)
    unchanged = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)
    invalid = models.IntegerField(default=0)
    duplicates_in_file = models.IntegerField(default=0)
    possible_duplicates = models.IntegerField(default=0)  # same name + company, other email
    flagged = models.IntegerField(default=0)  # imported with validation risky/invalid
    # The contacts table as the analysis saw it (count, max id, last update): when unchanged at
    # the start of the run, the analysis' outcomes still hold and are not worked out again.
    analysed_snapshot = models.JSONField(default=dict, blank=True)
    chunks_done = models.IntegerField(default=0)
    # [low, high) line ranges written so far (chunks commit in any order when several
    # connections write): a retry after a killed worker writes the rest.
    applied_ranges = models.JSONField(default=list, blank=True)
    # Written by the worker as it goes; a running job whose heartbeat stops was killed and is
    # resumed by the resume_stalled_imports schedule.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    rollback_report = models.JSONField(default=dict, blank=True)
    # A rollback undoes the import in chunks of contact ids, on several connections, each
    # chunk committed with its counts: how many chunks it planned and the [low, high) id
    # ranges undone so far (a retry after a killed worker or an error undoes the rest).
    rollback_chunks = models.IntegerField(default=0)
    rollback_ranges = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    rolled_back_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import #{self.pk} {self.original_name}"

    @property
    def source(self) -> str:
        return f"import:{self.pk}"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def progress_percent(self) -> int:
        if not self.total_rows:
            return 0
        return min(100, round(100 * self.processed_rows / self.total_rows))

    @property
    def rollback_percent(self) -> int:
        if not self.rollback_chunks:
            return 0
        return min(100, round(100 * len(self.rollback_ranges) / self.rollback_chunks))

    @property
    def rollback_started(self) -> bool:
        """A rollback began (and may have stopped half-way: it can be started again)."""
        return self.rollback_chunks > 0

    @property
    def is_active(self) -> bool:
        return self.status in {
            ImportStatus.ANALYSING, ImportStatus.QUEUED, ImportStatus.RUNNING,
            ImportStatus.ROLLING_BACK,
        }


class ImportRowError(models.Model):
    """A row the import refused or flagged: its line in the file, the column, the value, why."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    line = models.IntegerField()
    column = models.CharField(max_length=255, blank=True)
    value = models.TextField(blank=True)
    reason = models.CharField(max_length=500)

    class Meta:
        ordering = ["line", "id"]
        indexes = [models.Index(fields=["job", "line"], name="importrowerror_job_line")]

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ImportChange(models.Model):
    """What one import did to one contact, so it can be undone: created it, or updated it
    (with the previous values of every field the import could touch), and tags it added."""

    # Written by its own job only, a row per contact an import touches: no database constraint
    # (a check per inserted row) and no index of its own ((job, contact_id) below serves
    # "the changes of a job"); deleting a job still deletes its changes (Django's cascade).
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="changes",
                            db_constraint=False, db_index=False)
    contact_id = models.BigIntegerField()
    action = models.CharField(max_length=10)  # created | updated | tagged
    previous = models.JSONField(null=True, blank=True)
    added_tag_ids = models.JSONField(default=list, blank=True)
    applied_at = models.DateTimeField()

    class Meta:
        # Every reader asks by job (rollback, its plan and conflicts); an index on contact_id
        # alone served no query and cost an index entry per contact an import touches.
        indexes = [
            models.Index(fields=["job", "contact_id"], name="importchange_job_contact"),
        ]

    def __str__(self) -> str:
        return f"{self.action} contact {self.contact_id} (import {self.job_id})"


class MappingPreset(models.Model):
    """A saved column mapping, re-applied to files whose headers match."""

    name = models.CharField(max_length=100, unique=True)
    headers_key = models.CharField(max_length=64, db_index=True)  # sha256 of normalised headers
    headers = models.JSONField(default=list)
    mapping = models.JSONField(default=dict)  # {"<header text>": "<target>"}
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "Excel (XLSX)"
    JSON = "json", "JSON"
    JSONL = "jsonl", "JSON Lines"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Exporting"
    FINISHED = "finished", "Ready"
    FAILED = "failed", "Failed"


class ExportJob(models.Model):
    """An export of contacts to a file in the default storage (see imports.exports)."""

    # What to export: {"kind": "all" | "filter" | "list" | "ids", ...}; see imports.exports.sources.
    source = models.JSONField(default=dict)
    label = models.CharField(max_length=255, blank=True)
    file_format = models.CharField(max_length=10, choices=ExportFormat.choices)
    columns = models.JSONField(default=list)
    status = models.CharField(
        max_length=20, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    total_rows = models.IntegerField(default=0)
    written_rows = models.IntegerField(default=0)
    file = models.CharField(max_length=500, blank=True, help_text="Path in the default storage.")
    size = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Export #{self.pk} {self.label}"

    @property
    def progress_percent(self) -> int:
        if self.status == ExportStatus.FINISHED:
            return 100
        if not self.total_rows:
            return 0
        return min(100, round(100 * self.written_rows / self.total_rows))

    @property
    def is_active(self) -> bool:
        return self.status in {ExportStatus.QUEUED, ExportStatus.RUNNING}
