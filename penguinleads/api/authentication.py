"""`Authorization: Bearer <api key>` for the REST API.

Keys live in the tenant's own schema, and the connection is already in the schema of the host's
tenant when this runs, so a key of another tenant is simply not found (401)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from penguinleads.api.keys import find_api_key, record_api_key_use

KEYWORD = "Bearer"


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates a request by a tenant API key.

    Returns (None, ApiKey): API requests act for the key, not for a person; `request.auth` is
    the ApiKey. No header at all → not authenticated (the permission answers 401)."""

    def authenticate(self, request):
        header = get_authorization_header(request).decode("latin-1").strip()
        if not header:
            return None
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != KEYWORD.lower() or not key:
            raise exceptions.AuthenticationFailed(
                "Send the API key as `Authorization: Bearer <key>`.",
                code="invalid_authorization_header",
            )
        api_key = find_api_key(key)
        if api_key is None:
            raise exceptions.AuthenticationFailed(
                "This API key is not valid for this workspace.", code="invalid_api_key"
            )
        if not api_key.is_active:
            raise exceptions.AuthenticationFailed(
                "This API key has been revoked.", code="api_key_revoked"
            )
        record_api_key_use(api_key=api_key)
        return None, api_key

    def authenticate_header(self, request) -> str:
        # Present, so DRF answers 401 (not 403) to a request without a valid key.
        return f'{KEYWORD} realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Describes the key in the OpenAPI document (and the docs' "Authorize" button)."""

    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix=KEYWORD, bearer_format="pl_<prefix>_<secret>"
        )
