"""Live progress of one bulk operation over WebSocket (/ws/bulk/<op_id>/)."""

from __future__ import annotations

from contacts.bulk.services import bulk_progress
from contacts.models import BulkOperation
from penguinleads.realtime import ProgressConsumer


class BulkProgressConsumer(ProgressConsumer):
    topic_prefix = "bulk"
    url_kwarg = "op_id"

    def read_progress(self, object_id: int) -> dict | None:
        op = BulkOperation.objects.filter(pk=object_id).first()
        return None if op is None else bulk_progress(op)
