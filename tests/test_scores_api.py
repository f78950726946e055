"""Lead scores in the contact API: `score` and `score_band` in the representation, the
score_band / score_min / score_max filters, `ordering=score|-score` with keyset cursors, the
hostile parameters, and the other tenant's scores kept out."""

from __future__ import annotations

import base64

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact
from engagement.models import ContactScore, ScoreSettings
from engagement.scoring import band_for
from tests.conftest import in_schema
from tests.factories import ContactFactory
from tests.test_api_contacts import ids_of
from tests.test_api_keys import error_of, key_client

JSON = "application/json"


@pytest.fixture
def api(tenant):
    client, _api_key = key_client(tenant)
    return client


def scored(score: int | None, **fields) -> Contact:
    """A contact with a ContactScore row of `score` (None: no row, as before any event)."""
    contact = ContactFactory(**fields)
    if score is not None:
        ContactScore.objects.create(contact=contact, computed_score=score, score=score,
                                    band=band_for(score, ScoreSettings()))
    return contact


def walk(api, url: str) -> tuple[list[int], int]:
    """Follow `next` links from `url`; the ids seen and the number of pages."""
    seen, pages = [], 0
    while url:
        data = api.get(url).json()
        seen += [row["id"] for row in data["results"]]
        url, pages = data["next"], pages + 1
    return seen, pages


def test_contact_representation_has_score_and_band(api):
    hot = scored(72)
    unscored = scored(None)

    assert {k: api.get(f"/api/v1/contacts/{hot.pk}").json()[k] for k in ("score", "score_band")
            } == {"score": 72, "score_band": "hot"}
    assert {k: api.get(f"/api/v1/contacts/{unscored.pk}").json()[k]
            for k in ("score", "score_band")} == {"score": 0, "score_band": "cold"}
    listed = {row["id"]: (row["score"], row["score_band"])
              for row in api.get("/api/v1/contacts").json()["results"]}
    assert listed == {hot.pk: (72, "hot"), unscored.pk: (0, "cold")}


def test_score_fields_are_read_only(api):
    contact = scored(25)

    response = api.patch(f"/api/v1/contacts/{contact.pk}", {"score": 99, "score_band": "hot"},
                         content_type=JSON)

    assert response.status_code == 400
    assert error_of(response)["details"] == {"score": ["Read-only field."],
                                             "score_band": ["Read-only field."]}
    assert ContactScore.objects.get(contact=contact).score == 25


def test_list_filters_by_band_and_cold_includes_unscored(api):
    hot, warm, cold, unscored = scored(60), scored(30), scored(5), scored(None)

    def band(value):
        return sorted(ids_of(api.get("/api/v1/contacts", {"score_band": value})))

    assert band("hot") == [hot.pk]
    assert band("hot,warm") == sorted([hot.pk, warm.pk])
    assert band(" Warm , cold ") == sorted([warm.pk, cold.pk, unscored.pk])
    assert band("cold") == sorted([cold.pk, unscored.pk])
    assert band("hot,warm,cold") == sorted([hot.pk, warm.pk, cold.pk, unscored.pk])


def test_list_filters_by_score_range_with_unscored_as_zero(api):
    s0, s10, s20, s50, unscored = scored(0), scored(10), scored(20), scored(50), scored(None)

    def between(**params):
        return sorted(ids_of(api.get("/api/v1/contacts", params)))

    assert between(score_min=10) == sorted([s10.pk, s20.pk, s50.pk])
    assert between(score_min=10, score_max=20) == sorted([s10.pk, s20.pk])
    assert between(score_max=10) == sorted([s0.pk, s10.pk, unscored.pk])
    assert between(score_min=0, score_max=0) == sorted([s0.pk, unscored.pk])
    assert between(score_min=20, score_band="warm") == [s20.pk]


def test_ordering_by_score_pages_through_everything_once_both_ways(api):
    # Ties (two at 40, zeros with and without a row) are ordered by id.
    contacts = [scored(40), scored(None), scored(7), scored(40), scored(0), scored(90),
                scored(None)]
    score = {c.pk: ContactScore.objects.filter(contact=c).values_list("score", flat=True)
             .first() or 0 for c in contacts}
    highest_first = sorted(score, key=lambda pk: (-score[pk], -pk))
    lowest_first = sorted(score, key=lambda pk: (score[pk], pk))

    assert walk(api, "/api/v1/contacts?ordering=-score&limit=2") == (highest_first, 4)
    assert walk(api, "/api/v1/contacts?ordering=score&limit=3") == (lowest_first, 3)
    assert walk(api, "/api/v1/contacts?ordering=-score&limit=50") == (highest_first, 1)
    first = api.get("/api/v1/contacts", {"ordering": "-score", "limit": 2}).json()
    assert [(r["id"], r["score"]) for r in first["results"]] == [
        (pk, score[pk]) for pk in highest_first[:2]]
    assert first["previous"] is None


def test_ordering_by_score_previous_links_walk_back(api):
    contacts = [scored(s) for s in (5, 50, 5, 0, 20)] + [scored(None)]
    expected = sorted((c.pk for c in contacts), key=lambda pk: (
        -(ContactScore.objects.filter(contact_id=pk).values_list("score", flat=True).first()
          or 0), -pk))
    pages, url = [], "/api/v1/contacts?ordering=-score&limit=2"
    while url:
        data = api.get(url).json()
        pages.append(data)
        url = data["next"]

    back, url = [], pages[-1]["previous"]
    while url:
        data = api.get(url).json()
        back.insert(0, [row["id"] for row in data["results"]])
        url = data["previous"]

    assert len(pages) == 3
    assert [[r["id"] for r in p["results"]] for p in pages[:-1]] == back
    assert [pk for page in back for pk in page] == expected[:4]


def test_ordering_by_score_combines_with_filters(api):
    a = scored(30, company="Acme")
    scored(80, company="Initech")
    b = scored(60, company="Acme")
    scored(None, company="Acme", status="bounced")

    response = api.get("/api/v1/contacts", {"ordering": "-score", "search": "acme",
                                            "status": "active"})

    assert ids_of(response) == [b.pk, a.pk]


@pytest.mark.parametrize(
    ("params", "details"),
    [
        ({"score_band": "lukewarm"},
         {"score_band": ["Unknown score band “lukewarm”; use hot, warm or cold (several "
                         "separated by commas)."]}),
        ({"score_band": "hot,,<script>"},
         {"score_band": ["Unknown score band “<script>”; use hot, warm or cold (several "
                         "separated by commas)."]}),
        ({"score_band": " , "}, {"score_band": ["Name a score band: hot, warm or cold."]}),
        ({"score_min": "ten"}, {"score_min": ["A valid integer is required."]}),
        ({"score_min": "-1"}, {"score_min": ["Ensure this value is greater than or equal to 0."]}),
        ({"score_max": "99999999999999999999"},
         {"score_max": ["Ensure this value is less than or equal to 2147483647."]}),
        ({"score_min": "50", "score_max": "20"},
         {"score_max": ["Must not be below score_min (50)."]}),
        ({"ordering": "name"},
         {"ordering": ["Unknown ordering “name”; use one of -created_at, score, -score."]}),
    ],
)
def test_bad_score_parameters_get_400(api, params, details):
    scored(60)

    response = api.get("/api/v1/contacts", params)

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation_error"
    assert error_of(response)["details"] == details


@pytest.mark.parametrize("cursor", [
    "garbage",
    "eDo1OjE",  # x:5:1, an unknown direction
    "Zjo1OjA",  # f:5:0, no such id
    "Zjo5OTk5OTk5OTk5OTk6MQ",  # f:999999999999:1, beyond a PostgreSQL integer
    "ZjotMToz",  # f:-1:3
])
def test_bad_score_cursor_gets_400(api, cursor):
    scored(60)

    response = api.get("/api/v1/contacts", {"ordering": "-score", "cursor": cursor})

    assert response.status_code == 400
    assert error_of(response) == {
        "code": "invalid_cursor",
        "message": "The cursor is not valid; use a `next` or `previous` link as given.",
    }


def test_a_score_cursor_made_by_hand_is_accepted(api):
    low, high = scored(5), scored(60)

    # f:60:<high> → everything after the high one, highest first
    cursor = base64.urlsafe_b64encode(f"f:60:{high.pk}".encode()).decode().rstrip("=")
    response = api.get("/api/v1/contacts", {"ordering": "-score", "cursor": cursor})

    assert ids_of(response) == [low.pk]


@pytest.mark.parametrize("ordering", ["-created_at", "-score"])
@pytest.mark.parametrize("count", [1, 3])
def test_query_count_does_not_grow_with_rows(api, count, ordering):
    for i in range(count):
        scored(10 * i)
    api.get("/api/v1/contacts")  # the key's last_used_at is written on first use only

    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/v1/contacts", {"ordering": ordering})

    assert [row["score"] for row in response.json()["results"]] == (
        sorted((10 * i for i in range(count)), reverse=True) if ordering == "-score"
        else [10 * i for i in reversed(range(count))])
    sql = [q["sql"] for q in queries if not q["sql"].startswith("SET search_path")]
    # tenant, key, the page (score ordering: both halves, then the rows), the tags
    assert len(sql) == (4 if ordering == "-created_at" else 6)


def test_other_tenants_scores_are_invisible(tenant, other_tenant, api):
    mine = scored(None, email="ada@example.com")
    with in_schema(other_tenant):
        theirs = scored(95, email="ada@example.com")
        assert theirs.pk  # the same id may exist in both schemas

    response = api.get(f"/api/v1/contacts/{mine.pk}").json()
    assert (response["score"], response["score_band"]) == (0, "cold")
    assert ids_of(api.get("/api/v1/contacts", {"score_band": "hot"})) == []
    assert ids_of(api.get("/api/v1/contacts", {"ordering": "-score"})) == [mine.pk]
    other_api, _key = key_client(other_tenant)
    assert [(r["email"], r["score"]) for r in other_api.get(
        "/api/v1/contacts", {"score_band": "hot"}).json()["results"]] == [("ada@example.com", 95)]
