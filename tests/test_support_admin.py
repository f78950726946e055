"""The support admin on the bare domain (create, inspect, suspend and reactivate workspaces)
and the one-time support login into a workspace's own admin."""

from __future__ import annotations

import re
import time

import pytest
from django.core import signing
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from penguinleads.accounts.models import Role, User
from penguinleads.accounts.services import issue_support_token
from penguinleads.tenants.models import Domain, Tenant
from tests.conftest import client_for, in_schema, make_user
from tests.factories import ContactFactory

STAFF_EMAIL = "staff@penguin.test"
SUPPORT_EMAIL = "support+staff@penguin.test"
CHANGELIST = "/admin/tenants/tenant/"


class SchemaKeepingClient(Client):
    """Puts the test's connection back in the schema it was in after each request (a request
    switches it to the schema of the host it was sent to)."""

    def request(self, **request):
        previous = connection.tenant
        try:
            return super().request(**request)
        finally:
            connection.set_tenant(previous)


def public_client(user=None, host: str = "localhost") -> SchemaKeepingClient:
    client = SchemaKeepingClient(HTTP_HOST=host)
    if user is not None:
        with schema_context("public"):
            client.force_login(user)
    return client


@pytest.fixture
def staff(db):
    with schema_context("public"):
        return User.objects.create_superuser(STAFF_EMAIL, "staff-pass-123")


@pytest.fixture
def staff_client(staff) -> SchemaKeepingClient:
    return public_client(staff)


def text(response) -> str:
    return response.content.decode()


def support_link(staff_client, tenant, host: str = "localhost") -> str:
    response = staff_client.post(f"{CHANGELIST}{tenant.pk}/open-admin/", HTTP_HOST=host)
    assert response.status_code == 302, text(response)[:300]
    return response["Location"]


def path_of(link: str) -> str:
    return re.sub(r"^http://[^/]+", "", link)


# --- the public admin --------------------------------------------------------------------------


def test_public_admin_needs_staff_login(db):
    with schema_context("public"):
        plain = User.objects.create_user("plain@penguin.test", "plain-pass-123")

    anonymous = public_client().get(CHANGELIST)
    not_staff = public_client(plain).get(CHANGELIST)

    assert anonymous.status_code == 302
    assert anonymous["Location"] == f"/admin/login/?next={CHANGELIST}"
    assert not_staff.status_code == 302


def test_public_admin_login_with_password(staff):
    client = public_client()

    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": STAFF_EMAIL, "password": "staff-pass-123", "next": "/admin/"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert "Workspaces (tenants)" in text(client.get("/admin/"))


def test_public_admin_lists_workspaces_but_not_the_public_one(staff_client, tenant, other_tenant):
    response = staff_client.get(CHANGELIST)

    assert response.status_code == 200
    names = sorted(t.name for t in response.context["cl"].result_list)
    assert names == ["Alpha Inc", "Beta GmbH"]
    assert "alpha.localhost" in text(response)


def test_create_tenant_through_the_admin_form(staff_client):
    """The one test that creates a real schema (slow); it drops it again."""
    response = staff_client.post(
        f"{CHANGELIST}add/",
        {
            "name": "Gamma Ltd",
            "schema_name": "gamma_acc",
            "domain": "Gamma.localhost",
            "owner_email": "Boss@Gamma.example.com",
            "owner_password": "",
        },
        follow=True,
    )
    try:
        tenant = Tenant.objects.get(schema_name="gamma_acc")
        assert response.redirect_chain[-1][0] == f"{CHANGELIST}{tenant.pk}/change/"
        password = re.search(r"copy it and send it safely\): ([\w-]+)<", text(response))[1]
        assert tenant.name == "Gamma Ltd"
        assert list(tenant.domains.values_list("domain", "is_primary")) == [
            ("gamma.localhost", True)
        ]
        assert '<div class="readonly">1 (1 active)</div>' in text(response)
        with in_schema(tenant):
            owner = User.objects.get()
            assert (owner.email, owner.role) == ("boss@gamma.example.com", Role.OWNER)
            assert owner.check_password(password)
            # The hot/warm/cold segments are built with the workspace (so contact changes
            # update them at once) rather than "not yet" until the 30-minute refresh.
            from segments.models import Segment

            assert sorted(Segment.objects.filter(last_refreshed_at__isnull=False)
                          .values_list("name", flat=True)) == [
                "Cold leads", "Hot leads", "Warm leads"]
        login = SchemaKeepingClient(HTTP_HOST="gamma.localhost").post(
            "/accounts/login/", {"username": "boss@gamma.example.com", "password": password}
        )
        assert login.status_code == 302
    finally:
        drop_tenant("gamma_acc")


def drop_tenant(schema_name: str) -> None:
    """Drop a schema made inside the test's transaction (its rollback would undo it too, but
    an explicit drop keeps the database clean whatever happens)."""
    with schema_context("public"):
        with connection.cursor() as cursor:
            # DROP SCHEMA refuses while the new tables' deferred FK checks are pending.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for tenant in Tenant.objects.filter(schema_name=schema_name):
            tenant.delete(force_drop=True)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        (
            "schema_name",
            "Bad-Name",
            "Invalid schema name 'Bad-Name': use 2-63 lower-case letters, digits or underscores, "
            "starting with a letter.",
        ),
        (
            "schema_name",
            "public",
            "Invalid schema name 'public': use 2-63 lower-case letters, "
            "digits or underscores, starting with a letter.",
        ),
        ("schema_name", "alpha", "A tenant with schema 'alpha' already exists."),
        (
            "domain",
            "alpha.localhost",
            "The domain 'alpha.localhost' already serves another tenant.",
        ),
        (
            "domain",
            "http://x.localhost/",
            "'http://x.localhost/' is not a host name (no scheme, port or path).",
        ),
        ("owner_email", "nobody", "Enter a valid email address."),
    ],
)
def test_create_tenant_form_refuses_bad_input(staff_client, tenant, field, value, error):
    data = {
        "name": "Delta",
        "schema_name": "delta_acc",
        "domain": "delta.localhost",
        "owner_email": "boss@delta.example.com",
        "owner_password": "",
        field: value,
    }

    response = staff_client.post(f"{CHANGELIST}add/", data)

    assert response.status_code == 200
    assert response.context["form"].errors == {field: [error]}
    assert not Tenant.objects.filter(name="Delta").exists()


def test_change_page_shows_schema_domains_and_counts(staff_client, tenant, marketer):
    ContactFactory.create_batch(3)
    users = User.objects.count()
    User.objects.filter(pk=marketer.pk).update(is_active=False)

    response = staff_client.get(f"{CHANGELIST}{tenant.pk}/change/")

    page = text(response)
    assert response.status_code == 200
    assert '<div class="readonly">alpha</div>' in page
    assert f'<div class="readonly">{users} ({users - 1} active)</div>' in page
    assert '<div class="readonly">3</div>' in page
    assert 'value="alpha.localhost"' in page
    assert "Open this workspace's admin" in page


def test_suspend_action_asks_a_reason_then_tenant_shows_suspended_page(staff_client, tenant, owner):
    selected = {"action": "suspend", "_selected_action": [str(tenant.pk)]}

    ask = staff_client.post(CHANGELIST, {**selected, "index": "0"})
    missing = staff_client.post(CHANGELIST, {**selected, "apply": "1", "reason": ""})
    assert "Reason:" in text(ask)
    assert "Please give a reason." in text(missing)
    tenant.refresh_from_db()
    assert tenant.suspended_at is None

    done = staff_client.post(CHANGELIST, {**selected, "apply": "1", "reason": "Unpaid invoice"})

    assert done.status_code == 302
    tenant.refresh_from_db()
    assert tenant.suspension_reason == "Unpaid invoice"
    page = client_for(tenant, owner).get("/contacts/")
    assert page.status_code == 403
    assert "Unpaid invoice" in text(page)

    staff_client.post(
        CHANGELIST, {"action": "reactivate", "_selected_action": [str(tenant.pk)], "index": "0"}
    )

    tenant.refresh_from_db()
    assert (tenant.suspended_at, tenant.suspension_reason) == (None, "")
    assert client_for(tenant, owner).get("/settings/").status_code == 200


def test_suspending_one_tenant_leaves_the_other_alone(staff_client, tenant, other_tenant):
    staff_client.post(
        CHANGELIST,
        {"action": "suspend", "_selected_action": [str(tenant.pk)], "apply": "1", "reason": "x"},
    )

    other_owner = make_user(other_tenant, "owner")
    assert client_for(other_tenant, other_owner).get("/settings/").status_code == 200


def test_tenants_are_not_in_a_tenant_hosts_admin(tenant, other_tenant):
    support = make_user(tenant, "admin", email="helper@penguin.test")
    User.objects.filter(pk=support.pk).update(is_staff=True, is_superuser=True)
    client = client_for(tenant, support)

    index = client.get("/admin/")
    tenants = client.get(CHANGELIST)

    assert index.status_code == 200
    assert "Workspaces (tenants)" not in text(index)
    assert tenants.status_code == 403


# --- support login -----------------------------------------------------------------------------


def test_open_workspace_admin_logs_support_into_the_tenant_admin(
    staff_client, tenant, other_tenant
):
    other_owner = make_user(other_tenant, "owner")
    link = support_link(staff_client, tenant)
    assert link.startswith("http://alpha.localhost/support-login/")
    client = client_for(tenant)

    landed = client.get(path_of(link))

    assert landed.status_code == 302
    assert landed["Location"] == "/admin/"
    support = User.objects.get(email=SUPPORT_EMAIL)
    assert (support.full_name, support.role) == (f"Support: {STAFF_EMAIL}", Role.ADMIN)
    assert (support.is_staff, support.is_superuser, support.is_active) == (True, True, True)
    assert not support.has_usable_password()
    users = client.get("/admin/accounts/user/")
    assert users.status_code == 200
    assert "owner@alpha.example.com" in text(users)
    assert other_owner.email not in text(users)


def test_open_workspace_admin_keeps_the_port(staff_client, tenant):
    link = support_link(staff_client, tenant, host="localhost:8000")

    assert link.startswith("http://alpha.localhost:8000/support-login/")


def test_open_workspace_admin_refuses_get(staff_client, tenant):
    response = staff_client.get(f"{CHANGELIST}{tenant.pk}/open-admin/")

    assert response.status_code == 405


def test_open_workspace_admin_needs_staff(db, tenant):
    with schema_context("public"):
        plain = User.objects.create_user("plain@penguin.test", "plain-pass-123")

    response = public_client(plain).post(f"{CHANGELIST}{tenant.pk}/open-admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert not User.objects.filter(email="support+plain@penguin.test").exists()


def refused(response, reason: str) -> None:
    assert response.status_code == 403
    assert "Support link refused" in text(response)
    assert reason in text(response)
    assert "_auth_user_id" not in response.wsgi_request.session


def test_support_link_works_only_once(staff_client, tenant):
    link = path_of(support_link(staff_client, tenant))
    assert client_for(tenant).get(link).status_code == 302

    refused(client_for(tenant).get(link), "This support link has already been used.")


def test_support_link_tampered_is_refused(staff_client, tenant):
    link = path_of(support_link(staff_client, tenant))
    token = link.split("/")[2]
    payload, timestamp, signature = token.rsplit(":", 2)
    forged = signing.b64_encode(
        signing.JSONSerializer().dumps(
            {"schema": "alpha", "email": "mallory@evil.test", "last_login": ""}
        )
    ).decode()

    refused(
        client_for(tenant).get(f"/support-login/{forged}:{timestamp}:{signature}/"),
        "This support link is invalid: it has been altered.",
    )
    refused(
        client_for(tenant).get(f"/support-login/{payload}:{timestamp}:{signature[:-2]}xx/"),
        "This support link is invalid: it has been altered.",
    )
    assert not User.objects.filter(email__startswith="support+").exists()


def test_support_link_expires_after_a_minute(tenant, monkeypatch):
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() - 61)
    token = issue_support_token(schema_name="alpha", staff_email=STAFF_EMAIL)
    monkeypatch.setattr(signing.time, "time", real_time)

    refused(
        client_for(tenant).get(f"/support-login/{token}/"),
        "This support link has expired (links work for 60 seconds).",
    )


def test_support_link_for_another_tenant_is_refused(staff_client, tenant, other_tenant):
    link = path_of(support_link(staff_client, tenant))

    refused(client_for(other_tenant).get(link), "This support link is for another workspace.")
    with in_schema(other_tenant):
        assert not User.objects.filter(email=SUPPORT_EMAIL).exists()
    # Refusing it on the wrong host did not use it up.
    assert client_for(tenant).get(link).status_code == 302


def test_support_login_takes_over_no_squatted_password(staff_client, tenant):
    squatter = make_user(tenant, "viewer", email=SUPPORT_EMAIL)
    squatter_client = client_for(tenant, squatter)

    client_for(tenant).get(path_of(support_link(staff_client, tenant)))

    login = client_for(tenant).post(
        "/accounts/login/", {"username": SUPPORT_EMAIL, "password": "pw-secret-123"}
    )
    assert login.status_code == 200
    assert squatter_client.get("/settings/").status_code == 302  # old session ended


def test_support_login_again_reuses_the_same_account(staff_client, tenant):
    client_for(tenant).get(path_of(support_link(staff_client, tenant)))
    second = client_for(tenant).get(path_of(support_link(staff_client, tenant)))

    assert second.status_code == 302
    assert User.objects.filter(email=SUPPORT_EMAIL).count() == 1


def test_domain_model_is_left_intact_by_support_login(staff_client, tenant):
    before = list(Domain.objects.values_list("domain", flat=True).order_by("domain"))

    client_for(tenant).get(path_of(support_link(staff_client, tenant)))

    assert list(Domain.objects.values_list("domain", flat=True).order_by("domain")) == before
