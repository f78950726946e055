"""/api/v1/webhooks: CRUD, deliveries, replay; hostile input with the exact messages; tenant
isolation."""

from __future__ import annotations

import json

import pytest

from tests.conftest import in_schema
from tests.test_api_keys import error_of, key_client
from webhooks import services
from webhooks.models import Delivery, Endpoint

JSON = "application/json"
PRIVATE = ("The host 127.0.0.1 points to a private or local address; webhooks only go to "
           "public addresses.")


@pytest.fixture(autouse=True)
def allow_loopback(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True


@pytest.fixture
def api(tenant):
    client, _key = key_client(tenant)
    return client


def post(api, path: str, body) -> object:
    return api.post(path, data=json.dumps(body), content_type=JSON)


def test_create_get_patch_deliveries_replay_delete(api):
    created = post(api, "/api/v1/webhooks", {"url": "http://127.0.0.1:9/in",
                                             "kinds": ["contact.deleted", "contact.created"]})
    assert created.status_code == 201, created.content
    body = created.json()
    endpoint = Endpoint.objects.get()
    assert (body["id"], body["url"], body["kinds"], body["secret"], body["active"]) == (
        endpoint.pk, "http://127.0.0.1:9/in", ["contact.created", "contact.deleted"],
        endpoint.secret, True)
    path = f"/api/v1/webhooks/{endpoint.pk}"
    assert api.get(path).json()["url"] == "http://127.0.0.1:9/in"
    changed = api.patch(path, data=json.dumps({"kinds": ["import.finished"], "active": False}),
                        content_type=JSON)
    assert (changed.json()["kinds"], changed.json()["active"]) == (["import.finished"], False)
    assert changed.json()["disabled_reason"] == "Disabled by hand."
    api.patch(path, data=json.dumps({"active": True}), content_type=JSON)
    services.emit(kind="import.finished", payload={"import": {"id": 1}})
    [delivery] = api.get(f"{path}/deliveries").json()["results"]
    assert (delivery["kind"], delivery["payload"], delivery["status"], delivery["attempts"]) == (
        "import.finished", {"import": {"id": 1}}, "pending", 0)
    replay = post(api, f"/api/v1/webhooks/deliveries/{delivery['id']}/replay", {})
    assert replay.status_code == 202
    assert (replay.json()["event_id"], replay.json()["kind"]) == (
        delivery["event_id"], "import.finished")
    assert Delivery.objects.count() == 2
    assert api.delete(path).status_code == 204
    assert (Endpoint.objects.count(), Delivery.objects.count()) == (0, 0)
    assert error_of(api.get(path))["code"] == "not_found"


def test_replay_to_a_disabled_endpoint_is_a_conflict(api):
    endpoint = services.create_endpoint(url="http://127.0.0.1:9/", kinds=["contact.created"])
    services.emit(kind="contact.created", payload={})
    services.set_endpoint_active(endpoint=endpoint, active=False)
    response = post(api, f"/api/v1/webhooks/deliveries/{Delivery.objects.get().pk}/replay", {})
    assert response.status_code == 409
    assert error_of(response)["message"] == "Enable the endpoint before replaying to it."


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"url": "ftp://example.com/x", "kinds": ["contact.created"]}, "url",
     "Only http:// and https:// URLs can receive webhooks."),
    ({"url": "not a url", "kinds": ["contact.created"]}, "url",
     "Only http:// and https:// URLs can receive webhooks."),
    ({"url": "http://exa mple.com/x", "kinds": ["contact.created"]}, "url",
     "Enter a valid URL, e.g. https://example.com/hooks."),
    ({"url": "http://example.com/" + "a" * 10_000, "kinds": ["contact.created"]}, "url",
     "At most 2000 characters (got 10019)."),
    ({"url": "http://127.0.0.1/x", "kinds": ["contact.exploded"]}, "kinds",
     "Unknown event kind: contact.exploded. Known kinds: contact.created, contact.updated, "
     "contact.deleted, import.finished, list.membership_changed, score.band_changed, "
     "segment.entered, segment.left."),
    ({"url": "http://127.0.0.1/x", "kinds": []}, "kinds", "Choose at least one event kind."),
    ({"url": "http://127.0.0.1/x", "kinds": "contact.created"}, "kinds",
     "Choose at least one event kind."),
    ({"url": "http://no-such-host.invalid/x", "kinds": ["contact.created"]}, "url",
     "The host no-such-host.invalid does not resolve."),
])
def test_hostile_input_is_refused_with_its_message(api, body, field, message):
    response = post(api, "/api/v1/webhooks", body)
    assert response.status_code == 400
    assert error_of(response)["details"][field] == [message]
    assert not Endpoint.objects.exists()


def test_private_address_refused_in_production(api, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    response = post(api, "/api/v1/webhooks", {"url": "http://127.0.0.1/x",
                                              "kinds": ["contact.created"]})
    assert error_of(response)["details"]["url"] == [PRIVATE]


def test_other_tenant_sees_nothing(tenant, other_tenant, api):
    endpoint = services.create_endpoint(url="http://127.0.0.1:9/", kinds=["contact.created"])
    services.emit(kind="contact.created", payload={})
    delivery = Delivery.objects.get()
    theirs, _key = key_client(other_tenant)
    assert theirs.get("/api/v1/webhooks").json()["results"] == []
    for path in (f"/api/v1/webhooks/{endpoint.pk}", f"/api/v1/webhooks/{endpoint.pk}/deliveries"):
        assert theirs.get(path).status_code == 404
    assert theirs.delete(f"/api/v1/webhooks/{endpoint.pk}").status_code == 404
    replay = theirs.post(f"/api/v1/webhooks/deliveries/{delivery.pk}/replay")
    assert replay.status_code == 404
    assert (Endpoint.objects.count(), Delivery.objects.count()) == (1, 1)
    with in_schema(other_tenant):
        assert not Delivery.objects.exists()
