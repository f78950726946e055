"""WebSocket pushes: only signed-in users of the host's tenant subscribe, and a change in one
tenant reaches that tenant's sockets only."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connection

from contacts.services import create_contact
from penguinleads.asgi import application
from tests.conftest import client_for, host_of, in_schema, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def _session_cookie(tenant, user) -> str:
    client = client_for(tenant, user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _socket(host: str, cookie: str = "") -> WebsocketCommunicator:
    headers = [(b"host", host.encode())]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, "/ws/contacts/", headers=headers)


def test_realtime_contact_event_reaches_own_tenant_only(tenant, other_tenant):
    alpha_user = make_user(tenant, "viewer", email="ws-alpha@example.com")
    beta_user = make_user(other_tenant, "owner", email="ws-beta@example.com")
    alpha_cookie = _session_cookie(tenant, alpha_user)
    beta_cookie = _session_cookie(other_tenant, beta_user)

    def create_in_alpha():
        with in_schema(tenant):
            return create_contact(data={"email": "live@example.com"}, source="test").pk

    async def scenario():
        alpha = _socket(host_of_sync(tenant), alpha_cookie)
        beta = _socket(host_of_sync(other_tenant), beta_cookie)
        assert (await alpha.connect())[0] is True
        assert (await beta.connect())[0] is True
        contact_id = await database_sync_to_async(create_in_alpha)()
        event = await alpha.receive_json_from(timeout=5)
        assert event == {"action": "created", "ids": [contact_id]}
        assert await beta.receive_nothing(timeout=0.5) is True
        await alpha.disconnect()
        await beta.disconnect()

    hosts = {t.pk: host_of(t) for t in (tenant, other_tenant)}

    def host_of_sync(t):
        return hosts[t.pk]

    try:
        async_to_sync(scenario)()
    finally:
        with in_schema(tenant):
            from contacts.models import Contact

            Contact.objects.filter(email_normalized="live@example.com").delete()


def test_realtime_refuses_anonymous_and_cross_tenant_cookie(tenant, other_tenant):
    alpha_user = make_user(tenant, "owner", email="ws-owner@example.com")
    alpha_cookie = _session_cookie(tenant, alpha_user)
    alpha_host, beta_host = host_of(tenant), host_of(other_tenant)

    async def scenario():
        anonymous = _socket(alpha_host)
        connected, code = await anonymous.connect()
        assert (connected, code) == (False, 4403)
        stolen = _socket(beta_host, alpha_cookie)
        connected, code = await stolen.connect()
        assert (connected, code) == (False, 4403)
        unknown = _socket("nowhere.localhost", alpha_cookie)
        connected, code = await unknown.connect()
        assert (connected, code) == (False, 4403)

    async_to_sync(scenario)()
    assert connection.schema_name in {tenant.schema_name, "public"}
