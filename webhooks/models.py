"""Outbound webhooks of a tenant: the endpoints it registered and every delivery attempted."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

EVENT_KINDS = (
    "contact.created",
    "contact.updated",
    "contact.deleted",
    "import.finished",
    "list.membership_changed",
    "score.band_changed",
    "segment.entered",
    "segment.left",
)


class Endpoint(models.Model):
    url = models.URLField(max_length=2000)
    kinds = models.JSONField(default=list, help_text="Event kinds delivered to this URL.")
    secret = models.CharField(max_length=80, help_text="Key of the HMAC-SHA256 signature.")
    description = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    failure_count = models.IntegerField(default=0)  # consecutive failed attempts
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"  # this attempt failed; another is scheduled
    GIVEN_UP = "given_up", "Given up"


class Delivery(models.Model):
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=40)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    event_id = models.UUIDField(default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING)
    attempts = models.IntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.IntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_response_excerpt = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="webhooks_delivery_due",
                         condition=models.Q(status__in=["pending", "failed"])),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.endpoint_id} ({self.status})"
