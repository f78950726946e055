from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


class Tenant(TenantMixin):
    """A customer workspace: one PostgreSQL schema holding its users and contacts."""

    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    suspension_reason = models.CharField(max_length=300, blank=True)

    # Schemas are created by services.create_tenant, which also adds the domain and owner.
    auto_create_schema = True
    auto_drop_schema = False

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.schema_name})"

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None


class Domain(DomainMixin):
    """A host name (e.g. demo.localhost) that serves one tenant."""

    def __str__(self) -> str:
        return self.domain
