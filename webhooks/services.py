"""Outbound webhooks: endpoints, recording events as deliveries, and sending them.

An event becomes one Delivery per active endpoint subscribed to its kind, written in the
transaction of the change that caused it (an event of a rolled-back change is never sent). The
first attempt is enqueued after commit; every later one is picked up by the per-minute schedule
(`webhooks.tasks.send_due_all_tenants`) from `next_attempt_at`. Keeping retries in the database
rather than in delayed queue tasks means a dead worker, a lost task or a restart loses nothing:
whatever is due is sent on the next minute. An attempt first claims its delivery with one
conditional UPDATE (a lease), so two workers never send the same attempt.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from webhooks import security, sender
from webhooks.models import EVENT_KINDS, Delivery, DeliveryStatus, Endpoint

TEST_KIND = "ping"
# Waits after the 1st, 2nd, … failed attempt; after the last one the delivery is given up.
RETRY_DELAYS = (
    timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
    timedelta(hours=12),
)
LEASE = timedelta(minutes=2)  # longer than an attempt can take (timeout 10 s)
DUE_BATCH = 500


def clean_kinds(kinds: Any) -> list[str]:
    """The subscribed kinds in canonical order, or ValidationError naming the unknown one."""
    if not isinstance(kinds, list | tuple) or not kinds:
        raise ValidationError("Choose at least one event kind.", code="kinds")
    for kind in kinds:
        if kind not in EVENT_KINDS:
            raise ValidationError(f"Unknown event kind: {str(kind)[:60]}. Known kinds: "
                                  f"{', '.join(EVENT_KINDS)}.", code="kinds")
    return [kind for kind in EVENT_KINDS if kind in kinds]


def _clean(url: str, kinds: Any, description: str) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {"description": " ".join((description or "").split())[:200]}
    for name, clean, raw in (("url", security.clean_url, url), ("kinds", clean_kinds, kinds)):
        try:
            values[name] = clean(raw)
        except ValidationError as exc:
            errors[name] = exc.messages
    if errors:
        raise ValidationError(errors)
    return values


def create_endpoint(*, url: str, kinds: list[str], description: str = "",
                    created_by=None) -> Endpoint:
    """Register a webhook URL for `kinds`. Side effects: inserts an Endpoint with a new random
    signing secret. Raises ValidationError ({field: [messages]}) for a bad URL or kind."""
    values = _clean(url, kinds, description)
    return Endpoint.objects.create(**values, secret=f"whsec_{secrets.token_urlsafe(32)}",
                                   created_by=created_by)


def update_endpoint(*, endpoint: Endpoint, url: str, kinds: list[str],
                    description: str = "") -> Endpoint:
    """Change an endpoint's URL, kinds and description. Side effects: updates the row."""
    for name, value in _clean(url, kinds, description).items():
        setattr(endpoint, name, value)
    endpoint.save(update_fields=["url", "kinds", "description"])
    return endpoint


def set_endpoint_active(*, endpoint: Endpoint, active: bool) -> Endpoint:
    """Enable (clearing the failure count and the disabled notice) or disable an endpoint by
    hand. Side effects: updates the row; a disabled endpoint receives nothing."""
    endpoint.active = active
    endpoint.failure_count = 0 if active else endpoint.failure_count
    endpoint.disabled_at = None if active else timezone.now()
    endpoint.disabled_reason = "" if active else "Disabled by hand."
    endpoint.save(update_fields=["active", "failure_count", "disabled_at", "disabled_reason"])
    return endpoint


def delete_endpoint(*, endpoint: Endpoint) -> None:
    """Delete an endpoint and its delivery log."""
    endpoint.delete()


# --- events -------------------------------------------------------------------------------------


def emit(*, kind: str, payload: dict[str, Any]) -> int:
    """Record event `kind` for every active endpoint subscribed to it and send it after the
    transaction commits. Returns how many deliveries were recorded (0: nobody listens)."""
    return emit_many(events=[(kind, payload)])


def emit_many(*, events: Iterable[tuple[str, dict[str, Any]]]) -> int:
    """emit() for many (kind, payload) events with one query for the endpoints and one INSERT.
    `events` may be a generator: it is not consumed when no endpoint is active. Side effects:
    inserts Delivery rows, enqueues their first attempt on commit."""
    endpoints = list(Endpoint.objects.filter(active=True).values_list("pk", "kinds"))
    if not endpoints:
        return 0
    now = timezone.now()
    rows = [
        Delivery(endpoint_id=pk, kind=kind, payload=payload, next_attempt_at=now)
        for kind, payload in events
        for pk, kinds in endpoints
        if kind in kinds
    ]
    if rows:
        _enqueue([d.pk for d in Delivery.objects.bulk_create(rows)])
    return len(rows)


def listening_endpoints(kind: str) -> list[int]:
    """Ids of the active endpoints subscribed to `kind`. Emitters that write their deliveries
    with SQL (many rows at once) ask first and skip the work when nobody listens."""
    return list(Endpoint.objects.filter(active=True, kinds__contains=[kind])
                .order_by("pk").values_list("pk", flat=True))


def send_recorded(delivery_ids: list[int], *, chunk: int = 1000) -> None:
    """Enqueue the first attempt of deliveries an emitter inserted with SQL, after commit, in
    jobs of `chunk` ids (what is not sent then, the per-minute schedule sends)."""
    for start in range(0, len(delivery_ids), chunk):
        _enqueue(delivery_ids[start:start + chunk])


def _enqueue(delivery_ids: list[int]) -> None:
    from django_q.tasks import async_task

    schema = connection.schema_name
    if not schema or schema == "public":
        raise ValueError("Webhook deliveries belong to a tenant schema.")
    transaction.on_commit(lambda: async_task("webhooks.tasks.send_deliveries_task", schema,
                                             delivery_ids, group=f"webhooks:{schema}"))


def send_test_event(*, endpoint: Endpoint) -> Delivery:
    """Queue a `ping` event to this one endpoint. Side effects: inserts a Delivery, enqueues it."""
    if not endpoint.active:
        raise ValidationError("Enable the endpoint before sending to it.", code="inactive")
    delivery = Delivery.objects.create(
        endpoint=endpoint, kind=TEST_KIND, next_attempt_at=timezone.now(),
        payload={"message": "A test event from PenguinLeads."},
    )
    _enqueue([delivery.pk])
    return delivery


def replay_delivery(*, delivery: Delivery) -> Delivery:
    """Send a past delivery again as a new Delivery with the same kind, payload and event id
    (receivers can recognise it). Side effects: inserts a Delivery, enqueues it."""
    if not delivery.endpoint.active:
        raise ValidationError("Enable the endpoint before replaying to it.", code="inactive")
    replay = Delivery.objects.create(
        endpoint_id=delivery.endpoint_id, kind=delivery.kind, payload=delivery.payload,
        event_id=delivery.event_id, next_attempt_at=timezone.now(),
    )
    _enqueue([replay.pk])
    return replay


# --- sending ------------------------------------------------------------------------------------


def _claim(delivery_id: int) -> Delivery | None:
    """Take the lease on a due delivery of an active endpoint, or None (not due, done, taken)."""
    now = timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED],
        next_attempt_at__lte=now, endpoint__active=True,
    ).update(next_attempt_at=now + LEASE)
    return Delivery.objects.select_related("endpoint").get(pk=delivery_id) if claimed else None


def send_delivery(*, delivery_id: int) -> Delivery | None:
    """Make one attempt at a due delivery. Side effects: an HTTP POST to the endpoint; updates
    the Delivery (status, attempts, response, next attempt) and the endpoint's failure count,
    disabling it after WEBHOOKS_DISABLE_AFTER_FAILURES consecutive failures. Returns the
    delivery, or None when it was not due (sent already, retry later, endpoint disabled)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    outcome = sender.post(delivery=delivery, schema_name=connection.schema_name)
    with transaction.atomic():
        _record(delivery, outcome)
    return delivery


def _record(delivery: Delivery, outcome: sender.Outcome) -> None:
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    delivery.last_response_excerpt = outcome.excerpt
    endpoint = Endpoint.objects.filter(pk=delivery.endpoint_id)
    if outcome.ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
            DeliveryStatus.SUCCEEDED, now, None)
        endpoint.update(failure_count=0)
    else:
        retry = delivery.attempts <= len(RETRY_DELAYS)
        delivery.status = DeliveryStatus.FAILED if retry else DeliveryStatus.GIVEN_UP
        delivery.next_attempt_at = now + RETRY_DELAYS[delivery.attempts - 1] if retry else None
        endpoint.update(failure_count=F("failure_count") + 1)
        _disable_if_failing(delivery.endpoint_id, outcome)
    delivery.save(update_fields=["attempts", "status", "last_status_code", "last_error",
                                 "last_response_excerpt", "next_attempt_at", "delivered_at"])


def _disable_if_failing(endpoint_id: int, outcome: sender.Outcome) -> None:
    limit = settings.WEBHOOKS_DISABLE_AFTER_FAILURES
    reason = (f"Disabled automatically after {limit} failed deliveries in a row "
              f"(last: {outcome.summary}). Fix the receiver, then enable the endpoint again.")
    Endpoint.objects.filter(pk=endpoint_id, active=True, failure_count__gte=limit).update(
        active=False, disabled_at=timezone.now(), disabled_reason=reason)


def send_due_deliveries(*, limit: int = DUE_BATCH) -> int:
    """Attempt up to `limit` deliveries of the current tenant whose next attempt is due.
    Returns how many attempts were made."""
    due = Delivery.objects.filter(
        status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED],
        next_attempt_at__lte=timezone.now(), endpoint__active=True,
    ).order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
    return sum(1 for pk in list(due) if send_delivery(delivery_id=pk) is not None)
