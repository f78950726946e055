"""Campaigns: targets and exclusions, the audience (minus unsubscribed / bounced / invalid,
each email once), "add to campaign", the pages, the streaming API and tenant isolation."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from segments import selectors, services
from segments.models import Campaign, CampaignTarget, StaticList
from tests.conftest import client_for, in_schema, make_user
from tests.factories import ContactFactory
from tests.test_api_keys import error_of, key_client


def fill(static_list, *contacts):
    sql, params = services.ids_of([c.pk for c in contacts])
    services.add_contacts_to_list(static_list=static_list, ids_sql=sql, params=params,
                                  source="manual")


@pytest.fixture
def setup(tenant):
    """Two target lists overlapping on `both`, an exclusion list, and contacts that must be
    left out for their status or validation."""
    one, two, skip = (services.create_list(name=n) for n in ("One", "Two", "Suppressed"))
    c = {name: ContactFactory(email=f"{name}@example.com") for name in
         ("only1", "both", "only2", "excluded")}
    c["unsub"] = ContactFactory(email="unsub@example.com", status="unsubscribed")
    c["bounced"] = ContactFactory(email="bounced@example.com", status="bounced")
    c["invalid"] = ContactFactory(email="invalid@example.com", validation_status="invalid")
    c["risky"] = ContactFactory(email="risky@example.com", validation_status="risky")
    fill(one, c["only1"], c["both"], c["excluded"], c["unsub"], c["risky"])
    fill(two, c["both"], c["only2"], c["bounced"], c["invalid"])
    fill(skip, c["excluded"])
    campaign = services.create_campaign(name="Spring")
    services.set_campaign_targets(campaign=campaign, target_ids=[one.pk, two.pk],
                                  exclude_ids=[skip.pk])
    return campaign, c


def test_audience_is_targets_minus_exclusions_and_unsendable_each_once(setup):
    campaign, c = setup
    emails = sorted(selectors.audience(campaign).values_list("email", flat=True))
    assert emails == ["both@example.com", "only1@example.com", "only2@example.com",
                      "risky@example.com"]
    assert selectors.count_audience(campaign) == 4


def test_campaign_without_targets_has_no_audience(tenant):
    ContactFactory()
    campaign = services.create_campaign(name="Empty")
    assert selectors.count_audience(campaign) == 0


def test_target_and_exclusion_at_once_is_refused(tenant):
    lst = services.create_list(name="L")
    campaign = services.create_campaign(name="C")
    with pytest.raises(ValidationError) as caught:
        services.set_campaign_targets(campaign=campaign, target_ids=[lst.pk],
                                      exclude_ids=[lst.pk])
    assert caught.value.messages == ["A list can't be both a target and an exclusion."]


def test_add_to_campaign_uses_its_own_targeted_list(setup):
    campaign, c = setup
    extra = ContactFactory(email="extra@example.com")
    sql, params = services.ids_of([extra.pk, c["both"].pk])
    assert services.add_contacts_to_campaign(campaign=campaign, ids_sql=sql, params=params,
                                             source="bulk") == 2
    campaign.refresh_from_db()
    direct = campaign.direct_list
    assert (direct.campaign_owned, direct.name) == (True, "Spring (added directly)")
    assert CampaignTarget.objects.get(campaign=campaign, static_list=direct).exclude is False
    assert "extra@example.com" in selectors.audience(campaign).values_list("email", flat=True)
    assert selectors.count_audience(campaign) == 5  # "both" is still counted once
    assert direct not in selectors.active_lists()
    # Re-choosing the lists keeps the direct list targeted.
    services.set_campaign_targets(campaign=campaign, target_ids=[], exclude_ids=[])
    assert selectors.count_audience(campaign) == 2


def test_campaign_pages_create_target_and_preview(tenant, marketer, marketer_client):
    one = services.create_list(name="One")
    skip = services.create_list(name="Skip")
    a, b = ContactFactory(email="a@example.com"), ContactFactory(email="b@example.com")
    fill(one, a, b)
    fill(skip, b)
    response = marketer_client.post("/campaigns/new/", {"name": "Launch", "status": "draft"})
    campaign = Campaign.objects.get()
    assert response["Location"] == f"/campaigns/{campaign.pk}/targets/"
    assert campaign.created_by == marketer
    response = marketer_client.post(f"/campaigns/{campaign.pk}/targets/",
                                    {"targets": [one.pk], "exclusions": [skip.pk]})
    assert response["Location"] == f"/campaigns/{campaign.pk}/"
    page = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert '<strong id="audience-count">1</strong>' in page
    assert ">a@example.com</a>" in page and ">b@example.com</a>" not in page
    marketer_client.post(f"/campaigns/{campaign.pk}/edit/", {"name": "Launch", "status": "active"})
    campaign.refresh_from_db()
    assert campaign.status == "active"
    assert ">Launch</a>" in marketer_client.get("/campaigns/").content.decode()


def test_campaign_targets_page_refuses_both_and_deleted_lists(marketer_client):
    lst = services.create_list(name="L")
    gone = services.create_list(name="Gone")
    campaign = services.create_campaign(name="C")
    response = marketer_client.post(f"/campaigns/{campaign.pk}/targets/",
                                    {"targets": [lst.pk], "exclusions": [lst.pk]})
    assert response.status_code == 400
    assert "A list can&#x27;t be both a target and an exclusion: “L”." in \
        response.content.decode()
    services.delete_list(static_list=gone)
    response = marketer_client.post(f"/campaigns/{campaign.pk}/targets/", {"targets": [gone.pk]})
    assert response.status_code == 400
    assert "One of the lists chosen no longer exists; it may have been deleted." in \
        response.content.decode()


def test_audience_api_streams_by_id_cursor_stable_under_inserts(setup):
    campaign, c = setup
    api, _key = key_client(connection.tenant)
    first = api.get(f"/api/v1/campaigns/{campaign.pk}/audience?limit=2").json()
    expected = sorted(c[n].pk for n in ("only1", "both", "only2", "risky"))
    assert [r["id"] for r in first["results"]] == expected[:2]
    assert set(first["results"][0]) == {"id", "email", "first_name", "last_name", "company"}
    # A contact added to a target list meanwhile, with a lower id than the cursor? Ids only
    # grow, so it lands after: the pages already read neither shift nor repeat.
    late = ContactFactory(email="late@example.com")
    fill(StaticList.objects.get(name="One"), late)
    rest = []
    url = first["next"]
    while url:
        page = api.get(url).json()
        rest += [r["id"] for r in page["results"]]
        url = page["next"]
    assert rest == [*expected[2:], late.pk]


def test_campaign_api_create_and_patch_targets(tenant):
    lst = services.create_list(name="L")
    api, _key = key_client(tenant)
    created = api.post("/api/v1/campaigns", data=json.dumps(
        {"name": "Api", "target_list_ids": [lst.pk]}), content_type="application/json")
    assert created.status_code == 201
    assert created.json()["target_list_ids"] == [lst.pk]
    bad = api.patch(f"/api/v1/campaigns/{created.json()['id']}", data=json.dumps(
        {"exclude_list_ids": [987654]}), content_type="application/json")
    assert bad.status_code == 400
    assert error_of(bad)["details"] == {
        "exclude_list_ids": ["No list with id 987654; it may have been deleted."]
    }
    assert CampaignTarget.objects.filter(exclude=True).count() == 0


def test_other_tenant_sees_no_campaign_or_audience(setup, tenant, other_tenant):
    campaign, _c = setup
    outsider = make_user(other_tenant, "owner")
    client = client_for(other_tenant, outsider)
    assert "Spring" not in client.get("/campaigns/").content.decode()
    assert client.get(f"/campaigns/{campaign.pk}/").status_code == 404
    api, _key = key_client(other_tenant)
    assert api.get(f"/api/v1/campaigns/{campaign.pk}/audience").status_code == 404
    assert api.get("/api/v1/campaigns").json()["results"] == []
    with in_schema(other_tenant):
        assert Campaign.objects.count() == 0
    connection.set_tenant(tenant)


def _mixed_campaign(name: str, *, targets: tuple[bool, bool], excludes: tuple[bool, bool]):
    """Lists L1 {a, b, c, unsub} and L2 {c, d}; segments S1 (emails starting "b" or "e") and
    S2 ("d"); exclusion list X {c}; exclusion segment Y ("a"). `targets`/`excludes` say which
    of (lists, segments) the campaign uses."""
    from segments.dynamic import refresh
    from segments.dynamic import services as segment_services

    people = {n: ContactFactory(email=f"{n}@example.com") for n in "abcde"}
    people["unsub"] = ContactFactory(email="unsub@example.com", status="unsubscribed")
    l1, l2, x = (services.create_list(name=f"{name} {n}") for n in ("L1", "L2", "X"))
    fill(l1, people["a"], people["b"], people["c"], people["unsub"])
    fill(l2, people["c"], people["d"])
    fill(x, people["c"])

    def segment(label, *starts):
        rules = {"op": "or", "rules": [{"field": "email", "operator": "starts_with",
                                        "value": s} for s in starts]}
        made = segment_services.create_segment(name=f"{name} {label}", rules=rules)
        refresh.refresh_segment(segment=made)
        return made

    s1, s2, y = segment("S1", "b", "e"), segment("S2", "d"), segment("Y", "a")
    campaign = services.create_campaign(name=name)
    services.set_campaign_targets(
        campaign=campaign, target_ids=[l1.pk, l2.pk] if targets[0] else [],
        exclude_ids=[x.pk] if excludes[0] else [],
        target_segment_ids=[s1.pk, s2.pk] if targets[1] else [],
        exclude_segment_ids=[y.pk] if excludes[1] else [])
    return campaign


COMBINATIONS = [(t, e) for t in ((True, False), (False, True), (True, True))
                for e in ((False, False), (True, False), (False, True), (True, True))]


@pytest.mark.parametrize(("targets", "excludes"), COMBINATIONS)
def test_count_and_members_agree_for_every_mix_of_targets_and_exclusions(
        tenant, other_tenant, targets, excludes):
    """count_audience builds its query from the parts a campaign uses (lists and/or segments,
    with or without each kind of exclusion); every mix counts exactly the audience's members,
    each once. The other workspace holds the same setup with its own ids, and its memberships
    never enter this workspace's count (nor the reverse)."""
    with in_schema(other_tenant):
        theirs = _mixed_campaign("Theirs", targets=(True, True), excludes=(False, False))
    connection.set_tenant(tenant)
    campaign = _mixed_campaign("Ours", targets=targets, excludes=excludes)
    expected = set()
    if targets[0]:
        expected |= {"a", "b", "c", "d"}
    if targets[1]:
        expected |= {"b", "e", "d"}
    if excludes[0]:
        expected -= {"c"}
    if excludes[1]:
        expected -= {"a"}
    emails = {f"{n}@example.com" for n in expected}
    assert set(selectors.audience(campaign).values_list("email", flat=True)) == emails
    assert selectors.count_audience(campaign) == len(emails)
    with in_schema(other_tenant):
        assert selectors.count_audience(theirs) == 5  # a, b, c, d, e: nothing of ours
    connection.set_tenant(tenant)
