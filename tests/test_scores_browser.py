"""In a real Chromium against the ASGI app: the contact table is open, events arrive through the
batch API, and the Score cell of that row changes in place (number and band badge) without a
reload and without the "Contacts changed" notice."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from contacts.models import Contact
from penguinleads.accounts.models import ApiKey
from penguinleads.api.keys import create_api_key
from segments.models import Campaign
from tests.browser import asgi_server, browser_page, post_events  # noqa: F401  (fixtures)
from tests.conftest import host_of, in_schema, make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous"),
]
EMAIL = "sc-browser-ada@example.com"


@pytest.fixture
def cleanup(tenant):
    yield
    with in_schema(tenant):
        Contact.objects.filter(email__startswith="sc-browser-").delete()
        Campaign.objects.filter(name="Browser scores").delete()
        ApiKey.objects.filter(name="scores browser test").delete()
        get_user_model().objects.filter(email__startswith="sc-browser-").delete()


def test_browser_score_cell_updates_live_in_the_contact_table(
        tenant, cleanup, asgi_server, browser_page):  # noqa: F811
    make_user(tenant, "viewer", email="sc-browser-user@example.com")
    host = host_of(tenant)
    with in_schema(tenant):
        ada = Contact.objects.create(email=EMAIL, email_normalized=EMAIL, source="test")
        bob = Contact.objects.create(email="sc-browser-bob@example.com",
                                     email_normalized="sc-browser-bob@example.com")
        _row, key = create_api_key(name="scores browser test")
    page = browser_page
    page.goto(f"http://{host}:{asgi_server}/contacts/")
    page.get_by_label("Email").fill("sc-browser-user@example.com")
    page.get_by_label("Password").fill("pw-secret-123")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/contacts/$"))
    cell = page.locator(f'tr[data-contact-id="{ada.pk}"] td[data-score-cell]')
    assert cell.inner_text() == "0 Cold"
    page.locator("#live-notice[data-live-state=open]").wait_for(state="attached")
    page.evaluate("window.__sameDocument = true")

    when = timezone.now().isoformat()
    answer = post_events(asgi_server, host, key, [
        {"event_id": f"sc-browser-{n}", "type": kind, "email": EMAIL, "occurred_at": when,
         "campaign": "Browser scores"} for n, kind in enumerate(["replied", "clicked"])])
    assert answer["counts"] == {"accepted": 2, "duplicate": 0, "error": 0}

    page.wait_for_function(
        f"""() => document.querySelector('tr[data-contact-id="{ada.pk}"] .score-value')
                 .textContent === "26" """, timeout=5000)
    assert cell.inner_text() == "26 Warm"
    assert cell.locator(".badge").get_attribute("class") == "badge score-warm"
    other = page.locator(f'tr[data-contact-id="{bob.pk}"] td[data-score-cell]')
    assert other.inner_text() == "0 Cold"
    assert page.locator("#live-notice").is_hidden()
    assert page.evaluate("window.__sameDocument") is True  # updated in place, no reload
