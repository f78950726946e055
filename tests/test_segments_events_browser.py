"""In a real Chromium: the segment builder's engagement fields — an "Email activity" condition
edited with its small value editor (type, campaign, days) and a score band — keep the JSON
and the live count right, and the segment saves with those rules."""

import datetime as dt
import json
import re

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from engagement.models import EmailEvent
from segments.dynamic.services import count_rules
from segments.models import Campaign, Segment
from tests.browser import browser_page  # noqa: F401  (fixture)
from tests.test_browser import _fresh_demo_workspace
from tests.test_browser_segments import expect_count, tree_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def seed_events() -> int:
    """Clicks of campaign "Launch" by three demo contacts, opens by two; returns its id. (Rows
    written directly: ingest_events pushes over channels, which cannot run in the thread
    Playwright's event loop holds.)"""
    with schema_context("demo"):
        from contacts.models import Contact

        launch = Campaign.objects.create(name="Launch")
        ids = list(Contact.objects.order_by("pk").values_list("pk", flat=True)[:5])
        at = timezone.now() - dt.timedelta(days=2)
        EmailEvent.objects.bulk_create(
            EmailEvent(event_id=f"browser-{i}", contact_id=pk, campaign=launch, occurred_at=at,
                       type="clicked" if i < 3 else "opened")
            for i, pk in enumerate(ids))
        return launch.pk


def test_browser_event_and_score_conditions(live_server, browser_page):  # noqa: F811
    _fresh_demo_workspace()
    launch = seed_events()
    page = browser_page
    base = live_server.url.replace("localhost", "demo.localhost").replace(
        "127.0.0.1", "demo.localhost")
    page.goto(f"{base}/segments/new/")
    page.get_by_label("Email").fill("demo@example.com")
    page.get_by_label("Password").fill("penguin-demo")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/segments/new/"))
    page.get_by_label("Name").fill("Clicked the launch lately")

    page.get_by_role("button", name="Add a condition to include rules").click()
    page.get_by_label("Field of condition 1").select_option("event")
    assert page.get_by_label("Operator of condition 1").input_value() == "has_any"
    page.get_by_label("Event type of condition 1").select_option("clicked")
    page.get_by_label("Campaign of condition 1").select_option(str(launch))
    page.get_by_label("Days of condition 1").fill("14")
    event = {"field": "event", "operator": "has_any",
             "value": {"type": "clicked", "campaign": launch, "in_last_days": 14}}
    assert tree_of(page) == {"op": "and", "rules": [event]}
    expect_count(page, 3)

    page.get_by_role("button", name="Add a condition to include rules").click()
    page.get_by_label("Field of condition 2").select_option("score_band")
    page.get_by_label("Operator of condition 2").select_option("not_equals")
    page.get_by_label("Value of condition 2").select_option("hot")
    band = {"field": "score_band", "operator": "not_equals", "value": "hot"}
    expected = {"op": "and", "rules": [event, band]}
    assert tree_of(page) == expected
    with schema_context("demo"):
        assert count_rules(rules=expected) == 3
    # Any time instead of the last 14 days: the key goes away.
    page.get_by_label("Days of condition 1").fill("")
    assert "in_last_days" not in json.dumps(tree_of(page))
    page.get_by_label("Days of condition 1").fill("14")
    expect_count(page, 3)
    page.screenshot(path="test-artifacts/segment-builder-events.png", full_page=True)

    page.get_by_role("button", name="Create segment").click()
    page.wait_for_url(re.compile(r"/segments/\d+/$"))
    with schema_context("demo"):
        assert Segment.objects.get(name="Clicked the launch lately").rules == expected
    text = page.locator("main").inner_text()
    assert "Email activity includes a click of “Launch” in the last 14 days" in text
