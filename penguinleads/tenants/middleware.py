from django.conf import settings
from django.shortcuts import render
from django_tenants.middleware.main import TenantMainMiddleware

from penguinleads.api.errors import error_response

# The API answers in JSON, even before it is reached.
API_PREFIX = "/api/"


class TenantMiddleware(TenantMainMiddleware):
    """Selects the tenant schema from the host, with friendly pages for the two failure cases:
    a host that serves no workspace (404) and a suspended workspace (403)."""

    def no_tenant_found(self, request, hostname):
        if request.path.startswith(API_PREFIX):
            return error_response("no_workspace", f"No workspace at {hostname}.", 404)
        port = request.get_port()
        context = {
            "hostname": hostname,
            "public_domain": settings.PUBLIC_DOMAIN,
            "port_suffix": "" if port in ("80", "443") else f":{port}",
        }
        return render(request, "errors/no_workspace.html", context, status=404)

    def process_request(self, request):
        response = super().process_request(request)
        if response is not None:
            return response
        tenant = request.tenant
        if tenant.schema_name != "public" and tenant.is_suspended:
            if request.path.startswith(API_PREFIX):
                return error_response("tenant_suspended", "This workspace is suspended.", 403)
            return render(request, "errors/suspended.html", {"tenant": tenant}, status=403)
        return None
