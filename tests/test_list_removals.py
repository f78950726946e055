"""Per-contact list removals (segments.ListRemoval): every removal path records one row per
removed member in the statement that deletes it, nothing for non-members, deleted contacts or
deleted lists; the activity timeline shows them among the other entries, with keyset paging;
hostile ids and other tenants."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.bulk import services as bulk
from contacts.bulk.selection import Selection
from contacts.services import delete_contact, purge_contacts
from engagement.models import EmailEvent, ScoreChange
from engagement.timeline import PAGE_SIZE, Cursor, TimelineQuery, activity_head, contact_timeline
from imports import services as imports
from segments import services
from segments.models import Campaign, ListChange, ListMembership, ListRemoval, StaticList
from tests.conftest import in_schema
from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")
from tests.factories import ContactFactory, UserFactory
from tests.test_api_keys import key_client

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
JSON = "application/json"
KEY = re.compile(r'data-key="([^"]+)" data-type="([a-z]+)"')


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def fill(static_list: StaticList, *contacts, source: str = "manual") -> None:
    sql, params = services.ids_of([c.pk for c in contacts])
    services.add_contacts_to_list(static_list=static_list, ids_sql=sql, params=params,
                                  source=source)


def remove(static_list: StaticList, ids: list[int], **kwargs) -> int:
    sql, params = services.ids_of(ids)
    kwargs.setdefault("source", "manual")
    return services.remove_contacts_from_list(static_list=static_list, ids_sql=sql,
                                              params=params, **kwargs)


def removals(**filters) -> list[tuple]:
    return sorted(ListRemoval.objects.filter(**filters).values_list(
        "contact_id", "static_list_id", "source", "source_ref", "actor_id"))


def transaction_now() -> dt.datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


def removed(contact, minutes: int, static_list: StaticList, *, source="bulk", actor=None,
            added_minutes: int = -60) -> ListRemoval:
    """A removal row at a chosen time (the services stamp now(), the same in one test)."""
    return ListRemoval.objects.create(contact=contact, static_list=static_list,
                                      removed_at=at(minutes), added_at=at(added_minutes),
                                      source=source, actor=actor)


def page_of(contact, limit=PAGE_SIZE, **query) -> list[tuple[str, str, int]]:
    page = contact_timeline(contact_id=contact.pk, query=TimelineQuery(**query), limit=limit)
    return [(entry.kind, entry.type, entry.id) for entry in page.entries]


def text_of(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode()))


@pytest.fixture
def ada(tenant):
    return ContactFactory(email="ada@example.com", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def media(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)


# --- every removal path records -----------------------------------------------------------------


def test_removal_records_one_row_per_removed_member_and_none_for_others(tenant):
    user = UserFactory()
    fair = services.create_list(name="Fair")
    a, b, outsider = ContactFactory.create_batch(3)
    fill(fair, a, b)
    added_at = ListMembership.objects.get(static_list=fair, contact=a).added_at

    count = remove(fair, [a.pk, outsider.pk, 987_654_321], source="manual", actor=user)

    assert count == 1
    assert removals() == [(a.pk, fair.pk, "manual", None, user.pk)]
    row = ListRemoval.objects.get()
    assert (row.added_at, row.removed_at) == (added_at, transaction_now())
    assert list(ListMembership.objects.values_list("contact_id", flat=True)) == [b.pk]
    assert ListChange.objects.filter(static_list=fair, removed=1).count() == 1


def test_removing_again_records_nothing_more(tenant):
    fair = services.create_list(name="Fair")
    a = ContactFactory()
    fill(fair, a)
    assert remove(fair, [a.pk]) == 1
    assert remove(fair, [a.pk]) == 0
    assert ListRemoval.objects.count() == 1


def test_bulk_removal_in_chunks_records_every_member_once(tenant, marketer, monkeypatch):
    monkeypatch.setattr(bulk, "MEMBERSHIP_CHUNK_SIZE", 2)
    fair = services.create_list(name="Fair")
    members = ContactFactory.create_batch(5)
    outsider = ContactFactory()
    fill(fair, *members)
    chosen = [c.pk for c in members[:4]] + [outsider.pk]

    op = bulk.start_bulk_operation(kind="remove_from_list", selection=Selection(ids=chosen),
                                   options={"list_id": str(fair.pk)}, user=marketer)

    assert (op.status, op.changed) == ("finished", 4)
    assert removals() == sorted((c.pk, fair.pk, "bulk", op.pk, marketer.pk) for c in members[:4])
    change, = ListChange.objects.filter(static_list=fair, removed__gt=0)
    assert (change.removed, change.source_ref) == (4, op.pk)


def test_removal_from_the_profile_records_the_user(tenant, marketer, marketer_client, ada):
    fair = services.create_list(name="Fair")
    fill(fair, ada)

    response = marketer_client.post(f"/lists/contact/{ada.pk}/",
                                    {"action": "remove", "list_id": fair.pk})

    assert response.status_code == 302
    assert removals() == [(ada.pk, fair.pk, "manual", None, marketer.pk)]


def test_removal_through_the_api_records_source_api(tenant):
    api, _key = key_client(tenant)
    fair = services.create_list(name="Fair")
    a, b = ContactFactory.create_batch(2)
    fill(fair, a, b)

    first = api.delete(f"/api/v1/lists/{fair.pk}/members",
                       data=json.dumps({"contact_ids": [a.pk]}), content_type=JSON)
    second = api.post(f"/api/v1/lists/{fair.pk}/members/remove",
                      data=json.dumps({"emails": [b.email]}), content_type=JSON)

    assert (first.json()["removed"], second.json()["removed"]) == (1, 1)
    assert removals() == sorted([(a.pk, fair.pk, "api", None, None),
                                 (b.pk, fair.pk, "api", None, None)])


def test_file_removal_records_only_the_members_it_removed(tenant, marketer):
    fair = services.create_list(name="Fair")
    ann, bo = ContactFactory(email="ann@x.com"), ContactFactory(email="bo@x.com")
    ContactFactory(email="out@x.com")  # a contact, not a member
    fill(fair, ann, bo)
    csv = b"email\nANN@x.com\nann@x.com\nout@x.com\nnobody@x.com\nnot an email\n"

    report = services.remove_file_contacts(static_list=fair, fileobj=ContentFile(csv),
                                           filename="leavers.csv", actor=marketer)

    assert (report.removed, report.not_members, report.unknown, report.invalid) == (1, 1, 1, 1)
    assert removals() == [(ann.pk, fair.pk, "csv", None, marketer.pk)]


def test_import_rollback_records_its_removals_by_the_user(tenant, owner, dns_server, media):
    grace = ContactFactory(email="grace@example.com")
    leads = services.create_list(name="Leads")
    csv = "Email,First Name\nada@example.com,Ada\ngrace@example.com,Grace\n"
    job = imports.create_import(fileobj=ContentFile(csv.encode(), name="f.csv"),
                                filename="f.csv", user=owner)
    job = imports.configure_import(job=job, strategy="skip", target_list=leads)
    job = imports.analyse_import(job=job, inline=True)
    job = imports.start_import(job=job, user=owner, inline=True)
    assert ListMembership.objects.filter(static_list=leads).count() == 2

    job = imports.rollback_import(job=job, user=owner, inline=True)

    assert job.rollback_report["unlisted"] == 2
    # ada was created by the import: deleted by the rollback, her removal goes with her
    assert removals() == [(grace.pk, leads.pk, "import", job.pk, owner.pk)]


def test_a_deleted_contact_records_nothing_and_its_removals_go_too(tenant, marketer):
    fair, spring = services.create_list(name="Fair"), services.create_list(name="Spring")
    gone, purged, stays = ContactFactory.create_batch(3)
    fill(fair, gone, purged, stays)
    fill(spring, gone, purged, stays)
    remove(spring, [gone.pk, purged.pk, stays.pk])
    assert ListRemoval.objects.count() == 3

    delete_contact(contact=gone, actor=marketer)
    purge_contacts(ids_sql="SELECT %(id)s::bigint AS id", params={"id": purged.pk},
                   actor_id=None, source="test")

    assert removals() == [(stays.pk, spring.pk, "manual", None, None)]
    assert list(ListMembership.objects.filter(static_list=fair)
                .values_list("contact_id", flat=True)) == [stays.pk]


def test_a_deleted_list_records_nothing_and_its_removals_go_with_it(tenant):
    fair, spring = services.create_list(name="Fair"), services.create_list(name="Spring")
    a, b = ContactFactory.create_batch(2)
    fill(fair, a, b)
    fill(spring, a, b)
    remove(fair, [a.pk])
    remove(spring, [a.pk])

    assert services.delete_list(static_list=fair) == 1  # b's membership went, unrecorded
    assert removals() == [(a.pk, spring.pk, "manual", None, None)]
    StaticList.objects.filter(pk=spring.pk).delete()  # Django's cascade too
    assert ListRemoval.objects.count() == 0


# --- hostile ids and other tenants ----------------------------------------------------------------


def test_removing_unknown_or_another_tenants_ids_records_nothing(tenant, other_tenant):
    fair = services.create_list(name="Fair")
    mine = ContactFactory()
    fill(fair, mine)
    with in_schema(other_tenant):
        theirs = ContactFactory(pk=mine.pk + 10_000, email="theirs@beta.example.com")
        their_list = services.create_list(name="Fair")
        fill(their_list, theirs)

    assert remove(fair, [theirs.pk, 2**63 - 1, -1, 0]) == 0
    api, _key = key_client(tenant)
    response = api.delete(f"/api/v1/lists/{fair.pk}/members",
                          data=json.dumps({"contact_ids": [theirs.pk]}), content_type=JSON)
    assert response.status_code == 200
    assert (response.json()["removed"], response.json()["unknown_ids"]) == (0, [theirs.pk])
    outsider = api.delete(f"/api/v1/lists/{their_list.pk + 10_000}/members",
                          data=json.dumps({"contact_ids": [mine.pk]}), content_type=JSON)
    assert outsider.status_code == 404

    assert ListRemoval.objects.count() == 0
    assert ListMembership.objects.filter(contact=mine).count() == 1
    with in_schema(other_tenant):
        assert ListRemoval.objects.count() == 0
        assert ListMembership.objects.filter(static_list=their_list).count() == 1


def test_removals_stay_in_their_tenant(tenant, other_tenant, marketer_client, ada):
    fair = services.create_list(name="Our fair")
    fill(fair, ada)
    remove(fair, [ada.pk])
    with in_schema(other_tenant):
        twin = ContactFactory(pk=ada.pk, email="twin@beta.example.com")  # same id as ours
        secret = services.create_list(name="Beta secret list")
        fill(secret, twin)
        remove(secret, [twin.pk])
        beta_page = contact_timeline(contact_id=twin.pk, query=TimelineQuery())
        assert [e.obj.static_list.name for e in beta_page.entries] == ["Beta secret list"]

    page = marketer_client.get(f"/contacts/{ada.pk}/timeline/").content.decode()
    assert "Our fair" in page and "Beta secret list" not in page
    assert [e.obj.static_list_id for e in contact_timeline(
        contact_id=ada.pk, query=TimelineQuery()).entries] == [fair.pk]


# --- the timeline ---------------------------------------------------------------------------------


def test_timeline_merges_removals_in_order(ada):
    fair, spring = services.create_list(name="Fair"), services.create_list(name="Spring")
    event = EmailEvent.objects.create(event_id="e1", contact=ada, type="opened",
                                      occurred_at=at(1))
    ListMembership.objects.create(static_list=fair, contact=ada, added_at=at(2), source="api")
    gone = removed(ada, 3, spring)
    score = ScoreChange.objects.create(contact=ada, old_score=0, new_score=1, old_band="cold",
                                       new_band="cold", reason="x", created_at=at(4))
    same_instant = removed(ada, 2, services.create_list(name="Winter"))

    assert page_of(ada) == [
        ("s", "score", score.pk), ("r", "list", gone.id),
        ("r", "list", same_instant.id), ("l", "list", fair.pk),  # at 2: removal first
        ("e", "opened", event.pk),
    ]
    assert page_of(ada, types=frozenset({"list"})) == [
        ("r", "list", gone.id), ("r", "list", same_instant.id), ("l", "list", fair.pk)]
    assert page_of(ada, types=frozenset({"opened", "score"})) == [
        ("s", "score", score.pk), ("e", "opened", event.pk)]
    assert page_of(ada, start=at(3), end=at(4)) == [("r", "list", gone.id)]


def test_timeline_pages_through_removals_by_keyset(ada):
    lists = [services.create_list(name=f"L{i}") for i in range(13)]
    for static_list in lists:
        fill(static_list, ada)
    for static_list in lists[:10]:  # ten removals at one instant: the id breaks the tie
        remove(static_list, [ada.pk], source="bulk")
    for i in range(6):
        removed(ada, i, lists[i])
    everything = page_of(ada, limit=100)
    assert len(everything) == 19  # 10 + 6 removals, 3 lists still in
    assert [kind for kind, _t, _i in everything[:10]] == ["r"] * 10

    seen, cursor, sizes = [], None, []
    while True:
        page = contact_timeline(contact_id=ada.pk, query=TimelineQuery(cursor=cursor), limit=7)
        seen += [(e.kind, e.type, e.id) for e in page.entries]
        sizes.append(len(page.entries))
        if not page.next_cursor:
            break
        cursor = Cursor.decode(page.next_cursor)
    assert sizes == [7, 7, 5]
    assert seen == everything


def test_timeline_removal_part_reads_the_primary_key_without_sorting(ada):
    fair = services.create_list(name="Fair")
    for i in range(30):
        removed(ada, i, fair)
    with CaptureQueriesContext(connection) as queries:
        contact_timeline(contact_id=ada.pk, query=TimelineQuery(cursor=Cursor(at(20), "r", 5)))
    sql, = [q["sql"] for q in queries.captured_queries if "segments_listremoval" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Scan Backward using segments_listremoval_pkey" in plan
    assert "Sort" not in plan
    assert re.search(r"Index Cond: .*removed_at <=", plan)


def test_timeline_tells_what_removed_the_contact_and_by_whom(ada, owner, marketer_client):
    mary = UserFactory(full_name="Mary Marketer")
    fair = services.create_list(name="Fair <leads>")
    campaign = Campaign.objects.create(name="Launch")
    direct = services.ensure_direct_list(campaign=campaign)
    removed(ada, 1, fair, source="bulk", actor=mary, added_minutes=0)
    rollback = removed(ada, 2, fair, source="import")
    ListRemoval.objects.filter(id=rollback.id).update(source_ref=77)
    removed(ada, 3, direct, source="manual", actor=mary)
    removed(ada, 4, fair, source="api")

    response = marketer_client.get(f"/contacts/{ada.pk}/timeline/")
    page, text = response.content.decode(), text_of(response)

    assert [t for _k, t in KEY.findall(page)] == ["list"] * 4
    assert "Removed from list Fair &lt;leads&gt; (API; added Mar 10, 2026 11:00)" in text
    assert ("Removed from campaign Launch (by hand, by Mary Marketer; added Mar 10, 2026 "
            "11:00)") in text
    assert f'href="/campaigns/{campaign.pk}/">Launch</a>' in page
    assert "Removed from list Fair &lt;leads&gt; (rollback of import #77; added" in text
    assert 'href="/imports/77/">import #77</a>' in page
    assert ("Removed from list Fair &lt;leads&gt; (bulk action, by Mary Marketer; added "
            "Mar 10, 2026 12:00)") in text
    assert f'href="/lists/{fair.pk}/">Fair &lt;leads&gt;</a>' in page
    assert "List changes" in page  # the type filter's label


def test_activity_head_changes_when_the_contact_leaves_a_list(ada):
    fair = services.create_list(name="Fair")
    fill(fair, ada)
    before = activity_head(contact_id=ada.pk)
    remove(fair, [ada.pk])
    assert activity_head(contact_id=ada.pk) != before
