"""A marketer's first minutes in the demo workspace, in a real Chromium."""

import re

import pytest
from django.core.management import call_command
from django.db import connection
from django_tenants.utils import schema_context

from contacts.models import Contact
from penguinleads.tenants.models import Tenant
from tests.browser import browser_page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _fresh_demo_workspace() -> None:
    """Run the same set-up as `make run` (demo tenant, owner, demo contacts) in the test DB."""
    if not Tenant.objects.filter(schema_name="demo").exists():
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA IF EXISTS demo CASCADE")
    call_command("setup_demo", contacts=120)
    connection.set_schema_to_public()


def test_browser_demo_login_create_search_edit(live_server, browser_page):  # noqa: F811
    _fresh_demo_workspace()
    page = browser_page
    base = live_server.url.replace("localhost", "demo.localhost").replace("127.0.0.1", "demo.localhost")

    page.goto(f"{base}/contacts/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Email").fill("demo@example.com")
    page.get_by_label("Password").fill("penguin-demo")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/contacts/"))
    assert page.get_by_role("heading", name="Contacts").is_visible()

    page.get_by_role("link", name=re.compile("Add contact")).first.click()
    page.get_by_label("Email").fill("Ada.Lovelace@Analytical-Engines.example.com")
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Lovelace")
    page.get_by_label("Company").fill("Analytical Engines")
    page.get_by_role("button", name=re.compile("Save|Create")).click()
    page.wait_for_url(re.compile(r"/contacts/\d+/$"))
    assert page.get_by_text("ada.lovelace@analytical-engines.example.com", exact=False).count() >= 1

    page.goto(f"{base}/contacts/")
    page.get_by_role("searchbox").fill("lovelace")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=lovelace"))
    rows = page.locator("[data-contact-id]")
    assert rows.count() == 1
    rows.first.get_by_role("link").first.click()
    page.wait_for_url(re.compile(r"/contacts/\d+/$"))

    page.get_by_role("link", name=re.compile("^Edit")).click()
    page.get_by_label("Company").fill("Babbage & Co")
    page.get_by_role("button", name=re.compile("Save")).click()
    page.wait_for_url(re.compile(r"/contacts/\d+/$"))
    assert page.get_by_text("Babbage & Co").first.is_visible()

    with schema_context("demo"):
        contact = Contact.objects.get(email_normalized="ada.lovelace@analytical-engines.example.com")
        assert contact.company == "Babbage & Co"
        assert contact.first_name == "Ada"
        assert list(contact.changes.values_list("action", flat=True)) == ["updated", "created"]
