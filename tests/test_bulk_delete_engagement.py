"""Undo of a bulk delete gives the contacts back their email events, score override and score
history (contacts.bulk.hooks → engagement.deletions): exactly, set-based, never onto a new
contact that took a skipped contact's email, only once, never in another tenant; the copies
expire with the operation's undo window."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.bulk import hooks, services, tasks, undo
from contacts.bulk.selection import Selection
from contacts.models import BulkOperation, Contact
from contacts.services import create_contact
from engagement.deletions import restore_engagement
from engagement.models import (
    ContactScore,
    DeletedContactScore,
    DeletedEmailEvent,
    DeletedScoreChange,
    EmailEvent,
    ScoreChange,
    ScoreSettings,
)
from engagement.scoring import set_score_override
from engagement.services import ingest_events
from engagement.timeline import TimelineQuery, contact_timeline
from segments.models import Campaign
from tests.conftest import in_schema
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def events_for(email: str, tag: str) -> list[dict]:
    """A sent, an old and a recent open, a click and a reply: scores 1 + 2 + 6 + 20 = 29."""
    def one(n: int, kind: str, days_ago: float, **extra) -> dict:
        return {"event_id": f"{tag}-{n}", "type": kind, "email": email, "campaign": "Spring",
                "occurred_at": (NOW - dt.timedelta(days=days_ago)).isoformat(),
                "subject": "Hello", "preview": "Dear friend…", "message_id": f"m-{tag}", **extra}

    return [one(1, "sent", 40), one(2, "opened", 40), one(3, "opened", 2),
            one(4, "clicked", 2, url="https://example.com/offer"), one(5, "replied", 1)]


def engaged_contacts(n: int, prefix: str = "e") -> list[Contact]:
    contacts = [create_contact(data={"email": f"{prefix}{i}@example.com"}) for i in range(n)]
    events = [e for i in range(n) for e in events_for(f"{prefix}{i}@example.com", f"{prefix}{i}")]
    results = ingest_events(events=events, source="test")
    assert {r.status for r in results} == {"accepted"}
    return contacts


def engagement_of(ids: list[int]) -> tuple[list[dict], list[dict], list[dict]]:
    """Every column of the contacts' events, score rows and score changes."""
    return (
        list(EmailEvent.objects.filter(contact_id__in=ids).order_by("id").values()),
        list(ContactScore.objects.filter(contact_id__in=ids).order_by("contact_id").values()),
        list(ScoreChange.objects.filter(contact_id__in=ids).order_by("id").values()),
    )


def delete(contacts, user) -> BulkOperation:
    op = services.start_bulk_operation(kind="delete", selection=Selection(
        ids=[c.pk for c in contacts]), options={}, user=user)
    assert op.status == "finished" and op.changed == len(contacts)
    return op


def copies() -> tuple[int, int, int]:
    return (DeletedEmailEvent.objects.count(), DeletedContactScore.objects.count(),
            DeletedScoreChange.objects.count())


# --- the round trip ---------------------------------------------------------------------------


def test_undo_restores_events_override_and_score_history_exactly(tenant, marketer):
    a, b, c = engaged_contacts(3)
    set_score_override(contact=b, score=70, reason="met at the fair",
                       until=NOW + dt.timedelta(days=10))
    ids = [a.pk, b.pk, c.pk]
    before = engagement_of(ids)
    assert len(before[0]) == 15 and len(before[1]) == 3 and len(before[2]) == 4
    assert {(s["contact_id"], s["score"], s["band"]) for s in before[1]} == {
        (a.pk, 29, "warm"), (b.pk, 70, "hot"), (c.pk, 29, "warm")}

    op = delete([a, b, c], marketer)
    assert engagement_of(ids) == ([], [], [])
    assert copies() == (15, 3, 4)

    undo.start_undo(op=op, user=marketer)

    assert engagement_of(ids) == before  # same ids, event ids, times, campaign, override
    assert copies() == (0, 0, 0)
    op.refresh_from_db()
    assert op.undo_report == {"restored": 3, "skipped": 0, "skipped_emails": []}
    page = contact_timeline(contact_id=b.pk, query=TimelineQuery(types=frozenset({"clicked"})))
    [click] = page.entries
    assert (click.obj.event_id, click.obj.url, click.obj.campaign.name) == (
        "e1-4", "https://example.com/offer", "Spring")
    score = ContactScore.objects.get(contact_id=b.pk)
    assert (score.score, score.computed_score, score.override_reason) == (70, 29, "met at the fair")


def test_restored_scores_follow_rules_changed_meanwhile_with_webhook(tenant, marketer, settings):
    from webhooks.services import create_endpoint

    settings.WEBHOOKS_ALLOW_PRIVATE = True
    endpoint = create_endpoint(url="http://127.0.0.1:9/hooks", kinds=["score.band_changed"])
    (a,) = engaged_contacts(1)
    op = delete([a], marketer)
    ScoreSettings.objects.create(reply_points=30)  # the reply now gives 60: 69, hot

    undo.start_undo(op=op, user=marketer)

    score = ContactScore.objects.get(contact_id=a.pk)
    assert (score.score, score.band) == (69, "hot")
    last = ScoreChange.objects.filter(contact_id=a.pk).order_by("-id").first()
    assert (last.old_score, last.new_score, last.old_band, last.new_band, last.reason) == (
        29, 69, "warm", "hot", "restored by undo")
    deliveries = Delivery.objects.filter(kind="score.band_changed").order_by("id")
    assert [(d.endpoint_id, d.payload) for d in deliveries] == [
        (endpoint.pk, {"contact": {"id": a.pk, "email": "e0@example.com"},  # the ingest
                       "from": "cold", "to": "warm", "score": 29}),
        (endpoint.pk, {"contact": {"id": a.pk, "email": "e0@example.com"},  # the undo
                       "from": "warm", "to": "hot", "score": 69}),
    ]


def test_event_of_a_deleted_campaign_comes_back_without_it(tenant, marketer):
    (a,) = engaged_contacts(1)
    op = delete([a], marketer)
    Campaign.objects.filter(name="Spring").delete()

    undo.start_undo(op=op, user=marketer)

    assert EmailEvent.objects.filter(contact_id=a.pk).count() == 5
    assert not EmailEvent.objects.filter(campaign__isnull=False).exists()


# --- skipped contacts and expiry -------------------------------------------------------------


def test_skipped_contact_events_are_not_put_on_the_new_contact(tenant, marketer):
    a, b = engaged_contacts(2)
    set_score_override(contact=a, score=5, reason="cold lead")
    op = delete([a, b], marketer)
    again = create_contact(data={"email": "E0@example.com"})

    undo.start_undo(op=op, user=marketer)

    op.refresh_from_db()
    assert op.undo_report == {"restored": 1, "skipped": 1, "skipped_emails": ["e0@example.com"]}
    assert engagement_of([again.pk]) == ([], [], [])
    assert EmailEvent.objects.filter(contact_id=b.pk).count() == 5
    assert not EmailEvent.objects.filter(contact_id=a.pk).exists()
    # a's copies wait for the end of the undo window, then go with the contact snapshots.
    assert copies() == (5, 1, 2)
    assert set(DeletedEmailEvent.objects.values_list("contact_id", flat=True)) == {a.pk}


def test_expired_copies_are_purged_with_the_contact_snapshots(tenant, marketer):
    a, b = engaged_contacts(2)
    old, recent = delete([a], marketer), delete([b], marketer)
    BulkOperation.objects.filter(pk=old.pk).update(undo_until=NOW - dt.timedelta(seconds=1))

    assert tasks.purge_expired_snapshots() == 1

    connection.set_tenant(tenant)
    for model in (DeletedEmailEvent, DeletedContactScore, DeletedScoreChange):
        assert set(model.objects.values_list("operation_id", flat=True)) == {recent.pk}
    assert copies() == (5, 1, 1)


def test_copies_go_with_their_operation(tenant, marketer):
    (a,) = engaged_contacts(1)
    op = delete([a], marketer)
    assert copies() == (5, 1, 1)
    BulkOperation.objects.filter(pk=op.pk).delete()
    assert copies() == (0, 0, 0)


# --- hostile: twice, ids used again, a failing hook -----------------------------------------


def test_undo_twice_duplicates_nothing(tenant, marketer):
    a, b = engaged_contacts(2)
    op = delete([a, b], marketer)
    undo.start_undo(op=op, user=marketer)
    after = engagement_of([a.pk, b.pk])

    with pytest.raises(ValidationError) as refused:
        undo.start_undo(op=op, user=marketer)
    assert refused.value.messages == ["This action cannot be undone (any more)."]
    tasks.undo_bulk_task(connection.schema_name, op.pk)  # a stray re-run of the job
    assert restore_engagement(operation_id=op.pk, contact_ids=[a.pk, b.pk]) == {}

    assert engagement_of([a.pk, b.pk]) == after
    assert len(after[0]) == 10 and copies() == (0, 0, 0)


def test_event_id_used_again_meanwhile_keeps_the_existing_event(tenant, marketer):
    (a,) = engaged_contacts(1)
    op = delete([a], marketer)
    other = create_contact(data={"email": "other@example.com"})
    [resent] = ingest_events(events=[events_for("other@example.com", "e0")[4]], source="test")
    assert resent.status == "accepted"  # the id is free again once its contact was deleted

    undo.start_undo(op=op, user=marketer)

    assert EmailEvent.objects.get(event_id="e0-5").contact_id == other.pk
    assert sorted(EmailEvent.objects.filter(contact_id=a.pk).values_list("event_id", flat=True)
                  ) == ["e0-1", "e0-2", "e0-3", "e0-4"]
    op.refresh_from_db()
    assert op.undo_report == {"restored": 1, "skipped": 0, "skipped_emails": [],
                              "events_not_restored": 1}
    assert ContactScore.objects.get(contact_id=a.pk).score == 9  # without the reply's 20


def test_failing_snapshot_hook_rolls_the_delete_back(tenant, marketer, monkeypatch):
    (a,) = engaged_contacts(1)

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(hooks, "_hooks", [hooks.BulkDeleteHooks(snapshot=broken,
                                                                restore=lambda **kw: None)])
    with pytest.raises(RuntimeError):
        delete([a], marketer)
    assert Contact.objects.filter(pk=a.pk).exists()
    assert EmailEvent.objects.filter(contact_id=a.pk).count() == 5


def test_registering_the_same_hooks_twice_is_a_no_op(monkeypatch):
    monkeypatch.setattr(hooks, "_hooks", [])

    def snap(**kw):
        return None

    def back(**kw):
        return {"n": 1}

    hooks.register_bulk_delete_hooks(snapshot=snap, restore=back)
    hooks.register_bulk_delete_hooks(snapshot=snap, restore=back)
    assert len(hooks._hooks) == 1
    assert hooks.restore_after_undo(operation_id=1, contact_ids=[1]) == {"n": 1}


# --- set-based ---------------------------------------------------------------------------------


def _queries(run) -> int:
    with CaptureQueriesContext(connection) as ctx:
        run()
    return len(ctx.captured_queries)


def test_snapshot_and_restore_take_as_many_queries_for_1_and_3_contacts(tenant, marketer):
    one, three = engaged_contacts(1, "one"), engaged_contacts(3, "three")
    ops = {}
    counts = {}
    for name, contacts in (("one", one), ("three", three)):
        counts[name, "delete"] = _queries(lambda c=contacts, n=name: ops.__setitem__(
            n, delete(c, marketer)))
        counts[name, "undo"] = _queries(lambda n=name: undo.start_undo(op=ops[n], user=marketer))
    assert counts["one", "delete"] == counts["three", "delete"]
    assert counts["one", "undo"] == counts["three", "undo"]
    assert EmailEvent.objects.count() == 20 and copies() == (0, 0, 0)


def test_delete_without_events_adds_one_statement_and_no_rows(tenant, marketer):
    contacts = [create_contact(data={"email": f"quiet{i}@example.com"}) for i in range(3)]
    with CaptureQueriesContext(connection) as ctx:
        op = delete(contacts, marketer)
    ours = [q["sql"] for q in ctx.captured_queries if "engagement_deleted" in q["sql"]]
    assert len(ours) == 1
    assert copies() == (0, 0, 0)
    undo.start_undo(op=op, user=marketer)
    assert Contact.objects.count() == 3 and not ContactScore.objects.exists()


# --- tenant isolation ------------------------------------------------------------------------


def test_undo_in_one_tenant_restores_nothing_in_another(tenant, other_tenant, marketer):
    a1, a2 = engaged_contacts(2, "a")
    op = delete([a1, a2], marketer)
    with in_schema(other_tenant):
        b1, b2 = engaged_contacts(2, "b")
        other_op = delete([b1], None)
        theirs = engagement_of([b1.pk, b2.pk])
        their_copies = copies()
    assert their_copies == (5, 1, 1)

    undo.start_undo(op=op, user=marketer)

    assert len(engagement_of([a1.pk, a2.pk])[0]) == 10
    with in_schema(other_tenant):
        assert engagement_of([b1.pk, b2.pk]) == theirs
        assert len(theirs[0]) == 5  # only b2's, live; b1's stay copied for its own undo
        assert copies() == their_copies
        assert not Contact.objects.filter(pk=b1.pk).exists()
        other_op.refresh_from_db()
        assert undo.can_undo(other_op)
