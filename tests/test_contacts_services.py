"""contacts.services: validation, duplicates, history and pushes of contact writes."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError

from contacts import services
from contacts.models import Contact, ContactChange, Tag
from penguinleads.realtime import group_name
from tests.conftest import in_schema
from tests.factories import ContactFactory, CustomFieldFactory, TagFactory, UserFactory


def test_create_contact_normalizes_email_and_records_history(tenant):
    actor = UserFactory()
    contact = services.create_contact(
        data={"email": " Jane@Example.COM ", "first_name": " Jane ", "company": "Acme"},
        tags=["vip", " Newsletter", "VIP"],
        actor=actor,
        source="api",
    )
    assert (contact.email, contact.email_normalized) == ("Jane@example.com", "jane@example.com")
    assert (contact.first_name, contact.source, contact.created_by) == ("Jane", "api", actor)
    assert sorted(contact.tags.values_list("name", flat=True)) == ["Newsletter", "vip"]
    change = ContactChange.objects.get()
    assert (change.action, change.actor, change.source) == ("created", actor, "api")
    assert change.changes == {
        "email": [None, "Jane@example.com"],
        "first_name": [None, "Jane"],
        "company": [None, "Acme"],
        "status": [None, "active"],
        "tags": [[], ["Newsletter", "vip"]],
    }


def test_create_contact_requires_email(tenant):
    with pytest.raises(ValidationError) as caught:
        services.create_contact(data={"first_name": "Nobody"})
    assert caught.value.message_dict == {"email": ["An email address is required."]}
    assert Contact.objects.count() == 0


def test_create_contact_reports_every_bad_field(tenant):
    with pytest.raises(ValidationError) as caught:
        services.create_contact(
            data={"email": "not-an-email", "company": "x" * 201, "status": "gone"}
        )
    assert caught.value.message_dict == {
        "email": ["An email address must have an @-sign."],
        "company": ["At most 200 characters (got 201)."],
        "status": ["Unknown status 'gone'; use one of: active, unsubscribed, bounced."],
    }


@pytest.mark.parametrize(
    ("again", "shown"),
    [
        ("JANE@example.com", "JANE@example.com"),
        ("jane@EXAMPLE.com ", "jane@example.com"),
        ("Jane@Example.Com", "Jane@example.com"),
    ],
)
def test_create_contact_duplicate_email_names_existing(tenant, again, shown):
    first = services.create_contact(data={"email": "jane@example.com"})
    with pytest.raises(services.DuplicateEmail) as caught:
        services.create_contact(data={"email": again})
    assert caught.value.existing_id == first.pk
    assert caught.value.messages == [f"A contact with the email {shown} already exists."]
    assert Contact.objects.count() == 1


def test_create_contact_idn_domain_is_same_contact_as_punycode(tenant):
    first = services.create_contact(data={"email": "anna@bücher.de"})
    assert first.email_normalized == "anna@xn--bcher-kva.de"
    with pytest.raises(services.DuplicateEmail) as caught:
        services.create_contact(data={"email": "Anna@XN--BCHER-KVA.DE"})
    assert caught.value.existing_id == first.pk


def test_same_email_in_two_tenants_is_two_contacts(tenant, other_tenant):
    services.create_contact(data={"email": "shared@example.com", "company": "Alpha"})
    with in_schema(other_tenant):
        other = services.create_contact(data={"email": "shared@example.com", "company": "Beta"})
        assert list(Contact.objects.values_list("company", flat=True)) == ["Beta"]
    assert list(Contact.objects.values_list("company", flat=True)) == ["Alpha"]
    assert other.pk is not None


def test_update_contact_records_exact_old_and_new(tenant):
    actor = UserFactory()
    CustomFieldFactory(key="plan", field_type="text")
    contact = services.create_contact(
        data={"email": "a@example.com", "company": "Acme", "custom_fields": {"plan": "Free"}},
        tags=["vip"],
    )
    services.update_contact(
        contact=contact,
        data={"company": "Globex", "status": "bounced", "custom_fields": {"plan": None}},
        tags=["VIP", "customer"],
        actor=actor,
        source="import:7",
    )
    contact.refresh_from_db()
    assert (contact.company, contact.status, contact.custom_fields) == ("Globex", "bounced", {})
    assert contact.updated_by == actor
    change = ContactChange.objects.get(action="updated")
    assert (change.actor, change.source) == (actor, "import:7")
    assert change.changes == {
        "company": ["Acme", "Globex"],
        "status": ["active", "bounced"],
        "custom_fields": [{"plan": "Free"}, {}],
        "tags": [["vip"], ["customer", "VIP"]],
    }


def test_update_contact_without_changes_records_nothing(tenant):
    contact = services.create_contact(
        data={"email": "a@example.com", "company": "Acme"}, tags=["vip"]
    )
    services.update_contact(contact=contact, data={"company": " Acme "}, tags=["VIP"])
    assert list(ContactChange.objects.values_list("action", flat=True)) == ["created"]
    assert list(contact.tags.values_list("name", flat=True)) == ["vip"]


def test_update_contact_to_taken_email_is_refused(tenant):
    taken = services.create_contact(data={"email": "taken@example.com"})
    mine = services.create_contact(data={"email": "mine@example.com"})
    with pytest.raises(services.DuplicateEmail) as caught:
        services.update_contact(contact=mine, data={"email": "TAKEN@example.com"})
    assert caught.value.existing_id == taken.pk
    mine.refresh_from_db()
    assert mine.email == "mine@example.com"


def test_delete_contact_keeps_its_history_under_its_id(tenant):
    actor = UserFactory()
    contact = services.create_contact(data={"email": "gone@example.com"}, tags=["vip"])
    pk = contact.pk
    services.delete_contact(contact=contact, actor=actor)
    assert Contact.objects.count() == 0
    assert Tag.objects.filter(name="vip").exists()
    rows = list(
        ContactChange.objects.order_by("id").values_list(
            "action", "contact_id", "contact_email", "actor_id"
        )
    )
    assert rows == [
        ("created", pk, "gone@example.com", None),
        ("deleted", pk, "gone@example.com", actor.pk),
    ]


def test_clean_custom_fields_reports_unknown_and_bad_values(tenant):
    CustomFieldFactory(key="seats", field_type="number")
    CustomFieldFactory(key="renewal", field_type="date")
    CustomFieldFactory(key="trial", field_type="boolean")
    values, errors = services.clean_custom_fields(
        {"seats": "1,200", "renewal": "2026-02-30", "trial": "maybe", "colour": "red"}
    )
    assert values == {"seats": 1200}
    assert errors == {
        "custom_fields.renewal": ["'2026-02-30' is not a date (use YYYY-MM-DD)."],
        "custom_fields.trial": ["'maybe' is not yes/no."],
        "custom_fields.colour": ["Unknown custom field 'colour' (known: renewal, seats, trial)."],
    }
    assert services.clean_custom_fields(["seats"]) == (
        {},
        {"custom_fields": ["Must be an object of {field key: value}."]},
    )


@pytest.mark.parametrize(
    ("field_type", "raw", "stored"),
    [
        ("number", "42", 42),
        ("number", " 2.5 ", 2.5),
        ("number", 7, 7),
        ("date", "2026-01-31", "2026-01-31"),
        ("date", dt.date(2026, 1, 31), "2026-01-31"),
        ("boolean", "Yes", True),
        ("boolean", "0", False),
        ("boolean", False, False),
        ("text", "  hello ", "hello"),
        ("text", "", None),
        ("number", None, None),
    ],
)
def test_coerce_custom_value(field_type, raw, stored):
    assert services.coerce_custom_value(field_type, raw) == stored


@pytest.mark.parametrize(
    ("field_type", "raw", "message"),
    [
        ("number", "abc", "'abc' is not a number."),
        ("number", "NaN", "Must be a finite number."),
        ("number", True, "Must be a number."),
        ("text", "x" * 1001, "At most 1000 characters."),
    ],
)
def test_coerce_custom_value_refuses(field_type, raw, message):
    with pytest.raises(ValueError) as caught:
        services.coerce_custom_value(field_type, raw)
    assert str(caught.value) == message


def test_clean_tag_names_dedups_and_trims():
    assert services.clean_tag_names(" vip ,VIP, new   customer,, ") == ["vip", "new customer"]
    assert services.clean_tag_names(None) == []
    with pytest.raises(ValidationError) as caught:
        services.clean_tag_names(["a" * 65])
    assert caught.value.messages == [f"Tag {'a' * 20!r}… is longer than 64 characters."]


def test_ensure_tags_reuses_existing_case_insensitively(tenant):
    existing = TagFactory(name="VIP")
    tags = services.ensure_tags(["vip", "Prospect"])
    assert [t.name for t in tags] == ["VIP", "Prospect"]
    assert tags[0].pk == existing.pk
    assert Tag.objects.count() == 2


def test_upsert_contacts_creates_updates_and_reports_bad_items(tenant):
    ContactFactory(email="old@example.com", email_normalized="old@example.com", company="Acme")
    results = services.upsert_contacts(
        items=[
            {"email": "new@example.com", "company": "Globex", "tags": ["vip"]},
            {"email": "old@example.com", "company": "Initech"},
            {"email": "bad"},
            {"email": "new@example.com"},
        ],
        source="api",
    )
    assert [r.as_dict()["status"] for r in results] == ["created", "updated", "error", "error"]
    assert results[2].errors == {"email": ["An email address must have an @-sign."]}
    assert results[3].errors == {"email": ["Same email as item 0 of this batch."]}
    companies = dict(Contact.objects.values_list("email_normalized", "company"))
    assert companies == {"new@example.com": "Globex", "old@example.com": "Initech"}
    updated = ContactChange.objects.get(action="updated")
    assert updated.changes == {"company": ["Acme", "Initech"]}


def test_create_contact_pushes_event_to_own_tenant_only(
    tenant, other_tenant, django_capture_on_commit_callbacks
):
    layer = get_channel_layer()
    own = async_to_sync(layer.new_channel)()
    other = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group_name(tenant.schema_name, "contacts"), own)
    async_to_sync(layer.group_add)(group_name(other_tenant.schema_name, "contacts"), other)
    with django_capture_on_commit_callbacks(execute=True):
        contact = services.create_contact(data={"email": "live@example.com"})
    message = async_to_sync(layer.receive)(own)
    assert message == {"type": "tenant.event", "event": {"action": "created", "ids": [contact.pk]}}

    async def nothing_for_other():
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(other), timeout=0.2)

    async_to_sync(nothing_for_other)()


def test_a_raw_delete_removes_tags_and_detaches_history_in_its_own_tenant_only(
        tenant, other_tenant):
    """Tags and history have no foreign-key constraint (bulk speed): the contacts' delete
    trigger must remove the tags of set-based deletes, and only in the schema it runs in."""
    from django.db import connection

    with in_schema(other_tenant):
        theirs = services.create_contact(data={"email": "twin@example.com"}, tags=["vip"])
    ours = services.create_contact(data={"email": "twin@example.com"}, tags=["vip"])
    assert ContactChange.objects.filter(contact_id=ours.pk).exists()

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM contacts_contact WHERE id = %s", [ours.pk])

    assert not Contact.tags.through.objects.filter(contact_id=ours.pk).exists()
    # History is kept under the contact's id (nothing rewrites it on delete).
    assert ContactChange.objects.filter(contact_id=ours.pk).exists()
    with in_schema(other_tenant):
        assert [t.name for t in Contact.objects.get(pk=theirs.pk).tags.all()] == ["vip"]
        assert ContactChange.objects.filter(contact_id=theirs.pk).exists()
