"""WebSocket plumbing: tenant from the Host header, the user from that tenant's session, and
group names that always carry the schema so no push can cross tenants."""

from __future__ import annotations

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


def group_name(schema_name: str, topic: str) -> str:
    if not schema_name or schema_name == "public":
        raise ValueError("A WebSocket group needs a tenant schema.")
    return f"t.{schema_name}.{topic}"


def push(*, schema_name: str, topic: str, event: dict) -> None:
    """Send `event` to every socket of `topic` in one tenant, after the current transaction
    commits (so nobody is told about a change that rolled back)."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "tenant.event", "event": event}
    name = group_name(schema_name, topic)
    transaction.on_commit(lambda: async_to_sync(layer.group_send)(name, message))


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
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def tenant_event(self, message):
        await self.send_json(message["event"])


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
]
