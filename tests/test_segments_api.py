"""/api/v1/segments: CRUD, preview, members (cursor pages), refresh, hostile rules with their
exact messages, and tenant isolation."""

from __future__ import annotations

import json

import pytest

from contacts.models import Contact
from segments.dynamic import refresh, services
from segments.models import Segment, SegmentMembership
from segments.rules import MAX_DEPTH
from tests.conftest import in_schema
from tests.factories import ContactFactory
from tests.test_api_keys import error_of, key_client

JSON = "application/json"
ACME = {"op": "and", "rules": [{"field": "company", "operator": "equals", "value": "Acme"}]}


@pytest.fixture
def api(tenant):
    client, _key = key_client(tenant)
    return client


def post(api, path: str, body) -> object:
    return api.post(path, data=json.dumps(body), content_type=JSON)


@pytest.fixture
def acme(tenant):
    for n in range(5):
        ContactFactory(email=f"a{n}@acme.com", company="Acme")
    ContactFactory(email="other@initech.com", company="Initech")


def test_create_get_patch_refresh_delete(api, acme):
    created = post(api, "/api/v1/segments", {"name": "Acme", "rules": ACME})
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["rules"], body["exclude"], body["member_count"]) == (
        "Acme", ACME, {"op": "and", "rules": []}, 0)
    assert created["Location"] == f"/api/v1/segments/{body['id']}"
    refreshed = post(api, f"/api/v1/segments/{body['id']}/refresh", {})
    assert refreshed.json() == {"entered": 5, "left": 0, "size": 5}
    assert api.get(f"/api/v1/segments/{body['id']}").json()["member_count"] == 5

    exclude = {"op": "or", "rules": [{"field": "email", "operator": "in",
                                      "value": ["a0@acme.com", "A1@ACME.COM"]}]}
    changed = api.patch(f"/api/v1/segments/{body['id']}", data=json.dumps(
        {"exclude": exclude, "description": "No a0, a1"}), content_type=JSON)
    assert changed.status_code == 200
    assert (changed.json()["exclude"], changed.json()["description"]) == (exclude, "No a0, a1")
    assert post(api, f"/api/v1/segments/{body['id']}/refresh", {}).json() == {
        "entered": 0, "left": 2, "size": 3}
    listed = api.get("/api/v1/segments").json()
    assert [s["name"] for s in listed["results"]] == ["Acme"]
    assert api.delete(f"/api/v1/segments/{body['id']}").status_code == 204
    assert not Segment.objects.exists() and not SegmentMembership.objects.exists()


def test_members_are_paged_by_id_cursor(api, acme):
    segment = services.create_segment(name="Acme", rules=ACME)
    refresh.refresh_segment(segment=segment)
    first = api.get(f"/api/v1/segments/{segment.pk}/members?limit=2").json()
    second = api.get(first["next"]).json()
    third = api.get(second["next"]).json()
    emails = [c["email"] for page in (first, second, third) for c in page["results"]]
    expected = list(Contact.objects.filter(company="Acme").order_by("id")
                    .values_list("email", flat=True))
    assert emails == expected and third["next"] is None


def test_preview_counts_and_gives_first_rows(api, acme):
    response = post(api, "/api/v1/segments/preview", {"rules": ACME, "limit": 2})
    assert response.status_code == 200
    assert response.json()["count"] == 5
    assert [c["email"] for c in response.json()["contacts"]] == ["a4@acme.com", "a3@acme.com"]


def _nested(depth: int) -> dict:
    tree = {"op": "and", "rules": [ACME["rules"][0]]}
    for _ in range(depth - 1):
        tree = {"op": "or", "rules": [tree]}
    return tree


HOSTILE = [
    ({"op": "and", "rules": [{"field": "password", "operator": "equals", "value": "x"}]},
     "rules[0]: Unknown field 'password'."),
    ({"op": "and", "rules": [{"field": "company", "operator": "regex", "value": ".*"}]},
     "rules[0]: company: unknown operator 'regex' for a text field (use one of: equals, "
     "not_equals, contains, not_contains, starts_with, ends_with, is_empty, is_not_empty, in, "
     "not_in)."),
    ({"op": "and", "rules": [{"field": "email", "operator": "in",
                              "value": [f"x{i}@e.com" for i in range(10_001)]}]},
     "rules[0]: email in: at most 10,000 values (got 10,001)."),
    ({"op": "and", "rules": [{"field": "created_at", "operator": "before",
                              "value": "2024-13-45"}]},
     "rules[0]: created_at before: '2024-13-45' is not a date (use YYYY-MM-DD)."),
    ({"op": "xor", "rules": []}, "rules: Unknown group operator 'xor'; use \"and\" or \"or\"."),
    ({"op": "and", "rules": [{"field": "segment", "operator": "in", "value": [987654]}]},
     "rules[0]: segment in: no segment with id 987654."),
    ({"op": "and", "rules": [{"field": "company", "operator": "equals", "value": "a\x00b"}]},
     None),  # refused by the JSON parser before the rules
]


@pytest.mark.parametrize(("rules", "message"), HOSTILE)
def test_hostile_rules_are_refused_with_the_message(api, acme, rules, message):
    for path in ("/api/v1/segments/preview", "/api/v1/segments"):
        response = post(api, path, {"name": "Hostile", "rules": rules})
        assert response.status_code == 400
        if message is not None:
            assert error_of(response) == {"code": "invalid_rules", "message": message}
    assert not Segment.objects.exists()


def test_too_deep_nesting_is_refused_at_the_right_depth(api, acme):
    assert post(api, "/api/v1/segments/preview", {"rules": _nested(MAX_DEPTH)}).json()[
        "count"] == 5
    response = post(api, "/api/v1/segments/preview", {"rules": _nested(MAX_DEPTH + 1)})
    path = "rules" + "[0].rules" * MAX_DEPTH
    assert error_of(response) == {
        "code": "invalid_rules",
        "message": f"{path}: Groups are nested too deeply (at most {MAX_DEPTH} levels).",
    }
    deep = _nested(300)  # far deeper: the same clean 400, no recursion error
    assert error_of(post(api, "/api/v1/segments/preview", {"rules": deep}))["message"] == (
        f"{path}: Groups are nested too deeply (at most {MAX_DEPTH} levels).")


def test_sql_metacharacters_are_plain_text(api, acme):
    ContactFactory(email="quote@acme.com", company="O'Brien; DROP TABLE x; --%_")
    for value, expected in (("'; DROP TABLE contacts_contact; --", 0),
                            ("O'Brien; DROP TABLE x; --%_", 1), ("%", 1), ("_", 1),
                            (".*", 0), ("\\", 0)):
        rules = {"op": "and", "rules": [{"field": "company", "operator": "contains",
                                         "value": value}]}
        assert post(api, "/api/v1/segments/preview", {"rules": rules}).json()["count"] == \
            expected, value
    assert Contact.objects.count() == 7


def test_ten_thousand_values_are_accepted(api, acme):
    values = [f"a{i}@acme.com" for i in range(10_000)]
    rules = {"op": "and", "rules": [{"field": "email", "operator": "in", "value": values}]}
    assert post(api, "/api/v1/segments/preview", {"rules": rules}).json()["count"] == 5


def test_duplicate_name_and_used_segment(api, acme):
    first = services.create_segment(name="Acme", rules=ACME)
    response = post(api, "/api/v1/segments", {"name": "ACME", "rules": ACME})
    assert error_of(response)["details"] == {"name": ["A segment named “ACME” already exists."]}
    services.create_segment(name="User", rules={"op": "and", "rules": [
        {"field": "segment", "operator": "in", "value": [first.pk]}]})
    response = api.delete(f"/api/v1/segments/{first.pk}")
    assert response.status_code == 409
    assert error_of(response) == {"code": "segment_in_use", "message":
                                  "The segment “User” refers to this segment in its rules; "
                                  "change it first."}


def test_other_tenant_sees_nothing(api, acme, other_tenant):
    segment = services.create_segment(name="Acme", rules=ACME)
    refresh.refresh_segment(segment=segment)
    other, _key = key_client(other_tenant)
    assert other.get("/api/v1/segments").json()["results"] == []
    for path in (f"/api/v1/segments/{segment.pk}", f"/api/v1/segments/{segment.pk}/members"):
        assert other.get(path).status_code == 404
    assert other.post(f"/api/v1/segments/{segment.pk}/refresh").status_code == 404
    assert other.delete(f"/api/v1/segments/{segment.pk}").status_code == 404
    assert post(other, "/api/v1/segments/preview", {"rules": ACME}).json()["count"] == 0
    # the other tenant's own segment cannot name ours either
    response = post(other, "/api/v1/segments", {"name": "Steal", "rules": {"op": "and", "rules": [
        {"field": "segment", "operator": "in", "value": [segment.pk]}]}})
    assert error_of(response)["message"] == f"rules[0]: segment in: no segment with id {segment.pk}."
    with in_schema(other_tenant):
        assert not Segment.objects.exists() and not SegmentMembership.objects.exists()
    assert Segment.objects.get().member_count == 5


def test_without_a_key_nothing_is_shown(tenant):
    from django.test import Client

    from tests.conftest import host_of

    response = Client(HTTP_HOST=host_of(tenant)).get("/api/v1/segments")
    assert response.status_code == 401
