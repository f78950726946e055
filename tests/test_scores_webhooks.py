"""score.band_changed outbound webhooks: recorded by the recompute statement itself (set-based,
one delivery per band change and listening endpoint), delivered to a real HTTP server; nothing
for score changes within a band or when nobody listens; never to another tenant."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from engagement.models import ScoreSettings
from engagement.scoring import clear_score_override, set_score_override
from engagement.services import ingest_events
from engagement.tasks import reage_scores
from tests.conftest import in_schema
from tests.factories import ContactFactory
from tests.test_webhooks_delivery import receiver  # noqa: F401  (fixture)
from webhooks import services
from webhooks.models import Delivery

NOW = timezone.now()


def event(n, kind="replied", email="ada@example.com", days_ago=1):
    return {"event_id": f"ev-{n}", "type": kind, "email": email, "campaign": "Spring",
            "occurred_at": (NOW - dt.timedelta(days=days_ago)).isoformat()}


def band_events() -> list[dict]:
    return list(Delivery.objects.filter(kind="score.band_changed").order_by("id")
                .values_list("payload", flat=True))


@pytest.fixture
def hook(tenant, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    return services.create_endpoint(url="http://127.0.0.1:9/hooks",
                                    kinds=["score.band_changed"])


def test_band_change_is_delivered_to_a_real_endpoint(tenant, receiver):  # noqa: F811
    endpoint = services.create_endpoint(url=receiver.url, kinds=["score.band_changed"])
    ada = ContactFactory(email="Ada@Example.com", email_normalized="ada@example.com")

    ingest_events(events=[event(1)], source="test")  # a recent reply: 20 → warm

    [delivery] = Delivery.objects.all()
    assert (delivery.endpoint_id, delivery.kind, delivery.status) == (
        endpoint.pk, "score.band_changed", "pending")
    assert delivery.payload == {"contact": {"id": ada.pk, "email": "Ada@Example.com"},
                                "from": "cold", "to": "warm", "score": 20}
    assert services.send_due_deliveries() == 1
    [request] = receiver.requests
    assert request["headers"]["X-Penguin-Event"] == "score.band_changed"
    body = json.loads(request["body"])
    assert (body["kind"], body["workspace"], body["data"]) == (
        "score.band_changed", tenant.schema_name, delivery.payload)
    assert Delivery.objects.get().status == "succeeded"


def test_score_changes_within_a_band_send_nothing(hook):
    ContactFactory(email="ada@example.com")

    ingest_events(events=[event(1, "opened"), event(2, "clicked")], source="test")  # 8: cold
    ingest_events(events=[event(3, "clicked", days_ago=60)], source="test")  # 11: cold

    assert band_events() == []


def test_overrides_and_their_removal_send_band_changes(hook, owner):
    ada = ContactFactory(email="ada@example.com")
    ingest_events(events=[event(1, "clicked")], source="test")  # 6: cold

    set_score_override(contact=ada, score=55, reason="Fair", actor=owner)
    set_score_override(contact=ada, score=70, reason="Fair again", actor=owner)  # hot → hot
    clear_score_override(contact=ada, actor=owner)

    assert band_events() == [
        {"contact": {"id": ada.pk, "email": "ada@example.com"}, "from": "cold", "to": "hot",
         "score": 55},
        {"contact": {"id": ada.pk, "email": "ada@example.com"}, "from": "hot", "to": "cold",
         "score": 6},
    ]


@pytest.mark.parametrize("count", [2, 6])
def test_nightly_reaging_records_every_band_change_in_one_statement(tenant, hook, count):
    second = services.create_endpoint(url="http://127.0.0.1:9/second",
                                      kinds=["score.band_changed", "contact.created"])
    services.create_endpoint(url="http://127.0.0.1:9/other", kinds=["contact.created"])
    people = [ContactFactory(email=f"p{i}@example.com") for i in range(count)]
    # a reply 29 days ago counts double: 20, warm
    ingest_events(events=[event(i, email=p.email, days_ago=29) for i, p in enumerate(people)],
                  source="test")
    assert len(band_events()) == 2 * count
    Delivery.objects.all().delete()
    ScoreSettings.objects.create(recent_days=10)  # as if twenty days had passed: 10, cold

    with CaptureQueriesContext(connection) as queries:
        assert reage_scores(tenant.schema_name) == count

    statements = [q["sql"] for q in queries
                  if not q["sql"].startswith(("SET search_path", "SAVEPOINT", "RELEASE"))]
    assert len(statements) == 3  # the rules, the listening endpoints, the recompute
    got = sorted((d.endpoint_id, d.payload["contact"]["email"], d.payload["from"],
                  d.payload["to"], d.payload["score"]) for d in Delivery.objects.all())
    assert got == sorted((endpoint, p.email, "warm", "cold", 10)
                         for p in people for endpoint in (hook.pk, second.pk))


def test_nobody_listening_records_nothing(tenant, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    services.create_endpoint(url="http://127.0.0.1:9/a", kinds=["contact.updated"])
    off = services.create_endpoint(url="http://127.0.0.1:9/b", kinds=["score.band_changed"])
    services.set_endpoint_active(endpoint=off, active=False)
    ContactFactory(email="ada@example.com")

    ingest_events(events=[event(1)], source="test")

    assert Delivery.objects.count() == 0


def test_band_changes_never_reach_another_tenants_endpoint(
        tenant, other_tenant, receiver):  # noqa: F811
    with in_schema(other_tenant):
        theirs = services.create_endpoint(url=receiver.url, kinds=["score.band_changed"])
        ContactFactory(email="ada@example.com")
    ContactFactory(email="ada@example.com")
    mine = services.create_endpoint(url=receiver.url, kinds=["score.band_changed"])

    ingest_events(events=[event(1)], source="test")

    assert list(Delivery.objects.values_list("endpoint_id", flat=True)) == [mine.pk]
    assert services.send_due_deliveries() == 1
    with in_schema(other_tenant):
        assert not Delivery.objects.filter(endpoint_id=theirs.pk).exists()
        assert services.send_due_deliveries() == 0
    [request] = receiver.requests
    assert json.loads(request["body"])["workspace"] == tenant.schema_name
