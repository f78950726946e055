"""/ws/contacts/<id>/activity/: an open profile hears about its contact's new activity, pushed
by the ingestion after its commit or seen by the consumer's poll (other processes), once; only
signed-in users of the host's tenant, for a contact of that tenant."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from contacts.models import Contact
from engagement import consumers
from engagement.models import EmailEvent
from engagement.services import ingest_events
from penguinleads.realtime import TenantWebsocketStack, websocket_urlpatterns
from segments.models import Campaign
from tests.conftest import client_for, host_of, in_schema, make_user

pytestmark = pytest.mark.django_db(transaction=True)

# The project's own routes, so the test also proves the path is wired to the consumer.
application = TenantWebsocketStack(URLRouter(websocket_urlpatterns))
ACTIVITY = "activity"


def _cookie(tenant) -> str:
    user = make_user(tenant, "viewer", email=f"ws-tl-{uuid.uuid4().hex[:12]}@example.com")
    client = client_for(tenant, user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _socket(host: str, contact_id: int, cookie: str = "") -> WebsocketCommunicator:
    headers = [(b"host", host.encode())]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, f"/ws/contacts/{contact_id}/activity/",
                                 headers=headers)


def _contact(tenant, email: str, **fields) -> Contact:
    with in_schema(tenant):
        return Contact.objects.create(email=email, email_normalized=email, source="test",
                                      **fields)


def _event(n: str, email: str) -> dict:
    return {"event_id": f"tl-ws-{n}", "type": "clicked", "email": email,
            "occurred_at": timezone.now().isoformat(), "campaign": "Live", "url": "https://a.b"}


def _ingest(tenant, *events: dict):
    def run():
        with in_schema(tenant):
            return [r.status for r in ingest_events(events=list(events), source="test")]

    return database_sync_to_async(run)()


@pytest.fixture
def cleanup(tenant, other_tenant):
    yield
    for t in (tenant, other_tenant):
        with in_schema(t):
            Contact.objects.filter(email__startswith="tl-ws-").delete()
            Campaign.objects.filter(name="Live").delete()
            get_user_model().objects.filter(email__startswith="ws-tl-").delete()


@pytest.fixture
def slow_poll(monkeypatch):
    """Only pushes within the test's timeouts: the poll waits a minute."""
    monkeypatch.setattr(consumers.ContactActivityConsumer, "poll_seconds", 60)


def test_activity_push_reaches_the_open_profile_once(tenant, cleanup, monkeypatch):
    monkeypatch.setattr(consumers.ContactActivityConsumer, "poll_seconds", 0.2)
    cookie, host = _cookie(tenant), host_of(tenant)
    ada = _contact(tenant, "tl-ws-ada@example.com")
    bob = _contact(tenant, "tl-ws-bob@example.com")

    async def scenario():
        socket = _socket(host, ada.pk, cookie)
        bobs = _socket(host, bob.pk, cookie)
        assert (await socket.connect())[0] is True
        assert (await bobs.connect())[0] is True
        assert await _ingest(tenant, _event("1", ada.email)) == ["accepted"]
        assert await socket.receive_json_from(timeout=5) == {
            "action": ACTIVITY, "contact_id": ada.pk}
        # the poll sees the same change: not sent again; Bob's page hears nothing
        assert await socket.receive_nothing(timeout=1) is True
        assert await bobs.receive_nothing(timeout=0.3) is True
        await socket.disconnect()
        await bobs.disconnect()

    async_to_sync(scenario)()


def test_activity_push_is_instant_without_the_poll(tenant, cleanup, slow_poll):
    cookie, host = _cookie(tenant), host_of(tenant)
    ada = _contact(tenant, "tl-ws-ada@example.com")

    async def scenario():
        socket = _socket(host, ada.pk, cookie)
        assert (await socket.connect())[0] is True
        await _ingest(tenant, _event("2", ada.email))
        assert await socket.receive_json_from(timeout=2) == {
            "action": ACTIVITY, "contact_id": ada.pk}
        await socket.disconnect()

    async_to_sync(scenario)()


def test_activity_push_is_capped_per_batch_and_the_rest_rely_on_the_poll(
        tenant, cleanup, slow_poll, monkeypatch):
    monkeypatch.setattr(consumers, "MAX_PUSHED_CONTACTS", 1)
    cookie, host = _cookie(tenant), host_of(tenant)
    ada = _contact(tenant, "tl-ws-ada@example.com")
    bob = _contact(tenant, "tl-ws-bob@example.com")
    first, second = sorted([ada, bob], key=lambda c: c.pk)

    async def scenario():
        sockets = [_socket(host, c.pk, cookie) for c in (first, second)]
        for socket in sockets:
            assert (await socket.connect())[0] is True
        await _ingest(tenant, _event("3", ada.email), _event("4", bob.email))
        assert await sockets[0].receive_json_from(timeout=2) == {
            "action": ACTIVITY, "contact_id": first.pk}
        assert await sockets[1].receive_nothing(timeout=0.5) is True
        for socket in sockets:
            await socket.disconnect()

    async_to_sync(scenario)()


def test_activity_poll_sees_events_written_by_another_process(tenant, cleanup, monkeypatch):
    # Rows written without a push, as the q2 worker or the ingest_events command would from
    # another process (the in-memory channel layer does not reach this one).
    monkeypatch.setattr(consumers.ContactActivityConsumer, "poll_seconds", 0.2)
    cookie, host = _cookie(tenant), host_of(tenant)
    ada = _contact(tenant, "tl-ws-ada@example.com")

    def write_elsewhere():
        with in_schema(tenant):
            EmailEvent.objects.create(event_id="tl-ws-5", contact_id=ada.pk, type="opened",
                                      occurred_at=timezone.now() + dt.timedelta(seconds=1))

    async def scenario():
        socket = _socket(host, ada.pk, cookie)
        assert (await socket.connect())[0] is True
        assert await socket.receive_nothing(timeout=0.5) is True  # nothing new, nothing said
        await database_sync_to_async(write_elsewhere)()
        assert await socket.receive_json_from(timeout=3) == {
            "action": ACTIVITY, "contact_id": ada.pk}
        await socket.disconnect()

    async_to_sync(scenario)()


def test_activity_socket_closes_when_the_contact_is_deleted(tenant, cleanup, monkeypatch):
    monkeypatch.setattr(consumers.ContactActivityConsumer, "poll_seconds", 0.2)
    cookie, host = _cookie(tenant), host_of(tenant)
    ada = _contact(tenant, "tl-ws-ada@example.com")

    def delete():
        with in_schema(tenant):
            Contact.objects.filter(pk=ada.pk).delete()

    async def scenario():
        socket = _socket(host, ada.pk, cookie)
        assert (await socket.connect())[0] is True
        await database_sync_to_async(delete)()
        assert await socket.receive_output(timeout=3) == {"type": "websocket.close",
                                                          "code": 4404}

    async_to_sync(scenario)()


def test_activity_socket_refuses_other_tenants_and_anonymous(tenant, other_tenant, cleanup):
    cookie, host, their_host = _cookie(tenant), host_of(tenant), host_of(other_tenant)
    ours = _contact(tenant, "tl-ws-ours@example.com")
    theirs = _contact(other_tenant, "tl-ws-theirs@example.com", pk=987_321)

    async def scenario():
        # their contact's id on our host: no such contact here
        assert await _socket(host, theirs.pk, cookie).connect() == (False, 4404)
        assert await _socket(host, 99999999999999999999, cookie).connect() == (False, 4404)
        # our cookie on their host, for their contact or an id we own: not signed in there
        assert await _socket(their_host, theirs.pk, cookie).connect() == (False, 4403)
        assert await _socket(their_host, ours.pk, cookie).connect() == (False, 4403)
        assert await _socket(host, ours.pk).connect() == (False, 4403)  # anonymous
        assert await _socket("nowhere.localhost", ours.pk, cookie).connect() == (False, 4403)

    async_to_sync(scenario)()


def test_activity_push_stays_in_its_tenant_for_the_same_contact_id(
        tenant, other_tenant, cleanup, slow_poll):
    ours = _contact(tenant, "tl-ws-ours@example.com", pk=987_400)
    theirs = _contact(other_tenant, "tl-ws-theirs@example.com", pk=987_400)  # same id
    our_cookie, their_cookie = _cookie(tenant), _cookie(other_tenant)
    host, their_host = host_of(tenant), host_of(other_tenant)

    async def scenario():
        mine = _socket(host, ours.pk, our_cookie)
        other = _socket(their_host, theirs.pk, their_cookie)
        assert (await mine.connect())[0] is True
        assert (await other.connect())[0] is True
        await _ingest(tenant, _event("6", ours.email))
        assert await mine.receive_json_from(timeout=2) == {
            "action": ACTIVITY, "contact_id": ours.pk}
        assert await other.receive_nothing(timeout=0.5) is True
        await mine.disconnect()
        await other.disconnect()

    async_to_sync(scenario)()
