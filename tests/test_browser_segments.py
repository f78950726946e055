"""In a real Chromium: build a nested rule A AND (B OR C) with the segment builder (mouse and
keyboard), watch the live count follow, save, recalculate and see the members."""

import json
import re

import pytest
from django_tenants.utils import schema_context

from contacts.models import Contact
from segments.dynamic.services import count_rules
from segments.models import Segment
from segments.selectors import segment_members
from tests.browser import browser_page  # noqa: F401  (fixture)
from tests.test_browser import _fresh_demo_workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

A = {"field": "tags", "operator": "has_any", "value": ["customer"]}
B = {"field": "status", "operator": "equals", "value": "active"}
C = {"field": "tags", "operator": "has_any", "value": ["vip"]}


def demo_count(rules) -> int:
    with schema_context("demo"):
        return count_rules(rules=rules)


def expect_count(page, n: int) -> None:
    page.wait_for_function(
        "n => { const e = document.getElementById('preview-count');"
        " return e && e.textContent.replace(/,/g, '') === String(n)"
        " && document.getElementById('segment-preview').getAttribute('aria-busy') === 'false'; }",
        arg=n)


def tree_of(page) -> dict:
    return json.loads(page.locator("#id_rules").input_value())


def bounce_some_customers() -> None:
    """A few customers neither active nor vip, so (B OR C) narrows A."""
    with schema_context("demo"):
        picked = list(Contact.objects.filter(tags__name="customer").exclude(tags__name="vip")
                      .order_by("pk").values_list("pk", flat=True)[:3])
        assert len(picked) == 3
        Contact.objects.filter(pk__in=picked).update(status="bounced")


def test_browser_build_nested_segment_with_live_count(live_server, browser_page):  # noqa: F811
    _fresh_demo_workspace()
    bounce_some_customers()
    page = browser_page
    base = live_server.url.replace("localhost", "demo.localhost").replace("127.0.0.1", "demo.localhost")
    page.goto(f"{base}/segments/")
    page.get_by_label("Email").fill("demo@example.com")
    page.get_by_label("Password").fill("penguin-demo")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/segments/"))
    page.get_by_role("link", name="New segment").click()
    page.get_by_label("Name").fill("Customers worth a call")

    total = demo_count({"op": "and", "rules": []})
    expect_count(page, total)
    assert page.locator("#id_rules").is_hidden()  # the builder replaces the JSON
    assert page.get_by_role("button", name="Preview count").is_hidden()

    # A
    page.get_by_role("button", name="Add a condition to include rules").click()
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == (
        "Field of condition 1")
    page.get_by_label("Field of condition 1").select_option("tags")
    page.get_by_label("Operator of condition 1").select_option("has_any")
    page.get_by_label("Values of condition 1 (comma-separated)").fill("customer")
    only_a = demo_count({"op": "and", "rules": [A]})
    assert 0 < only_a < total
    expect_count(page, only_a)

    # (B OR C), built by keyboard: C first, then B, then moved up
    page.get_by_role("button", name="Add a group to include rules").click()
    page.get_by_label("Field of condition 2.1").select_option("tags")
    page.get_by_label("Values of condition 2.1 (comma-separated)").fill("vip")
    assert page.get_by_label("Combine the conditions of group 2").input_value() == "or"
    page.get_by_role("button", name="Add a condition to group 2").focus()
    page.keyboard.press("Enter")
    page.get_by_label("Field of condition 2.2").select_option("status")
    page.get_by_label("Operator of condition 2.2").select_option("equals")
    page.get_by_label("Value of condition 2.2").select_option("active")
    page.get_by_role("button", name="Move condition 2.2 up").focus()
    page.keyboard.press("Enter")
    # focus follows the moved condition (now 2.1, at the top: only "down" is left)
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == (
        "Move condition 2.1 down")

    expected = {"op": "and", "rules": [A, {"op": "or", "rules": [B, C]}]}
    assert tree_of(page) == expected
    nested = demo_count(expected)
    assert 0 < nested < only_a
    expect_count(page, nested)
    page.screenshot(path="test-artifacts/segment-builder.png", full_page=True)

    # drag condition 1 below the group, then back by keyboard
    # drag: C to the end of the outer group, then back into group 2; the group above A
    root_actions = page.locator('.rb-root[data-path="rules"] > .rb-group-actions')
    page.locator('[data-path="rules[1].rules[1]"] .rb-handle').drag_to(root_actions)
    assert tree_of(page) == {"op": "and", "rules": [A, {"op": "or", "rules": [B]}, C]}
    page.locator('[data-path="rules[2]"] .rb-handle').drag_to(
        page.locator('[data-path="rules[1].rules"] > .rb-group-actions'))
    assert tree_of(page) == expected
    page.locator('[data-path="rules[1].rules"] > .rb-group-head .rb-handle').drag_to(
        page.locator('li[data-path="rules[0]"]'), target_position={"x": 200, "y": 4})
    assert tree_of(page) == {"op": "and", "rules": [{"op": "or", "rules": [B, C]}, A]}
    page.locator('[data-path="rules[1]"] .rb-handle').drag_to(
        page.locator('li[data-path="rules[0].rules"]'), target_position={"x": 200, "y": 4})
    assert tree_of(page) == {"op": "and", "rules": [A, {"op": "or", "rules": [B, C]}]}
    page.get_by_role("button", name="Move condition 1 down").click()  # and back by keyboard
    page.get_by_role("button", name="Move group 1 down").focus()
    assert tree_of(page) == {"op": "and", "rules": [{"op": "or", "rules": [B, C]}, A]}
    page.keyboard.press("Enter")
    assert tree_of(page) == expected

    # a refused rule is named in the preview
    page.get_by_label("Field of condition 2.2").select_option("created_at")
    page.get_by_label("Operator of condition 2.2").select_option("before")
    page.get_by_label("Value of condition 2.2").fill("")
    page.wait_for_selector("#preview-error")
    assert page.locator("#preview-error").inner_text().startswith("rules[1].rules[1]: created_at")
    assert page.locator('[data-path="rules[1].rules[1]"].rb-invalid').count() == 1
    page.get_by_label("Field of condition 2.2").select_option("tags")
    page.get_by_label("Values of condition 2.2 (comma-separated)").fill("vip")
    expect_count(page, nested)

    page.get_by_role("button", name="Create segment").click()
    page.wait_for_url(re.compile(r"/segments/\d+/$"))
    with schema_context("demo"):
        segment = Segment.objects.get(name="Customers worth a call")
        assert segment.rules == expected
    page.get_by_role("button", name="Refresh now").click()
    page.wait_for_url(re.compile(r"/segments/\d+/$"))
    assert page.get_by_text(f"{nested:,} members.", exact=False).count() >= 1
    with schema_context("demo"):
        members = set(segment_members(segment).values_list("pk", flat=True))
    assert len(members) == nested
    shown = {int(x) for x in page.locator("[data-contact-id]").evaluate_all(
        "rows => rows.map(r => r.getAttribute('data-contact-id'))")}
    assert shown and shown <= members
    assert len(shown) == min(nested, 50) or len(shown) == min(nested, 25)
    page.screenshot(path="test-artifacts/segment-page.png", full_page=True)
    page.get_by_role("link", name="Analytics").click()
    page.wait_for_url(re.compile(r"/analytics/$"))
    assert page.locator("#refreshes tbody tr").count() == 1
    page.screenshot(path="test-artifacts/segment-analytics.png", full_page=True)
    page.goto(f"{base}/segments/")
    assert page.locator(f'tr[data-segment-id="{segment.pk}"] td.num').inner_text() == f"{nested:,}"
    page.screenshot(path="test-artifacts/segment-index.png", full_page=True)
