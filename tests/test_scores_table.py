"""Lead scores in the contact table: the Score column with its band badge, sorting both ways
(contacts without a score sort as 0) through pages, the band filter (also for "select all
matching" and exports), list and segment pages, and the other tenant's scores kept out."""

from __future__ import annotations

import random
import re

import pytest

from contacts.bulk.selection import Selection
from contacts.models import Contact
from contacts.selectors import filter_contacts, page_of_contacts, score_keyset
from engagement.models import ContactScore
from imports.exports.sources import SourceError, clean_source
from segments import services as lists
from segments.dynamic import refresh
from segments.dynamic import services as segments
from tests.conftest import client_for, in_schema, make_user
from tests.test_contacts_pages import headings_of, html, listed
from tests.test_scores_api import scored

SCORE_CELL = re.compile(
    r'<tr data-contact-id="(\d+)">.*?<td class="score" data-score-cell><span class="score-value">'
    r'(\d+)</span> <span class="badge score-(\w+)">(\w+)</span></td>'
)


def score_cells(response) -> dict[int, tuple[int, str, str]]:
    assert response.status_code == 200
    return {int(pk): (int(value), band, label)
            for pk, value, band, label in SCORE_CELL.findall(response.content.decode())}


def test_table_shows_score_column_with_band_badge(marketer_client):
    hot, warm, unscored = scored(77), scored(20), scored(None)

    response = marketer_client.get("/contacts/")

    assert headings_of(html(response)) == [
        "Email", "Name", "Company", "Status", "Score", "Tags", "Created"]
    assert score_cells(response) == {hot.pk: (77, "hot", "Hot"), warm.pk: (20, "warm", "Warm"),
                                     unscored.pk: (0, "cold", "Cold")}


def test_table_sorts_by_score_both_ways_across_pages(marketer_client, settings):
    settings.CONTACTS_PAGE_SIZE = 2
    contacts = [scored(s) for s in (15, None, 60, 15, 0, 3)]
    score = {c.pk: s or 0 for c, s in zip(contacts, (15, None, 60, 15, 0, 3), strict=True)}
    email = {c.pk: c.email for c in contacts}

    def pages(sort: str) -> list[str]:
        return [email for page in (1, 2, 3)
                for email in listed(marketer_client.get("/contacts/", {"sort": sort,
                                                                     "page": page}))]

    assert pages("-score") == [email[pk] for pk in sorted(score, key=lambda k: (-score[k], -k))]
    assert pages("score") == [email[pk] for pk in sorted(score, key=lambda k: (score[k], k))]


def test_score_header_toggles_and_names_the_order(marketer_client):
    scored(10)

    page = html(marketer_client.get("/contacts/"))
    assert '<a href="?sort=score">Score</a>' in page
    ascending = html(marketer_client.get("/contacts/", {"sort": "score"}))
    assert '<th scope="col" aria-sort="ascending"><a href="?sort=-score">Score' in ascending
    assert "Contacts, sorted by score, lowest first" in ascending
    descending = html(marketer_client.get("/contacts/", {"sort": "-score"}))
    assert "Contacts, sorted by score, highest first" in descending


@pytest.mark.parametrize("filtered", [False, True])
def test_score_order_pages_and_keysets_equal_a_plain_sort(tenant, filtered):
    # Random scores with many ties, zero rows and contacts without a row: every page size and
    # every keyset position must give exactly ORDER BY coalesce(score, 0), id.
    rng = random.Random(6)
    contacts = [scored(rng.choice([None, 0, 0, 1, 5, 5, 5, 20, 49, 50, 80]),
                       company=rng.choice(["Acme", "Initech"])) for _ in range(40)]
    qs = Contact.objects.all()
    if filtered:
        qs = filter_contacts(qs, search="acme")
    wanted = set(qs.values_list("pk", flat=True))
    score = {c.pk: ContactScore.objects.filter(contact=c).values_list("score", flat=True)
             .first() or 0 for c in contacts if c.pk in wanted}
    for descending in (True, False):
        sign = -1 if descending else 1
        expected = sorted(score, key=lambda pk: (sign * score[pk], sign * pk))
        for size in (1, 3, 7, 50):
            got, number, more = [], 1, True
            while more:
                page = page_of_contacts(qs, sort="-score" if descending else "score",
                                        number=number, page_size=size)
                got += [c.pk for c in page.contacts]
                number, more = number + 1, page.has_next
            assert got == expected, (descending, size)
        rows, after = [], None
        while True:
            batch = score_keyset(qs, descending=descending, after=after, limit=4)
            if not batch:
                break
            rows += batch
            after = (batch[-1][1], batch[-1][0])
        assert rows == [(pk, score[pk]) for pk in expected]


def test_table_filters_by_band_and_cold_includes_unscored(marketer_client):
    hot, warm, cold, unscored = scored(60), scored(30), scored(5), scored(None)

    def band(value):
        return set(score_cells(marketer_client.get("/contacts/", {"score_band": value})))

    assert band("hot") == {hot.pk}
    assert band("warm") == {warm.pk}
    assert band("cold") == {cold.pk, unscored.pk}
    assert band("") == {hot.pk, warm.pk, cold.pk, unscored.pk}


def test_filter_bar_offers_score_bands_and_refuses_unknown_ones(marketer_client):
    scored(60)
    page = html(marketer_client.get("/contacts/"))
    assert '<label for="id_score_band">Score</label>' in page
    assert re.search(r'<select name="score_band" id="id_score_band"[^>]*>\s*<option value="" '
                     r'selected>Any score</option>\s*<option value="hot">Hot</option>\s*'
                     r'<option value="warm">Warm</option>\s*<option value="cold">Cold</option>',
                     page)

    bogus = marketer_client.get("/contacts/", {"score_band": "boiling"})

    assert "Select a valid choice. boiling is not one of the available choices." in html(bogus)
    assert len(score_cells(bogus)) == 1  # an invalid filter is reported and ignored


def test_select_all_matching_and_export_keep_the_band_filter(tenant):
    hot, _warm, unscored = scored(60), scored(30), scored(None)

    selection = Selection.from_data({"all": "1", "score_band": "hot"})
    assert list(selection.queryset().values_list("pk", flat=True)) == [hot.pk]
    cold = Selection.from_data({"all": "1", "score_band": "cold"})
    assert list(cold.queryset().values_list("pk", flat=True)) == [unscored.pk]
    source = clean_source(selection.as_export_source())
    assert source["filters"] == {"score_band": "hot"}
    with pytest.raises(SourceError) as caught:
        clean_source({"kind": "filter", "filters": {"score_band": "tepid"}})
    assert str(caught.value) == ("Filter “score_band”: Select a valid choice. tepid is not one "
                                 "of the available choices.")


def test_list_and_segment_pages_show_and_sort_scores(marketer, marketer_client):
    a = scored(25, company="Acme")
    b = scored(70, company="Acme")
    c = scored(None, company="Acme")
    scored(90, company="Initech")
    leads = lists.create_list(name="Leads")
    sql, params = lists.ids_of([a.pk, b.pk, c.pk])
    lists.add_contacts_to_list(static_list=leads, ids_sql=sql, params=params, source="manual")
    segment = segments.create_segment(name="Acme", rules={
        "op": "and", "rules": [{"field": "company", "operator": "equals", "value": "Acme"}]})
    refresh.refresh_segment(segment=segment)

    for url in (f"/lists/{leads.pk}/", f"/segments/{segment.pk}/"):
        response = marketer_client.get(url, {"sort": "-score"})
        assert listed(response) == [b.email, a.email, c.email], url
        assert score_cells(response)[b.pk] == (70, "hot", "Hot")
        assert list(score_cells(marketer_client.get(url, {"score_band": "cold"}))) == [c.pk]


def test_other_tenants_scores_never_show(tenant, other_tenant):
    mine = scored(None, email="ada@example.com")
    with in_schema(other_tenant):
        scored(95, email="ada@example.com")
        scored(80, email="bob@example.com")
    client = client_for(tenant, make_user(tenant, "viewer"))

    assert score_cells(client.get("/contacts/", {"sort": "-score"})) == {
        mine.pk: (0, "cold", "Cold")}
    assert score_cells(client.get("/contacts/", {"score_band": "hot"})) == {}
