"""`manage.py export_contacts` and exports of a static list."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from contacts.models import Contact
from segments.services import add_contacts_to_list, get_or_create_list
from tests.exports_helpers import export_bytes, xlsx_rows
from tests.factories import ContactFactory


@pytest.fixture
def leads(tenant):
    """A list "Leads" holding ann and cy (not bo). Names and companies are fixed: a random
    "Bolton" or "Boyer Inc" would match the searches below."""
    ann = ContactFactory(email="ann@acme-mail.com", first_name="Ann", last_name="Ames",
                         company="Acme")
    ContactFactory(email="bo@acme-mail.com", first_name="Bo", last_name="Ames", company="Acme")
    cy = ContactFactory(email="cy@acme-mail.com", first_name="Cy", last_name="Ames",
                        company="Acme")
    static_list = get_or_create_list(name="Leads")
    add_contacts_to_list(static_list=static_list, ids_sql="SELECT unnest(%s::bigint[])",
                         params=[[ann.pk, cy.pk]], source="manual")
    return static_list


def test_export_of_a_list_has_its_members_only(leads):
    content = export_bytes(["email"], "xlsx", {"kind": "list", "list_id": leads.pk})
    within = export_bytes(["email"], "csv", {"kind": "filter", "list_id": leads.pk,
                                             "filters": {"search": "cy"}})

    assert xlsx_rows(content) == [["email"], ["ann@acme-mail.com"], ["cy@acme-mail.com"]]
    assert within.decode("utf-8-sig") == "email\ncy@acme-mail.com\n"


def test_command_exports_a_list_to_a_file(leads, tmp_path, capsys):
    target = tmp_path / "leads.csv"

    call_command("export_contacts", "--tenant", "alpha", "--format", "csv", "--list", "leads",
                 "--columns", "email,first_name", "-o", str(target))

    assert target.read_bytes() == (
        b"\xef\xbb\xbfemail,first_name\nann@acme-mail.com,Ann\ncy@acme-mail.com,Cy\n")
    assert capsys.readouterr().err == "Exported 2 contacts.\n"
    assert not (tmp_path / "leads.csv.part").exists()


def test_command_writes_json_lines_to_stdout_for_a_search(leads, capfdbinary):
    call_command("export_contacts", "--tenant", "alpha", "--format", "jsonl", "--search", "bo",
                 "--columns", "email", "-o", "-")

    out = capfdbinary.readouterr().out
    assert [json.loads(line) for line in out.decode().splitlines()] == [
        {"email": "bo@acme-mail.com"}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nobody"], "No tenant with schema 'nobody'."),
        (["--tenant", "public"], "No tenant with schema 'public'."),
        (["--tenant", "alpha", "--list", "Nope"], "No list named 'Nope'."),
        (["--tenant", "alpha", "--columns", "email,secret"], 'Unknown column "secret".'),
    ],
)
def test_command_refuses_bad_arguments(leads, tmp_path, args, message):
    target = tmp_path / "out.csv"
    with pytest.raises(CommandError) as refused:
        call_command("export_contacts", *args, "-o", str(target))

    assert str(refused.value) == message
    assert not target.exists() and list(tmp_path.iterdir()) == []
    assert Contact.objects.count() == 3
