"""In a real Chromium against the real ASGI app (uvicorn: HTTP and WebSocket in one server): a
contact's profile is open, an event arrives through the batch API, and its entry appears on
the timeline without a reload; the filters work over htmx."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from contacts.models import Contact
from engagement.models import EmailEvent
from penguinleads.accounts.models import ApiKey
from penguinleads.api.keys import create_api_key
from segments.models import Campaign
from tests.browser import asgi_server, browser_page, post_events  # noqa: F401  (fixtures)
from tests.conftest import host_of, in_schema, make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    # whitenoise hands static files to the ASGI handler as a synchronous iterator
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous"),
]
EMAIL = "tl-browser-ada@example.com"


@pytest.fixture
def cleanup(tenant):
    yield
    with in_schema(tenant):
        Contact.objects.filter(email=EMAIL).delete()
        Campaign.objects.filter(name__startswith="Browser").delete()
        ApiKey.objects.filter(name="timeline browser test").delete()
        get_user_model().objects.filter(email__startswith="tl-browser-").delete()


def test_browser_ingested_event_appears_on_open_profile_without_reload(
        tenant, cleanup, asgi_server, browser_page):  # noqa: F811
    make_user(tenant, "marketer", email="tl-browser-user@example.com")
    host = host_of(tenant)
    with in_schema(tenant):
        ada = Contact.objects.create(email=EMAIL, email_normalized=EMAIL, first_name="Ada",
                                     source="test")
        EmailEvent.objects.create(event_id="tl-browser-old", contact=ada, type="sent",
                                  subject="An older email",
                                  occurred_at=timezone.now() - timezone.timedelta(hours=2))
        _row, key = create_api_key(name="timeline browser test")
    page = browser_page
    base = f"http://{host}:{asgi_server}"

    page.goto(f"{base}/contacts/{ada.pk}/")
    page.get_by_label("Email").fill("tl-browser-user@example.com")
    page.get_by_label("Password").fill("pw-secret-123")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(rf"/contacts/{ada.pk}/$"))
    entries = page.locator("#timeline-list li.timeline-entry")
    entries.first.wait_for()
    assert entries.count() == 1
    page.locator("#timeline[data-live-state=open]").wait_for()
    page.evaluate("window.__sameDocument = true")

    started = time.monotonic()
    answer = post_events(asgi_server, host, key, [{
        "event_id": "tl-browser-live", "type": "clicked", "email": EMAIL,
        "occurred_at": timezone.now().isoformat(), "campaign": "Browser spring",
        "subject": "Live from the batch API", "preview": "Hello Ada, a quick question…",
        "url": "https://example.com/offer", "message_id": "<live@mail>",
    }])
    assert answer["counts"] == {"accepted": 1, "duplicate": 0, "error": 0}
    fresh = page.locator("li.timeline-entry", has_text="Live from the batch API")
    fresh.wait_for(timeout=5000)
    elapsed = time.monotonic() - started

    assert page.evaluate("window.__sameDocument") is True  # no reload
    assert [entries.nth(i).get_attribute("data-type") for i in range(entries.count())] == [
        "score", "clicked", "sent"]
    fresh.locator("summary").click()
    details = fresh.locator("details")
    assert details.get_by_text("Hello Ada, a quick question…").is_visible()
    assert details.get_by_text("https://example.com/offer").is_visible()
    assert details.get_by_role("link", name="Browser spring").count() == 1
    page.locator("#timeline").screenshot(path="test-artifacts/timeline-live-entry.png")
    assert elapsed < 5, elapsed

    # the filters reload the panel over htmx: only clicks, and the live list stays live
    page.locator("#timeline").get_by_label("Clicked").check()
    page.locator("#timeline").get_by_role("button", name="Apply").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#timeline-list li.timeline-entry')]"
        ".every(li => li.dataset.type === 'clicked')")
    assert entries.count() == 1
    assert page.evaluate("window.__sameDocument") is True
