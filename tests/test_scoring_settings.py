"""Settings › Scoring & events: the inbound endpoint and its signing secret (masked, revealed
on request, rotated with confirmation and at once), the scoring rules (validated; saving
recomputes every score in the background), who may do what, and tenants kept apart."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from engagement.models import ContactScore, EmailEvent, ScoreSettings
from engagement.scoring import recompute_scores
from engagement.signing import webhook_secret
from tests.conftest import client_for, in_schema, make_user
from tests.factories import ContactFactory
from tests.test_engagement_api import signed_post
from tests.test_segments_refresh import run_queued

URL = "/settings/scoring/"
VALID = {"open_points": "2", "click_points": "5", "reply_points": "20", "recent_days": "14",
         "recent_factor": "1.5", "hot_from": "40", "warm_from": "10"}


def text(response) -> str:
    return response.content.decode()


def queued() -> list[tuple[str, tuple]]:
    return [(q.task["func"], tuple(q.task["args"])) for q in OrmQ.objects.order_by("id")]


@pytest.fixture(autouse=True)
def empty_queue(db):
    OrmQ.objects.all().delete()


def test_owner_sees_the_endpoint_and_a_masked_secret(tenant, owner):
    secret = webhook_secret()
    response = client_for(tenant, owner).get(URL)
    page = text(response)
    assert response.status_code == 200
    assert "http://alpha.localhost/webhooks/events" in page
    assert "http://alpha.localhost/api/v1/events/batch" in page
    assert secret not in page
    assert f"whsec_{'•' * 12}{secret[-4:]}" in page
    assert 'action="/settings/scoring/secret/reveal/"' in page
    assert 'href="/settings/scoring/secret/rotate/"' in page
    assert re.search(r'<input type="number" name="click_points" value="3"[^>]*>', page)
    assert not re.search(r'<input[^>]*name="click_points"[^>]*disabled', page)
    assert "Save and recompute scores" in page


def test_reveal_shows_the_secret_without_caching(tenant, admin_user):
    secret = webhook_secret()
    response = client_for(tenant, admin_user).post(URL + "secret/reveal/")
    assert response.status_code == 200
    assert f'<code class="secret" data-secret>{secret}</code>' in text(response)
    assert "no-store" in response["Cache-Control"]
    assert client_for(tenant, admin_user).get(URL + "secret/reveal/").status_code == 405


def test_rotation_asks_first_then_takes_effect_at_once(tenant, owner):
    ContactFactory(email="ada@example.com")
    old = webhook_secret()
    client = client_for(tenant, owner)
    confirm = client.get(URL + "secret/rotate/")
    assert "the current one stops working at once" in text(confirm)
    assert webhook_secret() == old  # asking changes nothing
    response = client.post(URL + "secret/rotate/", follow=True)
    assert "New signing secret made: the old one no longer works." in text(response)
    new = webhook_secret()
    assert new != old and new.startswith("whsec_")
    body = json.dumps({"events": [{"event_id": "r1", "type": "opened", "email": "ada@example.com",
                                   "occurred_at": timezone.now().isoformat()}]}).encode()
    refused = signed_post(tenant, body, secret=old)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_signature"
    assert signed_post(tenant, body, secret=new).status_code == 200


def test_saving_the_rules_recomputes_every_score_in_the_background(
        tenant, owner, django_capture_on_commit_callbacks):
    ada = ContactFactory(email="ada@example.com")
    EmailEvent.objects.create(event_id="o1", contact=ada, type="clicked", message_id="m",
                              occurred_at=timezone.now() - dt.timedelta(days=40))
    recompute_scores(contact_ids=[ada.pk], reason="test")
    assert ContactScore.objects.get(contact=ada).score == 3
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(tenant, owner).post(URL, VALID, follow=True)
    assert ("Scoring saved. Every score is being recomputed in the background"
            in text(response))
    rules = ScoreSettings.objects.get()
    assert (rules.open_points, rules.click_points, rules.reply_points, rules.recent_days,
            rules.recent_factor, rules.hot_from, rules.warm_from) == (2, 5, 20, 14, 1.5, 40, 10)
    assert queued() == [("engagement.tasks.recompute_scores_task", (tenant.schema_name,))]
    run_queued(django_capture_on_commit_callbacks)
    row = ContactScore.objects.get(contact=ada)
    assert (row.score, row.band) == (5, "cold")
    # Saving the same values again changes nothing and recomputes nothing.
    OrmQ.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        again = client_for(tenant, owner).post(URL, VALID, follow=True)
    assert "Nothing changed." in text(again) and queued() == []


@pytest.mark.parametrize(("field", "value", "message"), [
    ("warm_from", "40", "The warm threshold must be lower than the hot one (40)."),
    ("warm_from", "55", "The warm threshold must be lower than the hot one (40)."),
    ("open_points", "-1", "Ensure this value is greater than or equal to 0."),
    ("click_points", "1001", "Ensure this value is less than or equal to 1000."),
    ("reply_points", "ten", "Enter a whole number of points."),
    ("reply_points", "", "Give a number of points (0 or more)."),
    ("recent_days", "0", "Ensure this value is greater than or equal to 1."),
    ("recent_days", "366", "Ensure this value is less than or equal to 365."),
    ("recent_days", "1.5", "Enter a whole number of days from 1 to 365."),
    ("recent_factor", "0.5", "Ensure this value is greater than or equal to 1."),
    ("recent_factor", "10.01", "Ensure this value is less than or equal to 10."),
    ("recent_factor", "nan", "Enter a number from 1 to 10."),
    ("recent_factor", "inf", "Enter a number from 1 to 10."),
    ("recent_factor", "1e400", "Enter a number from 1 to 10."),
    ("hot_from", "99999999999999999999999", "Ensure this value is less than or equal to "
                                            "1000000."),
    ("hot_from", "0", "Ensure this value is greater than or equal to 1."),
    ("warm_from", "<script>alert(1)</script>", "Enter a whole number."),
])
def test_hostile_values_are_refused_with_the_reason_and_nothing_changes(
        tenant, owner, field, value, message, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(tenant, owner).post(URL, {**VALID, field: value})
    assert response.status_code == 400
    assert message in text(response)
    assert "<script>alert(1)</script>" not in text(response)
    assert not ScoreSettings.objects.exists() and queued() == []


@pytest.mark.parametrize("role", ["marketer", "viewer"])
def test_marketers_and_viewers_read_the_rules_but_change_nothing(tenant, role):
    secret = webhook_secret()
    user = make_user(tenant, role)
    client = client_for(tenant, user)
    page = text(client.get(URL))
    assert re.search(r'<input type="number" name="click_points" value="3"[^>]*disabled',
                     page)
    assert "Save and recompute scores" not in page
    assert secret not in page and secret[-4:] + "<" not in page
    assert "Owners and admins of this workspace see and rotate it." in page
    assert client.post(URL, VALID).status_code == 403
    assert client.post(URL + "secret/reveal/").status_code == 403
    assert client.get(URL + "secret/rotate/").status_code == 403
    assert client.post(URL + "secret/rotate/").status_code == 403
    assert not ScoreSettings.objects.exists() and webhook_secret() == secret


def test_the_settings_index_links_to_the_page(tenant, viewer):
    page = text(client_for(tenant, viewer).get("/settings/"))
    assert '<a href="/settings/scoring/">Scoring &amp; events</a>' in page


def test_anonymous_visitors_are_sent_to_sign_in(tenant):
    from django.test import Client

    response = Client(HTTP_HOST="alpha.localhost").get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_each_tenant_has_its_own_secret_and_rules(tenant, other_tenant, owner,
                                                   django_capture_on_commit_callbacks):
    mine = webhook_secret()
    with in_schema(other_tenant):
        theirs = webhook_secret()
    their_owner = make_user(other_tenant, "owner")
    their_client = client_for(other_tenant, their_owner)
    revealed = text(their_client.post(URL + "secret/reveal/"))
    assert theirs in revealed and mine not in revealed
    assert "http://beta.localhost/webhooks/events" in revealed
    with django_capture_on_commit_callbacks(execute=True):
        their_client.post(URL, VALID)
    their_client.post(URL + "secret/rotate/")
    with in_schema(tenant):  # (the client's requests leave the connection on their host)
        assert webhook_secret() == mine and not ScoreSettings.objects.exists()
    with in_schema(other_tenant):
        assert ScoreSettings.objects.get().click_points == 5
        assert webhook_secret() != theirs
    assert queued() == [("engagement.tasks.recompute_scores_task", (other_tenant.schema_name,))]
    # A user of this workspace is nobody on the other one's host.
    assert client_for(other_tenant).get(URL).status_code == 302
