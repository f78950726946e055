"""Live activity of one contact (/ws/contacts/<contact_id>/activity/) for an open profile.

Messages are `{"action": "activity", "contact_id": N}`: "something new; fetch the rows newer
than what you show" (static/js/timeline.js asks the timeline view with `after=`). A message is
sent when the newest row of any timeline source changed (engagement.timeline.activity_head),
checked at two moments: on a push by engagement.services.ingest_events after its commit
(instant when the channel layer is shared: Redis, or the same process), and once a second by
a poll, since the in-memory layer does not cross processes (the q2 worker and the
`ingest_events` command write elsewhere). A change seen by both is announced once."""

from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction
from django_tenants.utils import schema_context

from engagement.timeline import activity_head
from penguinleads.realtime import NOT_FOUND, TenantTopicConsumer, group_name, send_from_sync

MAX_PUSHED_CONTACTS = 200  # per ingested batch; the others' pages learn it from their poll


def activity_topic(contact_id: int) -> str:
    return f"contacts.{contact_id}.activity"


def push_contact_activity(*, schema_name: str, contact_ids: list[int]) -> None:
    """After the current transaction commits, tell the open profiles of `contact_ids` (the
    first MAX_PUSHED_CONTACTS) that they have new activity. All group sends go out in one
    event-loop round trip, not one per contact."""
    layer = get_channel_layer()
    if layer is None or not contact_ids:
        return
    sends = [
        (group_name(schema_name, activity_topic(pk)),
         {"type": "tenant.event", "event": {"action": "activity", "contact_id": pk}})
        for pk in contact_ids[:MAX_PUSHED_CONTACTS]
    ]

    async def send_all() -> None:
        await asyncio.gather(*(layer.group_send(name, message) for name, message in sends))

    transaction.on_commit(lambda: send_from_sync(send_all))


class ContactActivityConsumer(TenantTopicConsumer):
    """Signed-in users of the host's tenant only (4403), and a contact of that tenant (4404)."""

    poll_seconds = 1.0

    def get_topic(self) -> str:
        return activity_topic(self.contact_id)

    def _head_in_schema(self, schema_name: str) -> tuple | None:
        with schema_context(schema_name):
            return activity_head(contact_id=self.contact_id)

    async def _read_head(self) -> tuple | None:
        read = database_sync_to_async(self._head_in_schema)
        return await read(self.scope["schema_name"])

    async def connect(self):
        self.contact_id = int(self.scope["url_route"]["kwargs"]["contact_id"])
        self.watcher = None
        self.checking = asyncio.Lock()
        user = self.scope.get("user")
        if not self.scope.get("schema_name") or not user or not user.is_authenticated:
            await self.close(code=4403)
            return
        self.head = await self._read_head()
        if self.head is None:  # no such contact here (another tenant's id, or deleted)
            await self.close(code=NOT_FOUND)
            return
        await super().connect()
        self.watcher = asyncio.ensure_future(self._watch())

    async def _check(self) -> bool:
        """Send one message when the newest entries changed since the last one sent; False
        when the contact is gone. The push and the poll both come here, one at a time, so a
        change seen by both is announced once."""
        async with self.checking:
            head = await self._read_head()
            if head is None:
                return False
            if head != self.head:
                self.head = head
                await self.send_json({"action": "activity", "contact_id": self.contact_id})
            return True

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            if not await self._check():
                await self.close(code=NOT_FOUND)
                return

    async def tenant_event(self, message):
        await self._check()  # pushed after the commit: the new rows are there to see
