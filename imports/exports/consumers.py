"""Live progress of one export over WebSocket (/ws/exports/<export_id>/)."""

from __future__ import annotations

from imports.exports.services import export_progress
from imports.models import ExportJob
from penguinleads.realtime import ProgressConsumer


class ExportProgressConsumer(ProgressConsumer):
    topic_prefix = "exports"
    url_kwarg = "export_id"

    def read_progress(self, object_id: int) -> dict | None:
        job = ExportJob.objects.filter(pk=object_id).first()
        return None if job is None else export_progress(job)
