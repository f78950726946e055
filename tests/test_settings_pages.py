"""The Settings pages: who sees what, the team rules and API keys."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext

from penguinleads.accounts import services
from penguinleads.accounts.models import ApiKey, Role, User
from penguinleads.api.keys import create_api_key
from tests.conftest import client_for, in_schema, make_user

PASSWORD = "pw-secret-123"
KEY_RE = re.compile(
    r'<code class="secret" id="new-key"[^>]*>(pl_[a-z0-9]{8}_[A-Za-z0-9]{40})</code>'
)


def text(response) -> str:
    return response.content.decode()


def only_owner(owner: User) -> None:
    """Leave `owner` as the only active owner (create_tenant made another one)."""
    User.objects.filter(role=Role.OWNER).exclude(pk=owner.pk).update(is_active=False)


# --- who sees what ------------------------------------------------------------------------------


def test_settings_page_shows_team_and_keys_to_owner(tenant, owner, marketer):
    create_api_key(name="Zapier", created_by=owner)

    response = client_for(tenant, owner).get("/settings/")

    assert response.status_code == 200
    page = text(response)
    assert 'id="team"' in page and 'id="api-keys"' in page
    assert marketer.email in page
    assert "Zapier" in page
    assert '<a class="btn small" href="/contacts/fields/">Manage custom fields</a>' in page
    assert "Alpha Inc" in page


def test_settings_page_for_viewer_shows_only_what_they_may_see(tenant, viewer, marketer):
    create_api_key(name="Zapier")

    response = client_for(tenant, viewer).get("/settings/")

    assert response.status_code == 200
    page = text(response)
    assert 'id="team"' not in page and 'id="api-keys"' not in page
    assert marketer.email not in page
    assert "Zapier" not in page
    assert "/contacts/fields/" not in page  # that page is for owners and admins
    assert "Owners and admins of this workspace add and change them." in page
    assert viewer.email in page  # their own account section
    assert "Alpha Inc" in page


TEAM_AND_KEY_PAGES = [
    "/settings/team/",
    "/settings/team/add/",
    "/settings/api-keys/",
    "/settings/api-keys/new/",
]


@pytest.mark.parametrize("role", ["marketer", "viewer"])
@pytest.mark.parametrize("url", TEAM_AND_KEY_PAGES)
def test_team_and_key_pages_are_forbidden_below_admin(tenant, role, url):
    response = client_for(tenant, make_user(tenant, role)).get(url)

    assert response.status_code == 403


@pytest.mark.parametrize("role", ["marketer", "viewer"])
def test_team_and_key_writes_are_forbidden_below_admin(tenant, role, owner):
    api_key, _ = create_api_key(name="Zapier")
    client = client_for(tenant, make_user(tenant, role))

    responses = [
        client.post("/settings/team/add/", {"email": "new@example.com", "role": "viewer"}),
        client.post(f"/settings/team/{owner.pk}/", {"role": "viewer"}),
        client.post(f"/settings/team/{owner.pk}/deactivate/"),
        client.post("/settings/api-keys/new/", {"name": "Mine"}),
        client.post(f"/settings/api-keys/{api_key.pk}/revoke/"),
    ]

    assert [r.status_code for r in responses] == [403] * 5
    assert not User.objects.filter(email="new@example.com").exists()
    owner.refresh_from_db()
    assert (owner.role, owner.is_active) == (Role.OWNER, True)
    assert list(ApiKey.objects.values_list("name", "revoked_at")) == [("Zapier", None)]


@pytest.mark.parametrize("role", ["owner", "admin"])
@pytest.mark.parametrize("url", TEAM_AND_KEY_PAGES)
def test_team_and_key_pages_open_for_owner_and_admin(tenant, role, url):
    assert client_for(tenant, make_user(tenant, role)).get(url).status_code == 200


# --- team --------------------------------------------------------------------------------------


def test_add_member_with_password_can_sign_in(tenant, admin_user):
    response = client_for(tenant, admin_user).post(
        "/settings/team/add/",
        {
            "email": "New.Person@Example.com",
            "full_name": "New Person",
            "role": "marketer",
            "password": "initial-pass-42",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/settings/team/"
    member = User.objects.get(email="new.person@example.com")
    assert (member.full_name, member.role, member.is_active) == ("New Person", "marketer", True)
    assert mail.outbox == []
    login = client_for(tenant).post(
        "/accounts/login/", {"username": "new.person@example.com", "password": "initial-pass-42"}
    )
    assert login.status_code == 302


def test_add_member_without_password_emails_a_set_password_link(tenant, owner):
    client_for(tenant, owner).post(
        "/settings/team/add/", {"email": "invitee@example.com", "role": "viewer"}
    )

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["invitee@example.com"]
    assert message.subject == "You have been added to Alpha Inc on PenguinLeads"
    link = re.search(r"http://alpha\.localhost(/accounts/reset/\S+/)", message.body)[1]
    client = client_for(tenant)
    form_page = client.get(link, follow=True)
    client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "chosen-pass-42", "new_password2": "chosen-pass-42"},
    )
    login = client_for(tenant).post(
        "/accounts/login/", {"username": "invitee@example.com", "password": "chosen-pass-42"}
    )
    assert login.status_code == 302


def test_add_member_refuses_existing_email_in_any_case(tenant, owner, marketer):
    response = client_for(tenant, owner).post(
        "/settings/team/add/", {"email": marketer.email.upper(), "role": "viewer"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "email": [f"{marketer.email} is already a member of this workspace."]
    }


def test_add_member_refuses_weak_password(tenant, owner):
    response = client_for(tenant, owner).post(
        "/settings/team/add/", {"email": "weak@example.com", "role": "viewer", "password": "123"}
    )

    assert response.context["form"].errors == {
        "password": [
            "This password is too short. It must contain at least 8 characters.",
            "This password is too common.",
        ]
    }
    assert not User.objects.filter(email="weak@example.com").exists()


def test_admin_cannot_create_an_owner(tenant, admin_user):
    response = client_for(tenant, admin_user).post(
        "/settings/team/add/", {"email": "boss@example.com", "role": "owner"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "role": ["Select a valid choice. owner is not one of the available choices."]
    }
    assert not User.objects.filter(email="boss@example.com").exists()


def test_owner_can_create_an_owner(tenant, owner):
    client_for(tenant, owner).post(
        "/settings/team/add/",
        {"email": "boss@example.com", "role": "owner", "password": "x-pass-4242"},
    )

    assert User.objects.get(email="boss@example.com").role == Role.OWNER


def test_admin_cannot_promote_to_owner(tenant, admin_user, marketer):
    response = client_for(tenant, admin_user).post(
        f"/settings/team/{marketer.pk}/", {"role": "owner"}
    )

    assert response.context["form"].errors == {
        "role": ["Select a valid choice. owner is not one of the available choices."]
    }
    marketer.refresh_from_db()
    assert marketer.role == Role.MARKETER


def test_admin_cannot_change_or_deactivate_an_owner(tenant, admin_user, owner):
    client = client_for(tenant, admin_user)

    page = client.get(f"/settings/team/{owner.pk}/")
    change = client.post(f"/settings/team/{owner.pk}/", {"role": "viewer"})
    deactivate = client.post(f"/settings/team/{owner.pk}/deactivate/")

    assert "Only an owner can change an owner." in text(page)
    assert (change.status_code, deactivate.status_code) == (403, 403)
    owner.refresh_from_db()
    assert (owner.role, owner.is_active) == (Role.OWNER, True)


def test_admin_changes_a_marketer_to_viewer(tenant, admin_user, marketer):
    response = client_for(tenant, admin_user).post(
        f"/settings/team/{marketer.pk}/", {"role": "viewer"}
    )

    assert response.status_code == 302
    marketer.refresh_from_db()
    assert marketer.role == Role.VIEWER


def test_last_owner_cannot_demote_themselves(tenant, owner):
    only_owner(owner)

    response = client_for(tenant, owner).post(f"/settings/team/{owner.pk}/", {"role": "admin"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        f"{owner.email} is the last active owner; make someone else owner first."
    ]
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_owner_may_step_down_when_another_owner_remains(tenant, owner):
    # create_tenant made owner@alpha.example.com, who stays an active owner.
    client_for(tenant, owner).post(f"/settings/team/{owner.pk}/", {"role": "admin"})

    owner.refresh_from_db()
    assert owner.role == Role.ADMIN


def test_last_owner_cannot_be_deactivated_even_by_support(tenant, owner):
    only_owner(owner)
    support = make_user(tenant, "admin", email="support+x@penguin.test")
    User.objects.filter(pk=support.pk).update(is_superuser=True, is_staff=True)
    support.refresh_from_db()

    response = client_for(tenant, support).post(
        f"/settings/team/{owner.pk}/deactivate/", follow=True
    )

    assert f"{owner.email} is the last active owner." in text(response)
    owner.refresh_from_db()
    assert owner.is_active is True


def test_user_cannot_deactivate_themselves(tenant, admin_user):
    response = client_for(tenant, admin_user).post(
        f"/settings/team/{admin_user.pk}/deactivate/", follow=True
    )

    assert "You cannot deactivate yourself." in text(response)
    admin_user.refresh_from_db()
    assert admin_user.is_active is True


def test_deactivated_member_is_signed_out_and_reactivation_restores(tenant, owner, marketer):
    marketer_client = client_for(tenant, marketer)
    owner_client = client_for(tenant, owner)

    owner_client.post(f"/settings/team/{marketer.pk}/deactivate/")

    assert marketer_client.get("/settings/").status_code == 302
    login = {"username": marketer.email, "password": PASSWORD}
    assert client_for(tenant).post("/accounts/login/", login).status_code == 200
    owner_client.post(f"/settings/team/{marketer.pk}/reactivate/")
    assert client_for(tenant).post("/accounts/login/", login).status_code == 302


def test_team_page_of_other_tenant_never_lists_this_tenants_users(tenant, other_tenant, marketer):
    other_owner = make_user(other_tenant, "owner")

    response = client_for(other_tenant, other_owner).get("/settings/team/")

    page = text(response)
    assert other_owner.email in page
    assert marketer.email not in page
    assert "owner@alpha.example.com" not in page
    with in_schema(other_tenant):
        emails = {u.email for u in response.context["members"]}
        assert emails == set(User.objects.values_list("email", flat=True))


def test_member_page_of_other_tenant_is_404(tenant, other_tenant, marketer):
    other_owner = make_user(other_tenant, "owner")
    with in_schema(other_tenant):
        missing = User.objects.order_by("-pk").first().pk + 1000

    response = client_for(other_tenant, other_owner).get(f"/settings/team/{missing}/")

    assert response.status_code == 404


# --- API keys ----------------------------------------------------------------------------------


def test_api_key_is_shown_once_and_stored_as_hash(tenant, admin_user):
    client = client_for(tenant, admin_user)

    created = client.post("/settings/api-keys/new/", {"name": "CRM sync"})

    assert created.status_code == 200
    assert "no-store" in created["Cache-Control"]
    assert "Copy it now." in text(created)
    key = KEY_RE.search(text(created))[1]
    api_key = ApiKey.objects.get()
    assert (api_key.name, api_key.created_by_id) == ("CRM sync", admin_user.pk)
    assert api_key.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key.startswith(f"pl_{api_key.prefix}_")
    listing = text(client.get("/settings/api-keys/"))
    assert f"pl_{api_key.prefix}_…" in listing
    assert key not in listing and key[12:] not in listing
    assert key not in text(client.get("/settings/"))


def test_api_key_needs_a_name(tenant, owner):
    response = client_for(tenant, owner).post("/settings/api-keys/new/", {"name": "   "})

    assert response.status_code == 200
    assert response.context["form"].errors == {"name": ["This field is required."]}
    assert ApiKey.objects.count() == 0


def test_api_key_revoke_asks_then_revokes(tenant, owner):
    api_key, _ = create_api_key(name="Old import script")
    client = client_for(tenant, owner)

    confirm = client.get(f"/settings/api-keys/{api_key.pk}/revoke/")
    api_key.refresh_from_db()
    assert api_key.revoked_at is None
    assert "Revoke “Old import script”?" in text(confirm)
    revoked = client.post(f"/settings/api-keys/{api_key.pk}/revoke/", follow=True)

    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert "Revoked Old import script: it no longer works." in text(revoked)
    assert f'href="/settings/api-keys/{api_key.pk}/revoke/"' not in text(revoked)


def test_api_key_of_other_tenant_cannot_be_revoked_here(tenant, other_tenant, owner):
    with in_schema(other_tenant):
        theirs, _ = create_api_key(name="Theirs")
        ApiKey.objects.exclude(pk=theirs.pk).delete()
    ApiKey.objects.all().delete()

    response = client_for(tenant, owner).post(f"/settings/api-keys/{theirs.pk}/revoke/")

    assert response.status_code == 404
    with in_schema(other_tenant):
        assert ApiKey.objects.get(pk=theirs.pk).revoked_at is None


def test_api_key_list_queries_do_not_grow_with_keys(tenant, owner):
    client = client_for(tenant, owner)
    create_api_key(name="one", created_by=owner)
    with CaptureQueriesContext(connection) as one:
        client.get("/settings/api-keys/")
    create_api_key(name="two", created_by=make_user(tenant, "admin"))
    create_api_key(name="three", created_by=owner)
    with CaptureQueriesContext(connection) as three:
        client.get("/settings/api-keys/")

    assert len(three) == len(one)


# --- the services refuse on their own, whatever the page does ----------------------------------


def test_add_member_service_refuses_owner_from_admin(tenant, admin_user):
    with pytest.raises(PermissionDenied) as error:
        services.add_member(
            actor=admin_user,
            email="boss@example.com",
            full_name="",
            role=Role.OWNER,
            password="x-pass-4242",
            domain="alpha.localhost",
        )

    assert str(error.value) == "Only an owner can add, promote or change owners."
    assert not User.objects.filter(email="boss@example.com").exists()


def test_change_role_service_refuses_marketer(tenant, marketer, viewer):
    with pytest.raises(PermissionDenied) as error:
        services.change_role(actor=marketer, member=viewer, role=Role.ADMIN)

    assert str(error.value) == "Only owners and admins can manage the team."
    viewer.refresh_from_db()
    assert viewer.role == Role.VIEWER
