"""Event ingestion (engagement.services) and lead scoring (engagement.scoring)."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from contacts.models import Contact, ContactChange
from engagement.models import ContactScore, EmailEvent, ScoreChange, ScoreSettings
from engagement.scoring import clear_score_override, set_score_override
from engagement.services import ingest_events
from engagement.tasks import expire_overrides, reage_scores
from engagement.validation import truncate
from segments.models import Campaign
from tests.factories import ContactFactory

NOW = timezone.now()


def event(n, kind="opened", email="ada@example.com", when=None, **extra):
    return {"event_id": f"ev-{n}", "type": kind, "email": email,
            "occurred_at": (when or NOW - dt.timedelta(days=1)).isoformat(),
            "campaign": "Spring", **extra}


def score_of(contact) -> tuple[int, str]:
    row = ContactScore.objects.get(contact=contact)
    return row.score, row.band


@pytest.fixture
def ada(tenant):
    return ContactFactory(email="ada@example.com")


def test_events_are_stored_and_the_score_follows_in_the_same_call(ada):
    results = ingest_events(events=[
        event(1, "sent", message_id="m1", subject="Hi"),
        event(2, "clicked", url="https://x.test/a", message_id="m1"),
        event(3, "replied", message_id="m1"),
    ], source="test")

    assert [r.status for r in results] == ["accepted"] * 3
    stored = EmailEvent.objects.order_by("event_id")
    assert [(e.event_id, e.type, e.contact_id) for e in stored] == [
        ("ev-1", "sent", ada.pk), ("ev-2", "clicked", ada.pk), ("ev-3", "replied", ada.pk)]
    assert stored[1].url == "https://x.test/a"
    assert stored[0].campaign == Campaign.objects.get(name="Spring")
    # recent: (3 + 10) × 2
    assert score_of(ada) == (26, "warm")
    change = ScoreChange.objects.get(contact=ada)
    assert (change.old_score, change.new_score, change.old_band, change.new_band,
            change.reason) == (0, 26, "cold", "warm", "new events")


def test_resending_a_batch_changes_nothing(ada):
    batch = [event(1, "clicked"), event(2, "replied")]
    ingest_events(events=batch, source="test")

    again = ingest_events(events=batch + [event(2, "replied")], source="test")

    assert [r.status for r in again] == ["duplicate"] * 3
    assert EmailEvent.objects.count() == 2
    assert score_of(ada) == (26, "warm")
    assert ScoreChange.objects.count() == 1
    assert Campaign.objects.filter(name="Spring").count() == 1


def test_unknown_email_and_bad_items_are_reported_per_item(ada):
    results = ingest_events(events=[
        event(1, email="nobody@example.com"),
        event(2, "exploded"),
        event(3, occurred_at="yesterday"),
        event(4, occurred_at="2026-13-45T00:00:00Z"),
        event(5, campaign=999999),
        event(6, "bounced"),
        event(7, subject="a\x00b"),
        "not an object",
        event(9),
    ], source="test")

    assert [r.as_dict().get("errors") for r in results[:8]] == [
        {"email": ["No contact with this email in this workspace."]},
        {"type": ["Unknown event type 'exploded'; use one of sent, opened, clicked, replied, "
                  "bounced, unsubscribed."]},
        {"occurred_at": ["Use an ISO 8601 date and time, e.g. 2026-05-01T12:00:00Z."]},
        {"occurred_at": ["Use an ISO 8601 date and time, e.g. 2026-05-01T12:00:00Z."]},
        {"campaign": ["No campaign with id 999999."]},
        {"bounce_type": ["A bounced event needs a bounce_type: hard or soft."]},
        {"subject": ["Text may not contain the NUL character (\\u0000)."]},
        {"non_field_errors": ["Each event must be a JSON object."]},
    ]
    assert results[8].status == "accepted"
    assert list(EmailEvent.objects.values_list("event_id", flat=True)) == ["ev-9"]


def test_a_huge_preview_is_cut_to_500_characters(ada):
    ingest_events(events=[event(1, preview="x" * 100_000, subject="s" * 1000)], source="test")

    stored = EmailEvent.objects.get()
    assert stored.preview == "x" * 499 + "…"
    assert stored.subject == "s" * 299 + "…"
    assert truncate("short", 500) == "short"


def test_hard_bounce_and_unsubscribe_change_the_status_with_history(tenant):
    bouncer = ContactFactory(email="b@example.com")
    leaver = ContactFactory(email="u@example.com")
    soft = ContactFactory(email="s@example.com")

    ingest_events(events=[
        event(1, "bounced", email="b@example.com", bounce_type="hard"),
        event(2, "unsubscribed", email="u@example.com"),
        event(3, "bounced", email="s@example.com", bounce_type="soft"),
    ], source="events:test")

    statuses = dict(Contact.objects.values_list("email", "status"))
    assert statuses == {"b@example.com": "bounced", "u@example.com": "unsubscribed",
                        "s@example.com": "active"}
    changes = {c.contact_id: (c.changes, c.source) for c in ContactChange.objects.all()}
    assert changes == {
        bouncer.pk: ({"status": ["active", "bounced"]}, "events:test"),
        leaver.pk: ({"status": ["active", "unsubscribed"]}, "events:test"),
    }
    assert soft.pk not in changes


def test_opens_of_one_message_count_once_per_hour_and_old_events_count_once(ada):
    recent = NOW - dt.timedelta(days=2)
    old = NOW - dt.timedelta(days=60)
    ingest_events(events=[
        # a link scanner: five opens of m1 within a minute → one open
        *[event(i, message_id="m1", when=recent + dt.timedelta(seconds=i)) for i in range(5)],
        # m1 again two hours later → counts; m2 at the same time → counts
        event(10, message_id="m1", when=recent + dt.timedelta(hours=2)),
        event(11, message_id="m2", when=recent + dt.timedelta(hours=2)),
        # an old click: 3 points, not doubled
        event(12, "clicked", when=old),
    ], source="test")

    # 3 recent opens × 1 × 2 + 1 old click × 3
    assert score_of(ada) == (9, "cold")


def test_weights_and_thresholds_are_the_tenants(ada):
    ScoreSettings.objects.create(open_points=5, recent_factor=3, hot_from=15, warm_from=5)

    ingest_events(events=[event(1, message_id="m1")], source="test")

    assert score_of(ada) == (15, "hot")


def test_nightly_reaging_lowers_scores_as_activity_gets_old(tenant, ada):
    ingest_events(events=[event(1, "replied", when=NOW - dt.timedelta(days=29))],
                  source="test")
    assert score_of(ada) == (20, "warm")
    ScoreSettings.objects.create(recent_days=10)  # as if twenty days had passed

    assert reage_scores(tenant.schema_name) == 1

    assert score_of(ada) == (10, "cold")
    change = ScoreChange.objects.latest("id")
    assert (change.old_score, change.new_score, change.reason) == (20, 10, "nightly re-aging")


def test_override_replaces_the_score_until_removed(ada, owner):
    ingest_events(events=[event(1, "clicked")], source="test")

    row = set_score_override(contact=ada, score=80, reason="Met at a fair", actor=owner)

    assert (row.score, row.band, row.computed_score, row.override_reason) == (
        80, "hot", 6, "Met at a fair")
    ingest_events(events=[event(2, "clicked")], source="test")
    assert score_of(ada) == (80, "hot")
    assert ContactScore.objects.get(contact=ada).computed_score == 12

    clear_score_override(contact=ada, actor=owner)

    assert score_of(ada) == (12, "cold")
    reasons = list(ScoreChange.objects.order_by("id").values_list("new_score", "reason"))
    assert reasons == [(6, "new events"), (80, f"override by {owner.email}: Met at a fair"),
                       (12, f"override removed by {owner.email}")]


def test_an_expired_override_returns_to_the_computed_score(tenant, ada):
    ingest_events(events=[event(1, "clicked")], source="test")
    set_score_override(contact=ada, score=70, reason="VIP",
                       until=timezone.now() + dt.timedelta(days=1))
    assert score_of(ada) == (70, "hot")
    # as if the day had passed
    ContactScore.objects.update(override_until=timezone.now() - dt.timedelta(minutes=1))

    assert expire_overrides(tenant.schema_name) == 1

    row = ContactScore.objects.get(contact=ada)
    assert (row.score, row.band, row.override_score, row.override_until) == (6, "cold", None, None)
    assert ScoreChange.objects.latest("id").reason == "override expired"


def test_an_override_needs_a_reason(ada):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        set_score_override(contact=ada, score=10, reason="  ")
    assert caught.value.message_dict == {"reason": ["Give a reason for the override."]}
    with pytest.raises(ValidationError) as caught:
        set_score_override(contact=ada, score=10, reason="x", until=NOW - dt.timedelta(days=1))
    assert caught.value.message_dict == {"until": ["The override must end in the future."]}
    assert not ContactScore.objects.exists()


def test_events_of_one_tenant_are_invisible_to_another(tenant, other_tenant, ada):
    from tests.conftest import in_schema

    ingest_events(events=[event(1, "clicked")], source="test")
    with in_schema(other_tenant):
        ContactFactory(email="ada@example.com")
        assert EmailEvent.objects.count() == 0
        assert ContactScore.objects.count() == 0
        again = ingest_events(events=[event(1, "clicked")], source="test")
        assert again[0].status == "accepted"  # ids are unique per tenant, not across tenants
    assert EmailEvent.objects.count() == 1


def test_ingest_events_command_prints_a_json_summary(tenant, ada, tmp_path):
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(event(1, "clicked")), "", "{broken", json.dumps(event(1, "clicked")),
             json.dumps(event(2, email="x@example.com"))]
    path.write_text("\n".join(lines) + "\n")
    out = io.StringIO()

    call_command("ingest_events", str(path), "--tenant", tenant.schema_name, "--json",
                 stdout=out)

    assert json.loads(out.getvalue()) == {
        "accepted": 1, "duplicate": 1, "rejected": 2,
        "errors": [
            {"line": 3, "event_id": "", "errors": {
                "non_field_errors": ["Each event must be a JSON object."]}},
            {"line": 5, "event_id": "ev-2", "errors": {
                "email": ["No contact with this email in this workspace."]}},
        ],
    }
    assert EmailEvent.objects.get().contact == ada
