from rest_framework.permissions import BasePermission

from penguinleads.accounts.models import ApiKey


class HasApiKey(BasePermission):
    """The request carries a valid, unrevoked API key of this tenant (see ApiKeyAuthentication).

    Every key may read and write the tenant's contacts; there are no scopes yet."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey)
