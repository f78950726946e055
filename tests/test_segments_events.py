"""Segments on scores and events stay current: ingested events and score overrides update them
incrementally (contacts.changes hook), the nightly re-aging and a change of the scoring
settings refresh the segments that name score / score_band / event (and their dependents),
and the out-of-the-box Hot / Warm / Cold segments (segments migration 0003)."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.utils import timezone

from engagement import tasks as engagement_tasks
from engagement.models import ContactScore, EmailEvent
from engagement.scoring import clear_score_override, set_score_override
from engagement.services import ingest_events
from segments.dynamic import refresh, services
from segments.models import Segment, SegmentRefresh
from tests.conftest import in_schema
from tests.factories import ContactFactory
from tests.test_segments_refresh import members, run_queued

NOW = timezone.now()
OPENED_14 = {"op": "and", "rules": [{"field": "event", "operator": "has_any",
                                     "value": {"type": "opened", "in_last_days": 14}}]}
HOT = {"op": "and", "rules": [{"field": "score_band", "operator": "equals", "value": "hot"}]}
ACME = {"op": "and", "rules": [{"field": "company", "operator": "equals", "value": "Acme"}]}


def event(n, kind="opened", email="ada@example.com", when=None):
    return {"event_id": f"ev-{n}", "type": kind, "email": email, "campaign": "Spring",
            "occurred_at": (when or NOW - dt.timedelta(days=1)).isoformat()}


def live_segment(name: str, rules: dict) -> Segment:
    segment = services.create_segment(name=name, rules=rules)
    refresh.refresh_segment(segment=segment)
    return segment


@pytest.fixture
def people(tenant):
    return [ContactFactory(email=f"{n}@example.com", company="Acme") for n in ("ada", "bob")]


def test_ingested_events_update_event_segments_within_the_hook(
        people, django_capture_on_commit_callbacks):
    opened = live_segment("Opened lately", OPENED_14)
    assert members(opened) == []
    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(events=[event(1), event(2, "sent", "bob@example.com")], source="test")
    assert "segments.dynamic.tasks.refresh_contacts_task" in run_queued(
        django_capture_on_commit_callbacks)
    assert members(opened) == ["ada@example.com"]
    assert SegmentRefresh.objects.filter(segment=opened, kind="incremental").get().entered == 1


def test_score_overrides_move_contacts_between_band_segments(
        people, owner, django_capture_on_commit_callbacks):
    hot = live_segment("Hot", HOT)
    ada = people[0]
    with django_capture_on_commit_callbacks(execute=True):
        set_score_override(contact=ada, score=90, reason="Met at a fair", actor=owner)
    run_queued(django_capture_on_commit_callbacks)
    assert members(hot) == ["ada@example.com"]
    with django_capture_on_commit_callbacks(execute=True):
        clear_score_override(contact=ada, actor=owner)
    run_queued(django_capture_on_commit_callbacks)
    assert members(hot) == []


def test_an_expired_override_leaves_the_hot_segment(people, django_capture_on_commit_callbacks):
    hot = live_segment("Hot", HOT)
    set_score_override(contact=people[0], score=90, reason="VIP",
                       until=timezone.now() + dt.timedelta(days=1))
    refresh.refresh_segment(segment=hot)
    assert members(hot) == ["ada@example.com"]
    ContactScore.objects.update(override_until=timezone.now() - dt.timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert engagement_tasks.expire_overrides(connection.schema_name) == 1
    run_queued(django_capture_on_commit_callbacks)
    assert members(hot) == []


def test_nightly_reaging_refreshes_the_engagement_segments_and_their_dependents(
        people, django_capture_on_commit_callbacks):
    ingest_events(events=[event(1, when=NOW - dt.timedelta(days=10))], source="test")
    opened = live_segment("Opened lately", OPENED_14)
    acme = live_segment("Acme", ACME)
    inside = live_segment("Acme who opened", {"op": "and", "rules": [
        {"field": "segment", "operator": "in", "value": [opened.pk]}, *ACME["rules"]]})
    assert members(opened) == members(inside) == ["ada@example.com"]
    # Days pass: the open is now 20 days old, and no contact changed.
    EmailEvent.objects.update(occurred_at=NOW - dt.timedelta(days=20))
    before = {s.pk: SegmentRefresh.objects.filter(segment=s).count()
              for s in (opened, acme, inside)}
    with django_capture_on_commit_callbacks(execute=True):
        engagement_tasks.reage_scores(connection.schema_name)
    assert run_queued(django_capture_on_commit_callbacks) == [
        "engagement.tasks.refresh_engagement_segments_task"]
    assert members(opened) == members(inside) == []
    assert members(acme) == ["ada@example.com", "bob@example.com"]
    after = {s.pk: SegmentRefresh.objects.filter(segment=s).count()
             for s in (opened, acme, inside)}
    assert after == {opened.pk: before[opened.pk] + 1, acme.pk: before[acme.pk],
                     inside.pk: before[inside.pk] + 1}


def test_refreshing_engagement_segments_leaves_other_tenants_alone(people, other_tenant):
    mine = live_segment("Hot", HOT)
    ContactScore.objects.create(contact=people[0], score=80, computed_score=80, band="hot")
    with in_schema(other_tenant):
        theirs = live_segment("Hot", HOT)
        theirs_before = SegmentRefresh.objects.filter(segment=theirs).count()
        assert engagement_tasks.refresh_engagement_segments_task(other_tenant.schema_name) == 1
        assert members(theirs) == []
        assert SegmentRefresh.objects.filter(segment=theirs).count() == theirs_before + 1
    assert members(mine) == []  # not refreshed by the other tenant's job
    assert engagement_tasks.refresh_engagement_segments_task(connection.schema_name) == 1
    assert members(mine) == ["ada@example.com"]


def test_engagement_jobs_refuse_the_public_schema(tenant):
    for call in (engagement_tasks.refresh_engagement_segments_task,
                 engagement_tasks.recompute_scores_task, engagement_tasks.reage_scores,
                 engagement_tasks.expire_overrides):
        with pytest.raises(ValueError, match="needs the schema of a tenant"):
            call("public")


# --- the out-of-the-box segments ----------------------------------------------------------------


def run_default_segments_migration() -> None:
    migration = importlib.import_module("segments.migrations.0003_default_segments")
    migration.create_default_segments(django_apps, connection.schema_editor())


def test_default_segments_are_made_once_and_refresh_like_any_segment(people):
    ada, bob = people
    ContactScore.objects.create(contact=ada, score=70, computed_score=70, band="hot")
    ContactScore.objects.create(contact=bob, score=25, computed_score=25, band="warm")
    ContactFactory(email="cy@example.com")  # no score: cold
    run_default_segments_migration()
    run_default_segments_migration()  # idempotent: names already there
    segments = {s.name: s for s in Segment.objects.all()}
    assert sorted(segments) == ["Cold leads", "Hot leads", "Warm leads"]
    assert segments["Hot leads"].rules == HOT
    assert segments["Hot leads"].last_refreshed_at is None  # has contacts: schedule fills it
    refresh.refresh_all_segments()
    assert members(segments["Hot leads"]) == ["ada@example.com"]
    assert members(segments["Warm leads"]) == ["bob@example.com"]
    assert members(segments["Cold leads"]) == ["cy@example.com"]


def test_a_renamed_or_taken_name_is_left_alone(tenant):
    services.create_segment(name="HOT LEADS", rules=ACME)
    run_default_segments_migration()
    names = sorted(Segment.objects.values_list("name", flat=True))
    assert names == ["Cold leads", "HOT LEADS", "Warm leads"]
    assert Segment.objects.get(name="HOT LEADS").rules == ACME
    # An empty workspace: they start refreshed (empty is exact), so the hook keeps them current.
    assert Segment.objects.get(name="Cold leads").last_refreshed_at is not None


def test_default_segments_are_per_tenant(tenant, other_tenant):
    run_default_segments_migration()
    with in_schema(other_tenant):
        assert not Segment.objects.exists()
    assert Segment.objects.count() == 3


def test_new_tenants_get_the_default_segments_through_their_migrations(tenant):
    from django.db.migrations.recorder import MigrationRecorder

    # The test tenants had them removed after creation (tests/conftest.py); that the migration
    # ran in the schema is what makes a new tenant get them.
    assert MigrationRecorder(connection).migration_qs.filter(
        app="segments", name="0003_default_segments").exists()


# --- the pages without JavaScript ---------------------------------------------------------------


def test_event_rules_through_the_json_textarea(people, marketer_client):
    import json

    from segments.models import Campaign

    spring = Campaign.objects.create(name="Spring")
    bad = {"op": "and", "rules": [{"field": "event", "operator": "has_any",
                                   "value": {"type": "clicked", "campaign": "Autumn"}}]}
    response = marketer_client.post("/segments/new/", {"name": "Bad", "rules": json.dumps(bad)})
    assert response.status_code == 400
    assert ("rules[0]: event has_any: no campaign named &#x27;Autumn&#x27;."
            in response.content.decode())
    good = {"op": "and", "rules": [
        {"field": "event", "operator": "has_any",
         "value": {"type": "clicked", "campaign": spring.pk, "in_last_days": 14}},
        {"field": "score_band", "operator": "in", "value": ["hot", "warm"]}]}
    response = marketer_client.post("/segments/new/", {"name": "Good", "rules": json.dumps(good)})
    segment = Segment.objects.get(name="Good")
    assert response.status_code == 302 and segment.rules == good
    page = marketer_client.get(f"/segments/{segment.pk}/").content.decode()
    assert ("Email activity includes a click of “Spring” in the last 14 days AND Score band is "
            "one of Hot, Warm") in page
