"""The --tenant argument of the segment commands: an existing tenant schema, never public."""

from django.core.management.base import CommandError
from django_tenants.utils import get_tenant_model, schema_context


def tenant_schema(schema: str):
    """schema_context of tenant `schema`; CommandError when there is no such tenant."""
    if schema == "public" or not get_tenant_model().objects.filter(schema_name=schema).exists():
        raise CommandError(f"No tenant with schema {schema!r}.")
    return schema_context(schema)
