"""Payloads of events whose shape belongs to webhooks rather than to the emitting app (the
contact events are built by contacts.services from its own snapshot)."""

from __future__ import annotations

from typing import Any

IMPORT_FIELDS = ("id", "original_name", "status", "total_rows", "created", "updated",
                 "unchanged", "skipped", "invalid", "duplicates_in_file", "target_list_id",
                 "started_at", "finished_at")


def import_finished(job) -> dict[str, Any]:
    """import.finished: the job's final counts, read again (chunks add to them in SQL)."""
    values = type(job).objects.filter(pk=job.pk).values(*IMPORT_FIELDS).get()
    values["file"] = values.pop("original_name")
    values["list_id"] = values.pop("target_list_id")
    return {"import": values}
