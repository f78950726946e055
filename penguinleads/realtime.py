"""WebSocket plumbing: tenant from the Host header, the user from that tenant's session, and
group names that always carry the schema so no push can cross tenants."""

from __future__ import annotations

import asyncio
import contextlib
from http.cookies import SimpleCookie
from importlib import import_module

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.urls import path
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_string
from django_tenants.utils import get_tenant_domain_model, schema_context

NOT_FOUND = 4404  # WebSocket close codes of ProgressConsumer
DONE = 1000  # normal closure: the job ended, there is nothing more to say


def group_name(schema_name: str, topic: str) -> str:
    if not schema_name or schema_name == "public":
        raise ValueError("A WebSocket group needs a tenant schema.")
    return f"t.{schema_name}.{topic}"


def push(*, schema_name: str, topic: str, event: dict) -> None:
    """Send `event` to every socket of `topic` in one tenant, after the current transaction
    commits (so nobody is told about a change that rolled back)."""
    push_many(schema_name=schema_name, topic=topic, events=[event])


def push_many(*, schema_name: str, topic: str, events: list[dict]) -> None:
    """push() of several events, sent in order with one hop into the event loop."""
    layer = get_channel_layer()
    if layer is None or not events:
        return
    name = group_name(schema_name, topic)
    messages = [{"type": "tenant.event", "event": event} for event in events]

    async def send_all() -> None:
        for message in messages:
            await layer.group_send(name, message)

    transaction.on_commit(lambda: send_from_sync(send_all))


def send_from_sync(make_coroutine) -> None:
    """Run `make_coroutine()` (channel-layer sends) from synchronous code. Usually there is no
    event loop in this thread and it runs to completion here; when sync code runs inside a
    thread that has a running loop (a sync library driving its own loop, as Playwright does in
    the browser tests), the sends are scheduled on that loop instead of failing."""
    async def run() -> None:
        await make_coroutine()

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(run)()
        return
    loop.create_task(run())


@database_sync_to_async
def _resolve(host: str, cookie_header: str):
    hostname = host.split(":")[0].lower()
    domain = (
        get_tenant_domain_model().objects.select_related("tenant").filter(domain=hostname).first()
    )
    if domain is None or domain.tenant.schema_name == "public" or domain.tenant.is_suspended:
        return None, AnonymousUser()
    tenant = domain.tenant
    cookies = SimpleCookie()
    cookies.load(cookie_header or "")
    morsel = cookies.get(settings.SESSION_COOKIE_NAME)
    if morsel is None:
        return tenant, AnonymousUser()
    engine = import_module(settings.SESSION_ENGINE)
    with schema_context(tenant.schema_name):
        session = engine.SessionStore(morsel.value)
        return tenant, _user_from_session(session)


def _user_from_session(session):
    from django.contrib.auth import get_user_model

    user_id = session.get(SESSION_KEY)
    if user_id is None or session.get(BACKEND_SESSION_KEY) is None:
        return AnonymousUser()
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return AnonymousUser()
    if not constant_time_compare(session.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()):
        return AnonymousUser()
    return user


class TenantWebsocketStack:
    """ASGI middleware: puts `tenant`, `schema_name` and `user` in the WebSocket scope."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        headers = {k.decode("latin1"): v.decode("latin1") for k, v in scope.get("headers", [])}
        tenant, user = await _resolve(headers.get("host", ""), headers.get("cookie", ""))
        scope = dict(scope, tenant=tenant, user=user)
        scope["schema_name"] = tenant.schema_name if tenant else None
        return await self.inner(scope, receive, send)


class TenantTopicConsumer(AsyncJsonWebsocketConsumer):
    """Base consumer: only signed-in users of the host's tenant may subscribe; the group is
    always namespaced by that tenant's schema."""

    topic = ""

    def get_topic(self) -> str:
        return self.topic

    async def connect(self):
        user = self.scope.get("user")
        if self.scope.get("tenant") is None or not user or not user.is_authenticated:
            await self.close(code=4403)
            return
        self.group = group_name(self.scope["schema_name"], self.get_topic())
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        # A subclass that polls keeps its task in self.watcher: it ends with the socket.
        watcher = getattr(self, "watcher", None)
        if watcher is not None and watcher is not asyncio.current_task():
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def tenant_event(self, message):
        await self.send_json(message["event"])


class ProgressConsumer(TenantTopicConsumer):
    """/ws/<kind>/<id>/: one background job's progress until it is no longer active, then close.

    The default channel layer is in memory, so a worker process cannot push to the web process:
    the consumer therefore also watches the job's row (a primary-key read every half second) and
    sends its progress whenever it changed; pushes to the group still arrive when a shared layer
    (Redis) is configured. Subclasses name the topic, the URL's id and how to read progress."""

    poll_seconds = 0.5
    topic_prefix = ""
    url_kwarg = "pk"

    def read_progress(self, object_id: int) -> dict | None:
        """The job's progress as JSON-able values (with "is_active"), None when there is no such
        job in the current schema. Runs in a thread, inside the tenant's schema."""
        raise NotImplementedError

    def _read_in_schema(self, schema_name: str, object_id: int) -> dict | None:
        with schema_context(schema_name):
            return self.read_progress(object_id)

    async def _read(self) -> dict | None:
        read = database_sync_to_async(self._read_in_schema)
        return await read(self.scope["schema_name"], self.object_id)

    def get_topic(self) -> str:
        return f"{self.topic_prefix}.{self.object_id}"

    async def connect(self):
        self.object_id = int(self.scope["url_route"]["kwargs"][self.url_kwarg])
        self.watcher = None
        user = self.scope.get("user")
        if not self.scope.get("schema_name") or not user or not user.is_authenticated:
            await self.close(code=4403)
            return
        progress = await self._read()
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
        while True:
            await asyncio.sleep(self.poll_seconds)
            progress = await self._read()
            if progress is None:  # deleted while watched
                await self.close(code=NOT_FOUND)
                return
            if progress != last:
                await self.send_json(progress)
                last = progress
            if not progress["is_active"]:
                await self.close(code=DONE)
                return


class ContactsConsumer(TenantTopicConsumer):
    """Live changes to the contact table (created / updated / deleted)."""

    topic = "contacts"


def _lazy_consumer(dotted: str):
    """A consumer imported on its first connection: apps' consumers import this module."""
    app = None

    async def asgi(scope, receive, send):
        nonlocal app
        if app is None:
            app = import_string(dotted).as_asgi()
        return await app(scope, receive, send)

    return asgi


websocket_urlpatterns = [
    path("ws/contacts/", ContactsConsumer.as_asgi()),
    path("ws/imports/<int:job_id>/", _lazy_consumer("imports.consumers.ImportProgressConsumer")),
    path("ws/bulk/<int:op_id>/", _lazy_consumer("contacts.bulk.consumers.BulkProgressConsumer")),
    path("ws/exports/<int:export_id>/",
         _lazy_consumer("imports.exports.consumers.ExportProgressConsumer")),
    path("ws/contacts/<int:contact_id>/activity/",
         _lazy_consumer("engagement.consumers.ContactActivityConsumer")),
]
