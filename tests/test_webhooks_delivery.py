"""Outbound webhooks delivered to a real HTTP server on loopback: signature, retries with
backoff, success after a retry, endpoint disabled after the limit, replay, test event, SSRF."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from webhooks import services
from webhooks.models import Delivery, DeliveryStatus, Endpoint


class Receiver:
    """A loopback HTTP server recording every request; answers from `replies` in order (an int
    status, or "hang" to wait past the client's timeout), 200 once they run out."""

    def __init__(self):
        self.requests: list[dict] = []
        self.replies: list = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "body": body})
                reply = receiver.replies.pop(0) if receiver.replies else 200
                if reply == "hang":
                    receiver.release.wait(5)
                    return
                self.send_response(reply)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(f"answer {reply}".encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.5
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    server = Receiver()
    yield server
    server.stop()


def make_endpoint(url: str, kinds=("contact.created",)) -> Endpoint:
    return services.create_endpoint(url=url, kinds=list(kinds))


def make_due(delivery: Delivery) -> None:
    """Let the retry's wait pass (the clock is not ours to move)."""
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def emit_one(endpoint: Endpoint) -> Delivery:
    assert services.emit(kind="contact.created", payload={"contact": {"id": 7}}) == 1
    return Delivery.objects.get(endpoint=endpoint)


def test_delivery_is_signed_and_verifies_with_the_secret(tenant, receiver):
    endpoint = make_endpoint(receiver.url)
    delivery = emit_one(endpoint)
    sent = services.send_delivery(delivery_id=delivery.pk)
    assert (sent.status, sent.attempts, sent.last_status_code) == ("succeeded", 1, 200)
    assert sent.last_response_excerpt == "answer 200"
    [request] = receiver.requests
    headers, body = request["headers"], request["body"]
    assert (headers["X-Penguin-Event"], headers["X-Penguin-Delivery"]) == (
        "contact.created", str(delivery.pk))
    expected = hmac.new(endpoint.secret.encode(),
                        f"{headers['X-Penguin-Timestamp']}.".encode() + body, hashlib.sha256)
    assert headers["X-Penguin-Signature"] == f"sha256={expected.hexdigest()}"
    wrong = hmac.new(b"not-the-secret", f"{headers['X-Penguin-Timestamp']}.".encode() + body,
                     hashlib.sha256)
    assert headers["X-Penguin-Signature"] != f"sha256={wrong.hexdigest()}"
    event = json.loads(body)
    assert event == {"id": str(delivery.event_id), "kind": "contact.created",
                     "workspace": tenant.schema_name, "data": {"contact": {"id": 7}},
                     "created_at": delivery.created_at.isoformat()}
    assert endpoint.secret.startswith("whsec_") and len(endpoint.secret) > 40


def test_500_is_retried_with_backoff_then_succeeds(tenant, receiver):
    receiver.replies = [500, 503]
    endpoint = make_endpoint(receiver.url)
    delivery = emit_one(endpoint)
    waits = []
    for _attempt in range(2):
        before = timezone.now()
        failed = services.send_delivery(delivery_id=delivery.pk)
        assert (failed.status, failed.last_error) == ("failed", f"HTTP {failed.last_status_code}")
        waits.append((failed.next_attempt_at - before, failed.next_attempt_at - timezone.now()))
        # Not due yet: a second worker or the schedule does not send it again.
        assert services.send_delivery(delivery_id=delivery.pk) is None
        assert services.send_due_deliveries() == 0
        make_due(delivery)
    for (longest, shortest), expected in zip(waits, services.RETRY_DELAYS[:2], strict=False):
        assert shortest <= expected <= longest
    assert services.send_due_deliveries() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code,
            delivery.next_attempt_at) == ("succeeded", 3, 200, None)
    assert delivery.delivered_at is not None
    assert [r["headers"]["X-Penguin-Delivery"] for r in receiver.requests] == [
        str(delivery.pk)] * 3
    endpoint.refresh_from_db()
    assert endpoint.failure_count == 0  # success resets the run of failures


def test_hanging_receiver_times_out_and_is_retried(tenant, receiver):
    receiver.replies = ["hang"]
    delivery = emit_one(make_endpoint(receiver.url))
    failed = services.send_delivery(delivery_id=delivery.pk)
    assert (failed.status, failed.last_status_code) == ("failed", None)
    assert failed.last_error.startswith("Could not deliver:")
    assert "timed out" in failed.last_error


def test_delivery_given_up_after_the_last_retry(tenant, receiver):
    receiver.replies = [500] * 10
    delivery = emit_one(make_endpoint(receiver.url))
    for _attempt in range(len(services.RETRY_DELAYS) + 1):
        make_due(delivery)
        services.send_delivery(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
        DeliveryStatus.GIVEN_UP, len(services.RETRY_DELAYS) + 1, None)
    make_due(delivery)
    assert services.send_delivery(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == len(services.RETRY_DELAYS) + 1


def test_endpoint_disabled_after_the_failure_limit_with_notice(tenant, receiver, settings,
                                                               admin_user):
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 3
    receiver.replies = [500] * 5
    endpoint = make_endpoint(receiver.url)
    deliveries = [emit_one_more(endpoint) for _ in range(4)]
    for delivery in deliveries[:3]:
        services.send_delivery(delivery_id=delivery.pk)
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.failure_count) == (False, 3)
    assert endpoint.disabled_reason == (
        "Disabled automatically after 3 failed deliveries in a row (last: HTTP 500). "
        "Fix the receiver, then enable the endpoint again.")
    # Nothing more goes to it, and new events are not recorded for it.
    assert services.send_delivery(delivery_id=deliveries[3].pk) is None
    assert services.emit(kind="contact.created", payload={}) == 0
    assert len(receiver.requests) == 3
    from tests.conftest import client_for

    page = client_for(tenant, admin_user).get(f"/settings/webhooks/{endpoint.pk}/")
    assert "This webhook is disabled" in page.content.decode()
    assert "Disabled automatically after 3 failed deliveries in a row" in page.content.decode()
    services.set_endpoint_active(endpoint=endpoint, active=True)
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.failure_count, endpoint.disabled_reason) == (True, 0, "")
    assert services.send_delivery(delivery_id=deliveries[3].pk).status == "failed"


def emit_one_more(endpoint: Endpoint) -> Delivery:
    services.emit(kind="contact.created", payload={"n": 1})
    return Delivery.objects.filter(endpoint=endpoint).order_by("-id").first()


def test_replay_sends_again_with_the_same_event_id(tenant, receiver):
    delivery = emit_one(make_endpoint(receiver.url))
    services.send_delivery(delivery_id=delivery.pk)
    replay = services.replay_delivery(delivery=delivery)
    assert (replay.pk != delivery.pk, replay.event_id, replay.payload, replay.status) == (
        True, delivery.event_id, delivery.payload, "pending")
    assert services.send_delivery(delivery_id=replay.pk).status == "succeeded"
    first, second = (json.loads(r["body"]) for r in receiver.requests)
    assert first["id"] == second["id"] == str(delivery.event_id)
    assert [r["headers"]["X-Penguin-Delivery"] for r in receiver.requests] == [
        str(delivery.pk), str(replay.pk)]


def test_replay_and_test_event_refused_for_a_disabled_endpoint(tenant, receiver):
    endpoint = make_endpoint(receiver.url)
    delivery = emit_one(endpoint)
    services.set_endpoint_active(endpoint=endpoint, active=False)
    delivery.refresh_from_db()
    with pytest.raises(ValidationError) as replay:
        services.replay_delivery(delivery=delivery)
    assert replay.value.messages == ["Enable the endpoint before replaying to it."]
    with pytest.raises(ValidationError) as ping:
        services.send_test_event(endpoint=endpoint)
    assert ping.value.messages == ["Enable the endpoint before sending to it."]


def test_test_event_goes_only_to_its_endpoint(tenant, receiver):
    endpoint = make_endpoint(receiver.url)
    make_endpoint(receiver.url.replace("/hooks", "/other"))
    ping = services.send_test_event(endpoint=endpoint)
    assert services.send_due_deliveries() == 1
    [request] = receiver.requests
    assert (request["path"], request["headers"]["X-Penguin-Event"]) == ("/hooks", "ping")
    ping.refresh_from_db()
    assert ping.status == "succeeded"


def test_only_subscribed_active_endpoints_get_a_delivery(tenant, receiver):
    created = make_endpoint(receiver.url, kinds=["contact.created"])
    both = make_endpoint(receiver.url, kinds=["contact.created", "contact.deleted"])
    off = make_endpoint(receiver.url, kinds=["contact.deleted"])
    services.set_endpoint_active(endpoint=off, active=False)
    assert services.emit(kind="contact.deleted", payload={"x": 1}) == 1
    assert list(Delivery.objects.values_list("endpoint_id", flat=True)) == [both.pk]
    assert services.emit(kind="contact.created", payload={"x": 2}) == 2
    assert not Delivery.objects.filter(endpoint=off).exists()
    assert Delivery.objects.filter(endpoint=created).count() == 1


def test_private_addresses_refused_when_not_allowed(tenant, receiver, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    for url in (receiver.url, "http://localhost/hooks", "http://10.1.2.3/x",
                "http://169.254.169.254/latest/meta-data", "http://[::1]/x"):
        with pytest.raises(ValidationError) as refused:
            make_endpoint(url)
        host = url.split("/")[2].split(":")[0] if "[" not in url else "::1"
        assert refused.value.message_dict == {"url": [
            f"The host {host} points to a private or local address; webhooks only go to "
            "public addresses."]}
    # Saved while allowed, then refused at send time too (DNS may change meanwhile).
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    delivery = emit_one(make_endpoint(receiver.url))
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    failed = services.send_delivery(delivery_id=delivery.pk)
    assert failed.last_error == ("The host 127.0.0.1 points to a private or local address; "
                                 "webhooks only go to public addresses.")
    assert receiver.requests == []


def test_redirects_are_not_followed(tenant, receiver):
    receiver.replies = [302]
    delivery = emit_one(make_endpoint(receiver.url))
    failed = services.send_delivery(delivery_id=delivery.pk)
    assert (failed.status, failed.last_status_code) == ("failed", 302)
    assert len(receiver.requests) == 1


def test_a_lease_keeps_two_workers_from_sending_one_attempt(tenant, receiver):
    delivery = emit_one(make_endpoint(receiver.url))
    assert services._claim(delivery.pk) is not None
    assert services.send_delivery(delivery_id=delivery.pk) is None
    assert receiver.requests == []
    # A worker that died holding the lease: the delivery is due again once the lease ends.
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert services.send_delivery(delivery_id=delivery.pk).status == "succeeded"


def test_tasks_send_in_the_tenant_schema_and_refuse_the_public_one(tenant, receiver):
    from django_q.models import OrmQ

    from webhooks import tasks

    delivery = emit_one(make_endpoint(receiver.url))
    with pytest.raises(ValueError, match="A webhook task needs the schema of a tenant."):
        tasks.send_deliveries_task("public", [delivery.pk])
    queued = OrmQ.objects.count()
    assert tasks.send_due_all_tenants() == 1  # one job for the tenant with due deliveries
    assert OrmQ.objects.count() == queued + 1
    assert tasks.send_deliveries_task(tenant.schema_name, [delivery.pk]) == 1
    assert tasks.send_due_task(tenant.schema_name) == 0
    assert len(receiver.requests) == 1
