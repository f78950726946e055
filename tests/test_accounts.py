"""Signing in by email, password reset by email on the tenant's own host, and the walls between
tenants for logins and sessions."""

from __future__ import annotations

import re

from django.core import mail
from django.test import Client

from penguinleads.accounts.models import User
from tests.conftest import client_for, host_of, in_schema, make_user

PASSWORD = "pw-secret-123"  # tests.factories.UserFactory's password
BAD_LOGIN = "That email and password do not match an active account in this workspace."
RESET_LINK_RE = re.compile(r"http://(?P<host>[^/\s]+)(?P<path>/accounts/reset/[^/\s]+/[^/\s]+/)")


def sign_in(client: Client, email: str, password: str):
    return client.post("/accounts/login/", {"username": email, "password": password})


def test_login_by_email_ignores_case(tenant):
    make_user(tenant, "marketer", email="casey@example.com")
    client = client_for(tenant)

    response = sign_in(client, "  Casey@EXAMPLE.com", PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/contacts/"
    assert client.get("/settings/").context["user"].email == "casey@example.com"


def test_login_with_wrong_password_says_so(tenant):
    make_user(tenant, "marketer", email="casey@example.com")

    response = sign_in(client_for(tenant), "casey@example.com", "not-the-password")

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [BAD_LOGIN]
    assert BAD_LOGIN in response.content.decode()


def test_login_of_deactivated_user_is_refused(tenant):
    make_user(tenant, "marketer", email="gone@example.com")
    User.objects.filter(email="gone@example.com").update(is_active=False)

    response = sign_in(client_for(tenant), "gone@example.com", PASSWORD)

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [BAD_LOGIN]


def test_login_page_links_to_password_reset(tenant):
    response = client_for(tenant).get("/accounts/login/")

    assert response.status_code == 200
    assert 'href="/accounts/password-reset/"' in response.content.decode()


def test_user_of_other_tenant_cannot_sign_in_here(tenant, other_tenant):
    make_user(other_tenant, "owner", email="boss@beta.example.com")

    response = sign_in(client_for(tenant), "boss@beta.example.com", PASSWORD)

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [BAD_LOGIN]
    # ... while the same credentials work on their own host.
    assert sign_in(client_for(other_tenant), "boss@beta.example.com", PASSWORD).status_code == 302


def test_session_of_one_tenant_does_not_authenticate_on_another(tenant, other_tenant, owner):
    client = client_for(tenant, owner)
    assert client.get("/settings/").status_code == 200

    response = client.get("/settings/", HTTP_HOST=host_of(other_tenant))

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/settings/"


# --- password reset ----------------------------------------------------------------------------


def request_reset(tenant, email: str):
    return client_for(tenant).post("/accounts/password-reset/", {"email": email})


def test_password_reset_emails_a_link_on_the_tenant_host(tenant):
    make_user(tenant, "viewer", email="vic@example.com")

    response = request_reset(tenant, "VIC@example.com")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password-reset/done/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["vic@example.com"]
    assert message.subject == "Reset your PenguinLeads password for Alpha Inc"
    assert RESET_LINK_RE.search(message.body)["host"] == "alpha.localhost"


def test_password_reset_link_keeps_the_port_of_the_request(tenant):
    make_user(tenant, "viewer", email="vic@example.com")

    Client(HTTP_HOST="alpha.localhost:8000").post(
        "/accounts/password-reset/", {"email": "vic@example.com"}
    )

    assert RESET_LINK_RE.search(mail.outbox[0].body)["host"] == "alpha.localhost:8000"


def test_password_reset_full_flow_sets_new_password(tenant):
    make_user(tenant, "viewer", email="vic@example.com")
    request_reset(tenant, "vic@example.com")
    link = RESET_LINK_RE.search(mail.outbox[0].body)["path"]
    client = client_for(tenant)

    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    assert form_page.context["validlink"] is True
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "brand-new-pass-42", "new_password2": "brand-new-pass-42"},
    )

    assert done.status_code == 302
    assert done["Location"] == "/accounts/reset/done/"
    assert sign_in(client_for(tenant), "vic@example.com", PASSWORD).status_code == 200
    assert sign_in(client_for(tenant), "vic@example.com", "brand-new-pass-42").status_code == 302
    # The link works once.
    again = client_for(tenant).get(link, follow=True)
    assert again.context["validlink"] is False
    assert "This link no longer works" in again.content.decode()


def test_password_reset_for_unknown_email_sends_nothing_and_says_the_same(tenant, other_tenant):
    make_user(other_tenant, "owner", email="boss@beta.example.com")

    response = request_reset(tenant, "boss@beta.example.com")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password-reset/done/"
    assert mail.outbox == []


def test_password_reset_link_does_not_work_on_other_tenant_host(tenant, other_tenant):
    make_user(tenant, "viewer", email="vic@example.com")
    make_user(other_tenant, "viewer", email="vic@example.com")
    request_reset(tenant, "vic@example.com")
    link = RESET_LINK_RE.search(mail.outbox[0].body)["path"]

    response = client_for(other_tenant).get(link, follow=True)

    assert response.context["validlink"] is False
    with in_schema(other_tenant):
        assert User.objects.get(email="vic@example.com").check_password(PASSWORD)


def test_password_reset_refuses_bad_email(tenant):
    response = request_reset(tenant, "not an email")

    assert response.status_code == 200
    assert response.context["form"].errors == {"email": ["Enter a valid email address."]}
    assert mail.outbox == []


def test_password_change_needs_the_old_password(tenant, viewer):
    client = client_for(tenant, viewer)

    wrong = client.post(
        "/accounts/password-change/",
        {
            "old_password": "nope",
            "new_password1": "x-new-pass-42",
            "new_password2": "x-new-pass-42",
        },
    )
    right = client.post(
        "/accounts/password-change/",
        {
            "old_password": PASSWORD,
            "new_password1": "x-new-pass-42",
            "new_password2": "x-new-pass-42",
        },
    )

    assert wrong.context["form"].errors == {
        "old_password": ["Your old password was entered incorrectly. Please enter it again."]
    }
    assert right.status_code == 302
    assert right["Location"] == "/accounts/password-change/done/"
    viewer.refresh_from_db()
    assert viewer.check_password("x-new-pass-42")
