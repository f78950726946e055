from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.db import connection

# Paths on a tenant host that anonymous visitors may open.
PUBLIC_PREFIXES = (
    "/accounts/login/",
    "/accounts/password-reset/",
    "/accounts/reset/",
    "/admin/",  # the admin has its own login
    "/support-login/",
    "/api/",  # the API authenticates by key and answers 401 itself
    "/static/",
    "/healthz",
    "/webhooks/events",  # signed by the sender (engagement.signing), no session
)


class LoginRequiredOnTenantMiddleware:
    """Every page of a tenant host needs a signed-in user of that tenant."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        on_tenant = connection.schema_name != "public"
        if (
            on_tenant
            and not request.user.is_authenticated
            and not request.path.startswith(PUBLIC_PREFIXES)
        ):
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return self.get_response(request)
