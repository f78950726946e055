"""Shared (public schema) facts about email domains: DNS verdicts cached with a TTL, and
domains that support staff allow although the disposable list names them. Not tenant data:
every tenant's imports share the cache."""

from django.db import models


class DomainCheck(models.Model):
    domain = models.CharField(max_length=255, unique=True)  # ASCII (IDNA), lower-case
    status = models.CharField(max_length=10)  # valid | risky | invalid | unknown
    reason = models.CharField(max_length=50, blank=True)  # null_mx, no_such_domain, dns_timeout …
    mx_hosts = models.JSONField(default=list, blank=True)
    checked_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.domain}: {self.status} {self.reason}".strip()


class AllowedDomain(models.Model):
    """Overrides the disposable-domain list: these domains are never flagged as disposable."""

    domain = models.CharField(max_length=255, unique=True)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.domain
