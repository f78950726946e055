"""API keys, authentication, the public docs and schema, and API-wide error answers.

Also home of `ApiClient` and `key_client`, which the other test_api_* modules import."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.http import Http404
from django.test import Client
from django.utils import timezone

from penguinleads.accounts.models import ApiKey
from penguinleads.api.errors import exception_handler
from penguinleads.api.keys import create_api_key, revoke_api_key
from penguinleads.tenants.services import suspend_tenant
from tests.conftest import host_of, in_schema

KEY_RE = re.compile(r"^pl_[a-z0-9]{8}_[A-Za-z0-9]{40}$")


class ApiClient(Client):
    """A test client for one tenant host that puts the test's connection back in the schema it
    was in before each request (a request switches it to the host's tenant)."""

    def request(self, **request):
        previous = connection.tenant
        try:
            return super().request(**request)
        finally:
            connection.set_tenant(previous)


def client_with_key(tenant, key: str | None) -> ApiClient:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return ApiClient(HTTP_HOST=host_of(tenant), **headers)


def key_client(tenant, name: str = "tests") -> tuple[ApiClient, ApiKey]:
    """A client on `tenant`'s host with a fresh API key of that tenant."""
    with in_schema(tenant):
        api_key, key = create_api_key(name=name)
    return client_with_key(tenant, key), api_key


def error_of(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content[:200]
    return response.json()["error"]




# --- the key services -------------------------------------------------------------------------


def test_create_api_key_stores_only_a_hash(tenant, owner):
    api_key, key = create_api_key(name="  CRM   sync ", created_by=owner)

    assert KEY_RE.match(key)
    row = ApiKey.objects.get(pk=api_key.pk)
    assert (row.name, row.prefix, row.created_by, row.revoked_at) == (
        "CRM sync",
        key[3:11],
        owner,
        None,
    )
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key[12:] not in (row.name, row.prefix, row.key_hash)


def test_create_api_key_twice_gives_different_keys(tenant):
    (first, key1), (second, key2) = create_api_key(name="a"), create_api_key(name="b")
    assert key1 != key2
    assert first.prefix != second.prefix


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("   ", "Give the key a name, e.g. the integration using it."),
        ("x" * 101, "At most 100 characters (got 101)."),
    ],
)
def test_create_api_key_bad_name_is_refused(tenant, name, message):
    with pytest.raises(ValidationError) as caught:
        create_api_key(name=name)
    assert caught.value.message_dict == {"name": [message]}
    assert ApiKey.objects.count() == 0


def test_revoke_api_key_keeps_the_first_revocation_time(tenant):
    api_key, _key = create_api_key(name="old")
    revoke_api_key(api_key=api_key)
    first = ApiKey.objects.get(pk=api_key.pk).revoked_at
    revoke_api_key(api_key=ApiKey.objects.get(pk=api_key.pk))

    assert first is not None
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at == first


# --- authentication ---------------------------------------------------------------------------


def test_api_with_key_lists_contacts(tenant):
    client, _api_key = key_client(tenant)
    response = client.get("/api/v1/contacts")
    assert response.status_code == 200
    assert response.json() == {"next": None, "previous": None, "results": []}


def test_api_without_key_gets_401_json(tenant):
    response = client_with_key(tenant, None).get("/api/v1/contacts")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert error_of(response) == {
        "code": "not_authenticated",
        "message": "An API key is required: send the header `Authorization: Bearer <key>`.",
    }


@pytest.mark.parametrize(
    ("header", "code", "message"),
    [
        (
            "Basic dXNlcjpwYXNz",
            "invalid_authorization_header",
            "Send the API key as `Authorization: Bearer <key>`.",
        ),
        (
            "Bearer",
            "invalid_authorization_header",
            "Send the API key as `Authorization: Bearer <key>`.",
        ),
        ("Bearer not-a-key", "invalid_api_key", "This API key is not valid for this workspace."),
        (
            "Bearer pl_abcdefgh_" + "A" * 40,
            "invalid_api_key",
            "This API key is not valid for this workspace.",
        ),
    ],
)
def test_api_with_bad_authorization_gets_401(tenant, header, code, message):
    client = ApiClient(HTTP_HOST=host_of(tenant), HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/contacts")

    assert response.status_code == 401
    assert error_of(response) == {"code": code, "message": message}


def test_api_key_with_wrong_secret_gets_401(tenant):
    _client, api_key = key_client(tenant)
    forged = f"pl_{api_key.prefix}_" + "B" * 40

    response = client_with_key(tenant, forged).get("/api/v1/contacts")

    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_api_key"


def test_revoked_api_key_gets_401(tenant):
    client, api_key = key_client(tenant)
    assert client.get("/api/v1/contacts").status_code == 200
    revoke_api_key(api_key=api_key)

    response = client.get("/api/v1/contacts")

    assert response.status_code == 401
    assert error_of(response) == {
        "code": "api_key_revoked",
        "message": "This API key has been revoked.",
    }


def test_api_key_last_used_at_is_written_at_most_once_a_minute(tenant):
    client, api_key = key_client(tenant)
    assert api_key.last_used_at is None

    client.get("/api/v1/contacts")
    first = ApiKey.objects.get(pk=api_key.pk).last_used_at
    client.get("/api/v1/contacts")
    second = ApiKey.objects.get(pk=api_key.pk).last_used_at
    two_minutes_ago = timezone.now() - dt.timedelta(minutes=2)
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=two_minutes_ago)
    client.get("/api/v1/contacts")
    third = ApiKey.objects.get(pk=api_key.pk).last_used_at

    assert first is not None
    assert second == first
    assert third > two_minutes_ago


def test_api_key_of_other_tenant_gets_401(tenant, other_tenant):
    _client, _api_key = key_client(tenant)
    with in_schema(tenant):
        _row, key = create_api_key(name="alpha only")

    response = client_with_key(other_tenant, key).get("/api/v1/contacts")

    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_api_key"


def test_api_of_suspended_tenant_gets_403_json(tenant):
    client, _api_key = key_client(tenant)
    suspend_tenant(tenant=tenant, reason="unpaid")

    response = client.get("/api/v1/contacts")

    assert response.status_code == 403
    assert error_of(response) == {
        "code": "tenant_suspended",
        "message": "This workspace is suspended.",
    }


def test_api_on_host_without_workspace_gets_json_404(db):
    response = ApiClient(HTTP_HOST="nowhere.localhost").get("/api/v1/contacts")

    assert response.status_code == 404
    assert error_of(response) == {
        "code": "no_workspace",
        "message": "No workspace at nowhere.localhost.",
    }


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/v1/nothing/here", "No API endpoint at /api/v1/nothing/here."),
        (
            "/api/v1/contacts/",
            "No API endpoint at /api/v1/contacts/. API paths have no trailing slash.",
        ),
    ],
)
def test_api_unknown_path_gets_json_404(tenant, path, message):
    client, _api_key = key_client(tenant)
    response = client.get(path)

    assert response.status_code == 404
    assert error_of(response) == {"code": "not_found", "message": message}


def test_api_wrong_method_gets_405_json(tenant):
    client, _api_key = key_client(tenant)
    response = client.put("/api/v1/contacts", {}, content_type="application/json")

    assert response.status_code == 405
    assert error_of(response) == {
        "code": "method_not_allowed",
        "message": 'Method "PUT" not allowed.',
    }


@pytest.mark.parametrize(
    ("exc", "status", "body"),
    [
        (
            RuntimeError("boom"),
            500,
            {
                "code": "internal_error",
                "message": "Something went wrong on our side; we are on it.",
            },
        ),
        (Http404("No such list."), 404, {"code": "not_found", "message": "No such list."}),
        (
            ValidationError("Plain message."),
            400,
            {
                "code": "validation_error",
                "message": "The request has invalid data; see details.",
                "details": {"non_field_errors": ["Plain message."]},
            },
        ),
    ],
)
def test_api_exception_handler_answers_json_for_any_error(exc, status, body, caplog):
    # Unexpected errors cannot be provoked through our endpoints without a bug, so the handler
    # is called directly here.
    response = exception_handler(exc, {"view": None})

    assert (response.status_code, response.data) == (status, {"error": body})
    assert ("boom" in caplog.text) == (status == 500)


# --- management command -----------------------------------------------------------------------


def test_create_api_key_command_prints_a_working_key_once(tenant):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", tenant=tenant.schema_name, name="Zapier", stdout=out, stderr=err)

    key = out.getvalue().strip()
    assert KEY_RE.match(key)
    row = ApiKey.objects.get(prefix=key[3:11])
    assert (row.name, row.key_hash) == ("Zapier", hashlib.sha256(key.encode()).hexdigest())
    assert key not in err.getvalue()
    assert err.getvalue().strip() == (
        f"Created API key 'Zapier' ({row.prefix}) for tenant alpha. "
        "Store it now: it cannot be shown again."
    )
    assert client_with_key(tenant, key).get("/api/v1/contacts").status_code == 200


@pytest.mark.parametrize("schema", ["nope", "public"])
def test_create_api_key_command_needs_a_tenant(tenant, schema):
    with pytest.raises(CommandError) as caught:
        call_command("create_api_key", tenant=schema, name="x", stdout=io.StringIO())
    assert str(caught.value) == f"No tenant with schema {schema!r}."


def test_create_api_key_command_refuses_empty_name(tenant):
    with pytest.raises(CommandError) as caught:
        call_command("create_api_key", tenant="alpha", name=" ", stdout=io.StringIO())
    assert str(caught.value) == "Give the key a name, e.g. the integration using it."
    assert ApiKey.objects.count() == 0


# --- docs and schema --------------------------------------------------------------------------


def test_api_schema_is_public_openapi(tenant):
    client = client_with_key(tenant, None)
    yaml = client.get("/api/v1/schema")
    response = client.get("/api/v1/schema", {"format": "json"})

    assert yaml.status_code == 200
    assert yaml.content.startswith(b"openapi: 3.0.3\n")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert [p for p in sorted(schema["paths"]) if p.startswith("/api/v1/contacts")] == [
        "/api/v1/contacts",
        "/api/v1/contacts/batch",
        "/api/v1/contacts/{id}",
    ]
    assert sorted(schema["paths"]["/api/v1/contacts/{id}"]) == ["delete", "get", "patch"]
    assert sorted(schema["paths"]["/api/v1/contacts"]) == ["get", "post"]
    assert schema["paths"]["/api/v1/contacts/batch"]["post"]["responses"]["413"] == {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        "description": "`batch_too_large`, `request_too_large`",
    }
    assert schema["components"]["securitySchemes"] == {
        "apiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "pl_<prefix>_<secret>"}
    }
    list_params = {p["name"] for p in schema["paths"]["/api/v1/contacts"]["get"]["parameters"]}
    assert list_params == {"email", "search", "tag", "status", "created_after", "cursor", "limit",
                           "score_band", "score_min", "score_max", "ordering"}


def test_api_docs_are_public_and_use_local_assets_only(tenant):
    client = ApiClient(HTTP_HOST=host_of(tenant), HTTP_AUTHORIZATION="Bearer revoked-or-junk")
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert scripts == [
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-standalone-preset.js",
    ]
    assert re.findall(r"https?://", html) == []
    assert '"/api/v1/schema"' in html
    asset = client.get(scripts[0])
    assert asset.status_code == 200
