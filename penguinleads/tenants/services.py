"""Creating and suspending tenants (workspaces)."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from penguinleads.tenants.models import Domain, Tenant

SCHEMA_RE = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
RESERVED_SCHEMAS = {"public", "information_schema", "pg_catalog", "pg_toast"}


def validate_schema_name(schema_name: str) -> None:
    if not SCHEMA_RE.match(schema_name) or schema_name in RESERVED_SCHEMAS:
        raise ValidationError(
            f"Invalid schema name {schema_name!r}: use 2-63 lower-case letters, digits or "
            "underscores, starting with a letter."
        )


def ensure_public_tenant(*, domain: str) -> Tenant:
    """Create the public tenant row and its domain if missing (django-tenants needs one)."""
    tenant, _ = Tenant.objects.get_or_create(schema_name="public", defaults={"name": "Public"})
    Domain.objects.get_or_create(domain=domain, defaults={"tenant": tenant, "is_primary": True})
    return tenant


def create_tenant(
    *,
    schema_name: str,
    domain: str,
    name: str,
    owner_email: str,
    owner_password: str | None = None,
) -> Tenant:
    """Create a tenant: its schema (migrated), its primary domain and its owner user.

    Side effects: creates a PostgreSQL schema and runs the tenant migrations in it; creates
    Tenant, Domain and (in the new schema) an owner User; builds the default segments.
    Returns the tenant.
    """
    from penguinleads.accounts.models import Role, User

    validate_schema_name(schema_name)
    if Tenant.objects.filter(schema_name=schema_name).exists():
        raise ValidationError(f"A tenant with schema {schema_name!r} already exists.")
    if Domain.objects.filter(domain=domain).exists():
        raise ValidationError(f"The domain {domain!r} already serves another tenant.")
    tenant = Tenant(schema_name=schema_name, name=name)
    tenant.save(verbosity=0)  # creates and migrates the schema
    with transaction.atomic():
        Domain.objects.create(domain=domain, tenant=tenant, is_primary=True)
        with schema_context(schema_name):
            User.objects.create_user(
                email=owner_email, password=owner_password, role=Role.OWNER, full_name=""
            )
    with schema_context(schema_name):
        from segments.dynamic.refresh import refresh_all_segments

        # The out-of-the-box segments (hot/warm/cold leads) are built at once (empty: no
        # contacts yet), so every later contact change updates them within seconds.
        refresh_all_segments()
    return tenant


def suspend_tenant(*, tenant: Tenant, reason: str = "") -> None:
    """Mark a tenant suspended: its pages and API answer with a 'suspended' notice."""
    tenant.suspended_at = timezone.now()
    tenant.suspension_reason = reason
    tenant.save(update_fields=["suspended_at", "suspension_reason"])


def reactivate_tenant(*, tenant: Tenant) -> None:
    """Lift a suspension."""
    tenant.suspended_at = None
    tenant.suspension_reason = ""
    tenant.save(update_fields=["suspended_at", "suspension_reason"])


def primary_domain(tenant: Tenant) -> str | None:
    domain = tenant.domains.filter(is_primary=True).first() or tenant.domains.first()
    return domain.domain if domain else None
