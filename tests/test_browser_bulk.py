"""In a real Chromium: select contacts in the table, add them to a new list, open the list,
export it and check the downloaded file holds exactly those contacts."""

import csv
import io
import re

import pytest
from django_tenants.utils import schema_context

from contacts.models import Contact
from tests.browser import browser_page  # noqa: F401  (fixture)
from tests.test_browser import _fresh_demo_workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_browser_select_add_to_new_list_and_export_it(live_server, browser_page):  # noqa: F811
    _fresh_demo_workspace()
    page = browser_page
    base = live_server.url.replace("localhost", "demo.localhost").replace("127.0.0.1", "demo.localhost")
    page.goto(f"{base}/contacts/")
    page.get_by_label("Email").fill("demo@example.com")
    page.get_by_label("Password").fill("penguin-demo")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/contacts/"))

    actions = page.locator("[data-bulk-actions]")
    assert actions.is_hidden()  # the bar appears once something is selected
    rows = page.locator("[data-contact-id]")
    chosen = [int(rows.nth(i).get_attribute("data-contact-id")) for i in (0, 2, 3)]
    for i in (0, 2, 3):
        rows.nth(i).locator("[data-bulk-row]").check()
    assert actions.is_visible()
    assert page.locator("[data-bulk-count]").inner_text() == "3 selected"
    page.get_by_label("Action", exact=True).select_option("add_to_list")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("…or a new list named").fill("Browser picks")
    page.get_by_role("button", name="Add to list").click()
    page.wait_for_url(re.compile(r"/contacts/"))
    assert page.get_by_text("Add to list: 3 contacts added to the list.").is_visible()

    page.goto(f"{base}/lists/")
    page.get_by_role("link", name="Browser picks").click()
    page.wait_for_url(re.compile(r"/lists/\d+/"))
    listed = sorted(int(x) for x in page.locator("[data-contact-id]").evaluate_all(
        "rows => rows.map(r => r.getAttribute('data-contact-id'))"))
    assert listed == sorted(chosen)

    page.locator("[data-bulk-page]").check()  # the whole page: all 3 members
    page.get_by_label("Action", exact=True).select_option("export")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Format").select_option("csv")
    page.get_by_role("button", name="Export").click()
    page.wait_for_url(re.compile(r"/exports?/\d+"))
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile("Download")).first.click()
    content = open(info.value.path(), encoding="utf-8-sig").read()
    reader = csv.DictReader(io.StringIO(content))
    email_column = next(name for name in reader.fieldnames if name.lower() == "email")
    exported = sorted(row[email_column] for row in reader)
    with schema_context("demo"):
        expected = sorted(Contact.objects.filter(pk__in=chosen).values_list("email", flat=True))
    assert exported == expected and len(exported) == 3
