"""Live progress of one import over WebSocket.

The default channel layer is in memory, so a worker process cannot push to the web process.
The consumer therefore watches the job row itself (a cheap primary-key read every half second)
and sends import_progress(job) whenever it changed; pushes from the service to the group still
arrive when a shared layer (Redis) is configured."""

from __future__ import annotations

import asyncio
import contextlib

from channels.db import database_sync_to_async
from django_tenants.utils import schema_context

from imports.models import ImportJob
from imports.services import import_progress
from penguinleads.realtime import TenantTopicConsumer

NOT_FOUND = 4404
DONE = 1000  # normal closure: the job ended, there is nothing more to say


def _read_progress(schema_name: str, job_id: int) -> dict | None:
    with schema_context(schema_name):
        job = ImportJob.objects.filter(pk=job_id).first()
        return None if job is None else import_progress(job)


read_progress = database_sync_to_async(_read_progress)


class ImportProgressConsumer(TenantTopicConsumer):
    """/ws/imports/<job_id>/: the job's progress until it is no longer active, then close."""

    poll_seconds = 0.5

    def get_topic(self) -> str:
        return f"imports.{self.job_id}"

    async def connect(self):
        self.job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        self.watcher = None
        schema_name = self.scope.get("schema_name")
        user = self.scope.get("user")
        if not schema_name or not user or not user.is_authenticated:
            await self.close(code=4403)
            return
        progress = await read_progress(schema_name, self.job_id)
        if progress is None:  # another tenant's job (or none): nothing to say
            await self.close(code=NOT_FOUND)
            return
        await super().connect()
        await self.send_json(progress)
        if progress["is_active"]:
            self.watcher = asyncio.ensure_future(self._watch(progress))
        else:
            await self.close(code=DONE)

    async def _watch(self, last: dict) -> None:
        schema_name = self.scope["schema_name"]
        while True:
            await asyncio.sleep(self.poll_seconds)
            progress = await read_progress(schema_name, self.job_id)
            if progress is None:  # deleted while watched
                await self.close(code=NOT_FOUND)
                return
            if progress != last:
                await self.send_json(progress)
                last = progress
            if not progress["is_active"]:
                await self.close(code=DONE)
                return

    async def disconnect(self, code):
        watcher = getattr(self, "watcher", None)
        if watcher is not None and watcher is not asyncio.current_task():
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await super().disconnect(code)
