"""Live scores in open contact tables: ingesting events pushes {"action": "scores"} with the new
[score, band] of the changed contacts to the tenant's /ws/contacts/ sockets (in chunks), never
to another tenant's; the nightly re-aging of every score pushes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.utils import timezone

from contacts.models import Contact
from engagement import scoring
from engagement.models import ScoreSettings
from engagement.services import ingest_events
from engagement.tasks import reage_scores
from segments.models import Campaign
from tests.conftest import host_of, in_schema, make_user
from tests.test_realtime import _session_cookie, _socket

pytestmark = pytest.mark.django_db(transaction=True)

EMAILS = ["live-a@example.com", "live-b@example.com", "live-c@example.com"]


def events(kinds: dict[str, str]) -> list[dict]:
    when = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    return [{"event_id": f"live-{email}-{kind}", "type": kind, "email": email,
             "occurred_at": when, "campaign": "Live campaign"} for email, kind in kinds.items()]


async def next_scores(socket) -> dict:
    """The next "scores" event on `socket` (other notices are skipped)."""
    while True:
        event = await socket.receive_json_from(timeout=5)
        if event.get("action") == "scores":
            return event


def test_ingest_pushes_new_scores_to_own_tenant_tables_only(tenant, other_tenant, monkeypatch):
    monkeypatch.setattr(scoring, "LIVE_CHUNK", 2)
    alpha_cookie = _session_cookie(tenant, make_user(tenant, "viewer", email="ls-a@example.com"))
    beta_cookie = _session_cookie(other_tenant,
                                  make_user(other_tenant, "owner", email="ls-b@example.com"))
    hosts = {"alpha": host_of(tenant), "beta": host_of(other_tenant)}
    with in_schema(tenant):
        ids = [Contact.objects.create(email=e, email_normalized=e).pk for e in EMAILS]
    with in_schema(other_tenant):
        Contact.objects.create(email=EMAILS[0], email_normalized=EMAILS[0])

    def ingest(kinds):
        with in_schema(tenant):
            ingest_events(events=events(kinds), source="test")

    def reage():
        with in_schema(tenant):
            ScoreSettings.objects.create(recent_factor=1)  # every score halves
        assert reage_scores(tenant.schema_name) == 3

    async def scenario():
        alpha = _socket(hosts["alpha"], alpha_cookie)
        beta = _socket(hosts["beta"], beta_cookie)
        assert (await alpha.connect())[0] is True
        assert (await beta.connect())[0] is True
        await database_sync_to_async(ingest)({EMAILS[0]: "replied", EMAILS[1]: "clicked",
                                              EMAILS[2]: "opened"})
        # recent (×2): reply 20 (warm), click 6, open 2; two contacts per message here
        assert await next_scores(alpha) == {"action": "scores", "scores": {
            str(ids[0]): [20, "warm"], str(ids[1]): [6, "cold"]}}
        assert await next_scores(alpha) == {"action": "scores", "scores": {
            str(ids[2]): [2, "cold"]}}
        assert await beta.receive_nothing(timeout=0.5) is True
        await database_sync_to_async(ingest)({EMAILS[2]: "sent"})  # no score changes
        assert await alpha.receive_nothing(timeout=0.5) is True
        await database_sync_to_async(reage)()
        assert await alpha.receive_nothing(timeout=0.5) is True
        await alpha.disconnect()
        await beta.disconnect()

    try:
        async_to_sync(scenario)()
    finally:
        for t in (tenant, other_tenant):
            with in_schema(t):
                Contact.objects.filter(email_normalized__in=EMAILS).delete()
                Campaign.objects.filter(name="Live campaign").delete()
                ScoreSettings.objects.all().delete()
