"""Settings › Webhooks pages: admins manage endpoints, see deliveries, replay and send a test
event; marketers and viewers cannot; another tenant sees nothing."""

from __future__ import annotations

import pytest

from tests.conftest import client_for, in_schema, make_user
from tests.test_webhooks_delivery import receiver  # noqa: F401  (fixture)
from webhooks import services
from webhooks.models import Delivery, Endpoint


@pytest.fixture(autouse=True)
def allow_loopback(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True


@pytest.fixture
def admin_client(tenant, admin_user):
    return client_for(tenant, admin_user)


def text(response) -> str:
    return response.content.decode()


def test_admin_adds_edits_disables_enables_and_deletes(admin_client, admin_user):
    added = admin_client.post("/settings/webhooks/new/", {
        "url": " http://127.0.0.1:9/in ", "kinds": ["contact.created", "segment.left"],
        "description": "CRM"})
    endpoint = Endpoint.objects.get()
    assert added.status_code == 302 and added["Location"] == f"/settings/webhooks/{endpoint.pk}/"
    assert (endpoint.url, endpoint.kinds, endpoint.description, endpoint.created_by_id) == (
        "http://127.0.0.1:9/in", ["contact.created", "segment.left"], "CRM", admin_user.pk)
    page = text(admin_client.get(f"/settings/webhooks/{endpoint.pk}/"))
    assert endpoint.secret in page and "Send test event" in page
    assert "http://127.0.0.1:9/in" in text(admin_client.get("/settings/webhooks/"))
    admin_client.post(f"/settings/webhooks/{endpoint.pk}/edit/", {
        "url": "http://127.0.0.1:9/new", "kinds": ["import.finished"], "description": ""})
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.kinds) == ("http://127.0.0.1:9/new", ["import.finished"])
    admin_client.post(f"/settings/webhooks/{endpoint.pk}/disable/")
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.disabled_reason) == (False, "Disabled by hand.")
    assert "This webhook is disabled" in text(admin_client.get(f"/settings/webhooks/{endpoint.pk}/"))
    admin_client.post(f"/settings/webhooks/{endpoint.pk}/enable/")
    endpoint.refresh_from_db()
    assert endpoint.active is True
    assert "Delete the webhook" in text(admin_client.get(f"/settings/webhooks/{endpoint.pk}/delete/"))
    admin_client.post(f"/settings/webhooks/{endpoint.pk}/delete/")
    assert not Endpoint.objects.exists()


def test_form_shows_the_services_messages(admin_client, settings):
    response = admin_client.post("/settings/webhooks/new/", {"url": "ftp://example.com/x"})
    page = text(response)
    assert response.status_code == 200
    assert "Only http:// and https:// URLs can receive webhooks." in page
    assert "Choose at least one event kind." in page
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    page = text(admin_client.post("/settings/webhooks/new/", {
        "url": "http://127.0.0.1/x", "kinds": ["contact.created"]}))
    assert ("The host 127.0.0.1 points to a private or local address; webhooks only go to "
            "public addresses.") in page
    long = text(admin_client.post("/settings/webhooks/new/", {
        "url": "https://example.com/" + "a" * 10_000, "kinds": ["contact.created"]}))
    assert "At most 2000 characters (got 10020)." in long
    assert not Endpoint.objects.exists()


def test_deliveries_listed_with_status_code_test_event_and_replay(admin_client, receiver):  # noqa: F811
    receiver.replies = [500]
    endpoint = services.create_endpoint(url=receiver.url, kinds=["contact.created"])
    services.emit(kind="contact.created", payload={"contact": {"id": 1}})
    first = Delivery.objects.get()
    services.send_delivery(delivery_id=first.pk)
    page = text(admin_client.get(f"/settings/webhooks/{endpoint.pk}/"))
    assert "HTTP 500" in page and "contact.created" in page and "Replay" in page
    admin_client.post(f"/settings/webhooks/deliveries/{first.pk}/replay/")
    admin_client.post(f"/settings/webhooks/{endpoint.pk}/test/")
    assert list(Delivery.objects.order_by("id").values_list("kind", "event_id")) == [
        ("contact.created", first.event_id), ("contact.created", first.event_id),
        ("ping", Delivery.objects.get(kind="ping").event_id)]
    assert services.send_due_deliveries() == 2
    assert [r["headers"]["X-Penguin-Event"] for r in receiver.requests] == [
        "contact.created", "contact.created", "ping"]


@pytest.mark.parametrize("role", ["marketer", "viewer"])
def test_marketers_and_viewers_cannot_manage_webhooks(tenant, role, request):
    user = request.getfixturevalue(role)
    endpoint = services.create_endpoint(url="http://127.0.0.1:9/", kinds=["contact.created"])
    services.emit(kind="contact.created", payload={})
    client = client_for(tenant, user)
    for path in ("/settings/webhooks/", "/settings/webhooks/new/",
                 f"/settings/webhooks/{endpoint.pk}/", f"/settings/webhooks/{endpoint.pk}/edit/"):
        response = client.get(path)
        assert response.status_code == 403
        assert "Only owners and admins can manage webhooks." in text(response)
    for path in (f"/settings/webhooks/{endpoint.pk}/delete/",
                 f"/settings/webhooks/{endpoint.pk}/disable/",
                 f"/settings/webhooks/deliveries/{Delivery.objects.get().pk}/replay/"):
        assert client.post(path).status_code == 403
    assert client.post("/settings/webhooks/new/", {
        "url": "http://127.0.0.1:9/x", "kinds": ["contact.created"]}).status_code == 403
    assert (Endpoint.objects.get().active, Delivery.objects.count()) == (True, 1)
    assert "/settings/webhooks/" not in text(client.get("/settings/"))


def test_other_tenant_pages_404(tenant, other_tenant):
    endpoint = services.create_endpoint(url="http://127.0.0.1:9/", kinds=["contact.created"])
    services.emit(kind="contact.created", payload={})
    delivery = Delivery.objects.get()
    theirs = client_for(other_tenant, make_user(other_tenant, "admin"))
    assert "127.0.0.1:9" not in text(theirs.get("/settings/webhooks/"))
    for path in (f"/settings/webhooks/{endpoint.pk}/", f"/settings/webhooks/{endpoint.pk}/edit/"):
        assert theirs.get(path).status_code == 404
    assert theirs.post(f"/settings/webhooks/{endpoint.pk}/delete/").status_code == 404
    assert theirs.post(f"/settings/webhooks/deliveries/{delivery.pk}/replay/").status_code == 404
    with in_schema(tenant):
        assert (Endpoint.objects.count(), Delivery.objects.count()) == (1, 1)
