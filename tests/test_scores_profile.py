"""The score on a contact's profile: score, band, override shown as such, the breakdown (one
query with the rules of the recompute, its total equal to the computed score), the override
form and its errors, removing an override, who may do it, and other tenants kept out."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from engagement.models import ContactScore, ScoreChange, ScoreSettings
from engagement.scoring import score_breakdown, set_score_override
from engagement.services import ingest_events
from tests.conftest import client_for, in_schema, make_user
from tests.factories import ContactFactory
from tests.test_contacts_pages import html

NOW = timezone.now()


def event(n, kind="opened", when=None, message_id="m1", email="ada@example.com"):
    return {"event_id": f"ev-{n}", "type": kind, "email": email, "message_id": message_id,
            "occurred_at": (when or NOW - dt.timedelta(days=1)).isoformat(),
            "campaign": "Spring"}


@pytest.fixture
def ada(tenant):
    return ContactFactory(email="ada@example.com", first_name="Ada", last_name="Lovelace")


def busy_history() -> list[dict]:
    recent, old = NOW - dt.timedelta(days=3), NOW - dt.timedelta(days=45)
    return [
        # a scanner: 4 opens of m1 within a minute → 1; m1 again 2 h later → 1; m2 → 1
        *[event(i, when=recent + dt.timedelta(seconds=i)) for i in range(4)],
        event(10, when=recent + dt.timedelta(hours=2)),
        event(11, when=recent, message_id="m2"),
        event(12, when=old, message_id="m3"),  # an old open
        event(20, "clicked", when=recent), event(21, "clicked", when=old),
        event(22, "clicked", when=old),
        event(30, "replied", when=old),
        event(40, "sent", when=old),  # gives nothing
    ]


def test_breakdown_lines_and_total(ada):
    ingest_events(events=busy_history(), source="test")

    breakdown = score_breakdown(contact_id=ada.pk)

    assert [(line.type, line.events, line.counted, line.recent, line.older, line.recent_points,
             line.older_points, line.points) for line in breakdown.lines] == [
        ("opened", 7, 4, 3, 1, 6.0, 1.0, 7.0),
        ("clicked", 3, 3, 1, 2, 6.0, 6.0, 12.0),
        ("replied", 1, 1, 0, 1, 0.0, 10.0, 10.0),
    ]
    assert breakdown.total == 29 == ContactScore.objects.get(contact=ada).computed_score


@pytest.mark.parametrize("factor", [1.0, 1.5, 2.0, 2.7])
def test_breakdown_total_equals_the_computed_score(ada, factor):
    ScoreSettings.objects.create(open_points=2, click_points=4, reply_points=9, recent_days=7,
                                 recent_factor=factor)
    ingest_events(events=busy_history(), source="test")

    breakdown = score_breakdown(contact_id=ada.pk)

    assert breakdown.total == ContactScore.objects.get(contact=ada).computed_score
    assert breakdown.total == round(sum(line.points for line in breakdown.lines))


def test_breakdown_is_one_query_and_empty_without_events(ada):
    with CaptureQueriesContext(connection) as queries:
        breakdown = score_breakdown(contact_id=ada.pk)
    sql = [q["sql"] for q in queries if not q["sql"].startswith("SET search_path")]

    assert len(sql) == 2  # the tenant's rules, then the breakdown
    assert breakdown.total == 0
    assert [(line.label, line.events, line.points) for line in breakdown.lines] == [
        ("Opens", 0, 0.0), ("Clicks", 0, 0.0), ("Replies", 0, 0.0)]


def test_profile_shows_score_band_and_breakdown(ada, marketer_client):
    ingest_events(events=busy_history(), source="test")

    page = html(marketer_client.get(f"/contacts/{ada.pk}/"))

    assert ('<span class="score-big" data-score-value>29</span> '
            '<span class="badge score-warm">Warm</span>') in page
    assert re.search(r'<tr data-breakdown="opened"><th scope="row">Opens</th><td class="num">7'
                     r'</td><td class="num">4</td><td class="num">3 → 6</td><td class="num">'
                     r'1 → 1</td><td class="num">7</td></tr>', page)
    assert '<td class="num" data-breakdown-total>29</td>' in page
    assert "Last 30 days (×2)" in page
    assert "data-score-override" not in page


def test_profile_without_events_says_so(ada, viewer_client):
    page = html(viewer_client.get(f"/contacts/{ada.pk}/"))

    assert '<span class="score-big" data-score-value>0</span>' in page
    assert "No scored activity yet" in page
    assert "Override the score" not in page  # viewers see no form


def test_override_form_pins_the_score_and_the_profile_says_so(ada, marketer, marketer_client):
    ingest_events(events=[event(1, "clicked")], source="test")

    response = marketer_client.post(f"/contacts/{ada.pk}/score/override/", {
        "score": "75", "reason": "Met at the fair", "until": "2099-05-01T14:30"})

    assert response.status_code == 302
    assert response["Location"] == f"/contacts/{ada.pk}/"
    row = ContactScore.objects.get(contact=ada)
    assert (row.score, row.band, row.computed_score, row.override_reason) == (
        75, "hot", 6, "Met at the fair")
    assert row.override_until == dt.datetime(2099, 5, 1, 14, 30, tzinfo=dt.UTC)
    page = html(marketer_client.get(f"/contacts/{ada.pk}/"))
    assert "Score set to 75 by hand." in page
    assert re.search(r"Computed 6 · <strong>overridden to 75</strong>\s*until <time "
                     r'datetime="2099-05-01T14:30:00\+00:00">May 1, 2099 14:30</time>\s*'
                     r"\(Met at the fair\)", page)
    assert "Remove override" in page
    assert ScoreChange.objects.latest("id").reason == f"override by {marketer.email}: " \
                                                      "Met at the fair"


def test_override_without_expiry_lasts_until_removed(ada, marketer_client):
    marketer_client.post(f"/contacts/{ada.pk}/score/override/",
                         {"score": "0", "reason": "Competitor", "until": ""})

    page = html(marketer_client.get(f"/contacts/{ada.pk}/"))

    assert "overridden to 0</strong>\n      until removed\n      (Competitor)" in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"score": "80", "reason": ""}, "reason", "Give a reason for the override."),
        ({"score": "80", "reason": "   "}, "reason", "Give a reason for the override."),
        ({"score": "80", "reason": "x", "until": "2001-01-01T00:00"}, "until",
         "The override must end in the future."),
        ({"score": "eighty", "reason": "x"}, "score",
         "Enter the score as a whole number, for example 60."),
        ({"score": "", "reason": "x"}, "score", "Enter the score to pin."),
        ({"score": "-5", "reason": "x"}, "score",
         "Ensure this value is greater than or equal to 0."),
        ({"score": "99999999999", "reason": "x"}, "score",
         "Ensure this value is less than or equal to 1000000."),
        ({"score": "80", "reason": "x", "until": "soon"}, "until",
         "Enter a date and time, for example 2030-05-01 14:00."),
    ],
)
def test_override_errors_are_shown_on_the_page(ada, marketer_client, data, field, message):
    response = marketer_client.post(f"/contacts/{ada.pk}/score/override/", data)

    assert response.status_code == 400
    page = html(response)
    assert f'<p class="field-error" id="id_{field}_error">{message}</p>' in page
    assert '<details class="score-override-form" open>' in page
    assert "<h1>Ada Lovelace</h1>" in page  # the profile itself, not an error page
    assert not ContactScore.objects.filter(contact=ada).exists()


def test_all_override_errors_are_shown_at_once(ada, marketer_client):
    response = marketer_client.post(f"/contacts/{ada.pk}/score/override/",
                                    {"score": "x", "reason": "", "until": "2001-01-01T00:00"})

    assert response.status_code == 400
    page = html(response)
    for field, message in (("score", "Enter the score as a whole number, for example 60."),
                           ("reason", "Give a reason for the override."),
                           ("until", "The override must end in the future.")):
        assert f'<p class="field-error" id="id_{field}_error">{message}</p>' in page


def test_removing_the_override_returns_to_the_computed_score(ada, owner, marketer_client):
    ingest_events(events=[event(1, "replied")], source="test")
    set_score_override(contact=ada, score=90, reason="VIP", actor=owner)

    response = marketer_client.post(f"/contacts/{ada.pk}/score/override/remove/")

    assert response.status_code == 302
    row = ContactScore.objects.get(contact=ada)
    assert (row.score, row.band, row.override_score, row.override_reason) == (
        20, "warm", None, "")
    page = html(marketer_client.get(f"/contacts/{ada.pk}/"))
    assert "Override removed: the score is the computed one again." in page
    assert "data-score-override" not in page


def test_viewer_may_not_override_or_remove(ada, owner, viewer_client):
    set_score_override(contact=ada, score=90, reason="VIP", actor=owner)

    page = html(viewer_client.get(f"/contacts/{ada.pk}/"))
    assert "overridden to 90" in page
    assert "Remove override" not in page
    assert "Override the score" not in page
    assert viewer_client.post(f"/contacts/{ada.pk}/score/override/",
                              {"score": "1", "reason": "x"}).status_code == 403
    assert viewer_client.post(f"/contacts/{ada.pk}/score/override/remove/").status_code == 403
    assert viewer_client.get(f"/contacts/{ada.pk}/score/override/").status_code == 405
    assert ContactScore.objects.get(contact=ada).score == 90


def test_other_tenants_contact_cannot_be_overridden_or_seen(tenant, other_tenant, ada):
    from contacts.models import Contact

    with in_schema(other_tenant):
        theirs = ContactFactory(email="eve@example.com")
        ContactScore.objects.create(contact=theirs, computed_score=66, score=66, band="hot")
        outsider = client_for(other_tenant, make_user(other_tenant, "owner"))
        ada_id_there = Contact.objects.filter(pk=ada.pk).exists()
    mine = client_for(tenant, make_user(tenant, "owner"))

    if not Contact.objects.filter(pk=theirs.pk).exists():  # ids are per schema
        assert mine.post(f"/contacts/{theirs.pk}/score/override/",
                         {"score": "5", "reason": "x"}).status_code == 404
    response = outsider.post(f"/contacts/{ada.pk}/score/override/",
                             {"score": "5", "reason": "x"})
    assert response.status_code == (302 if ada_id_there else 404)
    assert not ContactScore.objects.filter(contact=ada).exists()  # ours untouched
    page = html(mine.get(f"/contacts/{ada.pk}/"))
    assert '<span class="score-big" data-score-value>0</span>' in page
    with in_schema(other_tenant):
        assert ContactScore.objects.get(contact=theirs).score == (5 if theirs.pk == ada.pk
                                                                  else 66)
