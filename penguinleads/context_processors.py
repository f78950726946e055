from django.db import connection


def workspace(request):
    tenant = getattr(request, "tenant", None)
    on_tenant = tenant is not None and connection.schema_name != "public"
    return {"workspace": tenant if on_tenant else None}
