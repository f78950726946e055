"""Custom field definitions: contacts.fields services and the /contacts/fields/ pages."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from contacts import fields, services
from contacts.models import Contact, ContactChange, CustomField
from tests.conftest import client_for, in_schema, make_user
from tests.factories import ContactFactory, CustomFieldFactory


def test_create_custom_field_places_it_last(tenant):
    CustomFieldFactory(key="first", position=4)
    field = fields.create_custom_field(key="plan_tier", label=" Plan tier ", field_type="text")
    assert (field.key, field.label, field.field_type, field.position) == (
        "plan_tier",
        "Plan tier",
        "text",
        5,
    )


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            "Plan",
            "Use 1–50 lower-case letters, digits or underscores, starting with a letter "
            "(for example: plan_tier).",
        ),
        (
            "1st",
            "Use 1–50 lower-case letters, digits or underscores, starting with a letter "
            "(for example: plan_tier).",
        ),
        (
            "plan-tier",
            "Use 1–50 lower-case letters, digits or underscores, starting with a "
            "letter (for example: plan_tier).",
        ),
        ("company", "'company' is a built-in contact field; choose another key."),
        ("email", "'email' is a built-in contact field; choose another key."),
        ("taken", "A custom field with the key 'taken' already exists."),
    ],
)
def test_create_custom_field_refuses_bad_keys(tenant, key, message):
    CustomFieldFactory(key="taken")
    with pytest.raises(ValidationError) as caught:
        fields.create_custom_field(key=key, label="X", field_type="text")
    assert caught.value.messages == [message]
    assert CustomField.objects.count() == 1


def test_update_custom_field_type_refused_when_values_exist(tenant):
    field = CustomFieldFactory(key="seats", label="Seats", field_type="text")
    ContactFactory(custom_fields={"seats": "ten"})
    with pytest.raises(ValidationError) as caught:
        fields.update_custom_field(field=field, label="Seats", field_type="number", position=0)
    assert caught.value.messages == [
        "The type of “Seats” can't be changed because contacts already have values for it. "
        "Create a new field with the type you need instead."
    ]
    field.refresh_from_db()
    assert field.field_type == "text"
    renamed = fields.update_custom_field(
        field=field, label="Seat count", field_type="text", position=3
    )
    assert (renamed.label, renamed.position) == ("Seat count", 3)


def test_update_custom_field_type_allowed_without_values(tenant):
    field = CustomFieldFactory(key="seats", field_type="text")
    ContactFactory(custom_fields={"other": 1})
    fields.update_custom_field(field=field, label="Seats", field_type="number", position=0)
    field.refresh_from_db()
    assert field.field_type == "number"


def test_delete_custom_field_removes_values_and_records_history(tenant):
    actor = make_user(tenant, "admin")
    doomed = CustomFieldFactory(key="plan", field_type="text")
    CustomFieldFactory(key="seats", field_type="number")
    both = services.create_contact(
        data={"email": "both@example.com", "custom_fields": {"plan": "Pro", "seats": 3}}
    )
    only = services.create_contact(
        data={"email": "only@example.com", "custom_fields": {"plan": "Free"}}
    )
    untouched = services.create_contact(
        data={"email": "none@example.com", "custom_fields": {"seats": 1}}
    )
    assert fields.count_field_values(key="plan") == 2
    changed = fields.delete_custom_field(field=doomed, actor=actor)
    assert changed == 2
    assert not CustomField.objects.filter(key="plan").exists()
    values = dict(Contact.objects.values_list("email", "custom_fields"))
    assert values == {
        "both@example.com": {"seats": 3},
        "only@example.com": {},
        "none@example.com": {"seats": 1},
    }
    history = {
        c.contact_id: (c.changes, c.actor_id, c.source)
        for c in ContactChange.objects.filter(action="updated")
    }
    assert history == {
        both.pk: ({"custom_fields": [{"plan": "Pro", "seats": 3}, {"seats": 3}]}, actor.pk, "ui"),
        only.pk: ({"custom_fields": [{"plan": "Free"}, {}]}, actor.pk, "ui"),
    }
    assert Contact.objects.get(pk=only.pk).updated_by_id == actor.pk
    assert untouched.pk not in history


# --- pages ------------------------------------------------------------------------------------


def test_field_pages_list_and_create(owner_client):
    CustomFieldFactory(key="seats", label="Seats", field_type="number")
    page = owner_client.get("/contacts/fields/").content.decode()
    assert "<td>Seats</td>" in page and "<td><code>seats</code></td>" in page
    response = owner_client.post(
        "/contacts/fields/new/",
        {
            "key": "renewal",
            "label": "Renewal date",
            "field_type": "date",
            "position": "",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/contacts/fields/"
    field = CustomField.objects.get(key="renewal")
    assert (field.label, field.field_type, field.position) == ("Renewal date", "date", 1)
    form = owner_client.get("/contacts/new/").content.decode()
    assert '<label for="id_cf_renewal">Renewal date</label>' in form
    assert '<input type="date" name="cf_renewal" id="id_cf_renewal">' in form


def test_field_create_page_shows_key_error(owner_client):
    response = owner_client.post(
        "/contacts/fields/new/",
        {
            "key": "status",
            "label": "Status 2",
            "field_type": "text",
        },
    )
    assert response.status_code == 400
    assert (
        '<p class="field-error" id="id_key_error">&#x27;status&#x27; is a built-in contact '
        "field; choose another key.</p>"
    ) in response.content.decode()
    assert not CustomField.objects.exists()


def test_field_edit_page_refuses_type_change_with_values(admin_user):
    client = client_for(connection.tenant, admin_user)
    field = CustomFieldFactory(key="seats", label="Seats", field_type="text")
    ContactFactory(custom_fields={"seats": "ten"})
    response = client.post(
        f"/contacts/fields/{field.pk}/edit/",
        {
            "key": "ignored",
            "label": "Seats",
            "field_type": "number",
            "position": "0",
        },
    )
    assert response.status_code == 400
    assert (
        "The type of “Seats” can&#x27;t be changed because contacts already have values for it."
    ) in response.content.decode()
    response = client.post(
        f"/contacts/fields/{field.pk}/edit/",
        {
            "key": "ignored",
            "label": "Seat count",
            "field_type": "text",
            "position": "",
        },
    )
    assert response.status_code == 302
    field.refresh_from_db()
    assert (field.key, field.label, field.field_type) == ("seats", "Seat count", "text")


def test_field_delete_page_counts_then_deletes(owner_client):
    field = CustomFieldFactory(key="plan", label="Plan")
    ContactFactory.create_batch(2, custom_fields={"plan": "Pro"})
    confirm = owner_client.get(f"/contacts/fields/{field.pk}/delete/").content.decode()
    assert "<strong>2 contacts</strong> have a value for it." in confirm
    response = owner_client.post(f"/contacts/fields/{field.pk}/delete/", follow=True)
    assert "Custom field “Plan” deleted; its value was removed from 2 contacts." in (
        response.content.decode()
    )
    assert not CustomField.objects.exists()
    assert list(Contact.objects.values_list("custom_fields", flat=True)) == [{}, {}]


@pytest.mark.parametrize("role", ["marketer", "viewer"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/contacts/fields/"),
        ("get", "/contacts/fields/new/"),
        ("post", "/contacts/fields/new/"),
        ("get", "/contacts/fields/{pk}/edit/"),
        ("post", "/contacts/fields/{pk}/edit/"),
        ("post", "/contacts/fields/{pk}/delete/"),
    ],
)
def test_field_pages_need_manage_fields(tenant, role, method, path):
    field = CustomFieldFactory(key="plan", label="Plan")
    client = client_for(tenant, make_user(tenant, role))
    data = {"key": "x", "label": "Changed", "field_type": "number"} if method == "post" else None
    response = getattr(client, method)(path.format(pk=field.pk), data)
    assert response.status_code == 403
    field.refresh_from_db()
    assert (CustomField.objects.count(), field.label) == (1, "Plan")


def test_field_of_one_tenant_is_invisible_to_another(tenant, other_tenant):
    field = CustomFieldFactory(key="secret_plan", label="Secret plan")
    client = client_for(other_tenant, make_user(other_tenant, "owner"))
    with in_schema(other_tenant):
        assert not CustomField.objects.exists()
    assert "Secret plan" not in client.get("/contacts/fields/").content.decode()
    assert "cf_secret_plan" not in client.get("/contacts/new/").content.decode()
    assert client.get(f"/contacts/fields/{field.pk}/edit/").status_code == 404
    assert client.post(f"/contacts/fields/{field.pk}/delete/").status_code == 404
    connection.set_tenant(tenant)
    assert CustomField.objects.filter(pk=field.pk).exists()
