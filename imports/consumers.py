"""Live progress of one import over WebSocket (/ws/imports/<job_id>/)."""

from __future__ import annotations

from imports.models import ImportJob
from imports.services import import_progress
from penguinleads.realtime import ProgressConsumer


class ImportProgressConsumer(ProgressConsumer):
    topic_prefix = "imports"
    url_kwarg = "job_id"

    def read_progress(self, object_id: int) -> dict | None:
        job = ImportJob.objects.filter(pk=object_id).first()
        return None if job is None else import_progress(job)
