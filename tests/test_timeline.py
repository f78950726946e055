"""The activity timeline of a contact: the selector (engagement.timeline: merge order, filters,
keyset paging, the index it reads) and the timeline view (/contacts/<id>/timeline/: the page
without JavaScript, the htmx panel and fragments, hostile parameters, other tenants)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact, ContactChange
from engagement.models import EmailEvent, ScoreChange
from engagement.services import ingest_events
from engagement.timeline import (
    PAGE_SIZE,
    Cursor,
    TimelineError,
    TimelineQuery,
    contact_timeline,
)
from segments.models import Campaign, ListMembership, StaticList
from tests.conftest import in_schema
from tests.factories import ContactFactory

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
KEY = re.compile(r'data-key="([^"]+)" data-type="([a-z]+)"')


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def email_event(contact, minutes, kind="opened", n=None, **fields) -> EmailEvent:
    n = n if n is not None else f"{contact.pk}-{kind}-{minutes}"
    return EmailEvent.objects.create(event_id=f"tl-{n}", contact=contact, type=kind,
                                     occurred_at=at(minutes), **fields)


def score_change(contact, minutes, old=0, new=3) -> ScoreChange:
    return ScoreChange.objects.create(contact=contact, old_score=old, new_score=new,
                                      old_band="cold", new_band="cold", reason="new events",
                                      created_at=at(minutes))


def contact_change(contact, minutes, *, source="ui", changes=None, action="updated"):
    change = ContactChange.objects.create(contact=contact, contact_email=contact.email,
                                          action=action, changes=changes or {}, source=source)
    ContactChange.objects.filter(pk=change.pk).update(created_at=at(minutes))
    return change


def list_added(contact, minutes, name="Fair leads", source="manual") -> ListMembership:
    static_list = StaticList.objects.create(name=name)
    return ListMembership.objects.create(static_list=static_list, contact=contact,
                                         added_at=at(minutes), source=source)


def page_of(contact, limit=PAGE_SIZE, **query) -> list[tuple[str, int]]:
    page = contact_timeline(contact_id=contact.pk, query=TimelineQuery(**query), limit=limit)
    return [(entry.type, entry.id) for entry in page.entries]


def keys_of(response) -> list[str]:
    return [key for key, _type in KEY.findall(response.content.decode())]


@pytest.fixture
def ada(tenant):
    return ContactFactory(email="ada@example.com", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def mixed(ada):
    """One entry of each kind, minutes apart, plus rows the timeline must leave out."""
    rows = {
        "sent": email_event(ada, 1, "sent"),
        "list": list_added(ada, 2),
        "opened": email_event(ada, 3, "opened"),
        "score": score_change(ada, 4),
        "import": contact_change(ada, 5, source="import:7", action="created"),
        "status": contact_change(ada, 6, source="events:webhook",
                                 changes={"status": ["active", "unsubscribed"]}),
        "clicked": email_event(ada, 7, "clicked", url="https://x.test/a"),
    }
    contact_change(ada, 8, source="ui", changes={"company": ["A", "B"]})  # not timeline matter
    other = ContactFactory(email="bob@example.com")
    email_event(other, 9, "replied")  # someone else's
    return rows


# --- selector ---------------------------------------------------------------------------------


def test_timeline_merges_all_sources_newest_first(ada, mixed):
    assert page_of(ada) == [
        ("clicked", mixed["clicked"].pk), ("status", mixed["status"].pk),
        ("import", mixed["import"].pk), ("score", mixed["score"].pk),
        ("opened", mixed["opened"].pk), ("list", mixed["list"].static_list_id),
        ("sent", mixed["sent"].pk),
    ]


def test_timeline_breaks_ties_at_one_instant_by_kind_then_id(ada):
    first, second = email_event(ada, 0, n="a"), email_event(ada, 0, "clicked", n="b")
    score = score_change(ada, 0)
    change = contact_change(ada, 0, source="bulk:3", changes={"status": ["active", "bounced"]})
    membership = list_added(ada, 0)

    assert page_of(ada) == [("score", score.pk), ("list", membership.static_list_id),
                            ("clicked", second.pk), ("opened", first.pk),
                            ("status", change.pk)]


def test_timeline_filters_by_types(ada, mixed):
    assert page_of(ada, types=frozenset({"opened", "clicked"})) == [
        ("clicked", mixed["clicked"].pk), ("opened", mixed["opened"].pk)]
    assert page_of(ada, types=frozenset({"status"})) == [("status", mixed["status"].pk)]
    assert page_of(ada, types=frozenset({"import", "list"})) == [
        ("import", mixed["import"].pk), ("list", mixed["list"].static_list_id)]


def test_timeline_import_that_changed_status_is_an_import_unless_only_status_is_asked(ada):
    change = contact_change(ada, 1, source="import:4", changes={"status": ["active", "bounced"]})

    assert page_of(ada) == [("import", change.pk)]
    assert page_of(ada, types=frozenset({"status"})) == [("status", change.pk)]


def test_timeline_filters_by_date_range(ada, mixed):
    assert page_of(ada, start=at(3), end=at(6)) == [
        ("import", mixed["import"].pk), ("score", mixed["score"].pk),
        ("opened", mixed["opened"].pk)]


def test_timeline_pages_by_keyset_across_three_pages(ada):
    # 60 entries, with several at one instant across the page boundaries
    for i in range(40):
        email_event(ada, i // 2, ["sent", "opened"][i % 2], n=f"p{i}")
    for i in range(12):
        score_change(ada, i, new=i)
    for i in range(8):
        contact_change(ada, 2 * i, source=f"import:{i}")
    everything = page_of(ada, limit=100)
    assert len(everything) == 60

    seen, cursor, sizes = [], None, []
    while True:
        page = contact_timeline(contact_id=ada.pk, query=TimelineQuery(cursor=cursor), limit=25)
        seen += [(entry.type, entry.id) for entry in page.entries]
        sizes.append(len(page.entries))
        if not page.next_cursor:
            break
        cursor = Cursor.decode(page.next_cursor)
    assert sizes == [25, 25, 10]
    assert seen == everything


def test_timeline_after_returns_the_newest_from_a_little_before_the_key(ada):
    # what the open page showed: its newest entry at minute 10
    email_event(ada, 0, n="long-ago")
    shown = email_event(ada, 10, n="shown")
    score = score_change(ada, 9)  # committed late, below the page's newest: still comes
    later = email_event(ada, 11, "replied", n="later")

    newer = contact_timeline(contact_id=ada.pk, query=TimelineQuery(after=Cursor(
        shown.occurred_at, "e", shown.pk)))
    assert [(e.type, e.id) for e in newer.entries] == [
        ("replied", later.pk), ("opened", shown.pk), ("score", score.pk)]
    assert newer.truncated is False


def test_timeline_after_is_capped_and_says_so(ada, monkeypatch):
    monkeypatch.setattr("engagement.timeline.MAX_NEW", 3)
    for i in range(5):
        email_event(ada, 20 + i, n=f"cap{i}")

    newer = contact_timeline(contact_id=ada.pk, query=TimelineQuery(after=Cursor(at(20), "e", 0)))
    assert [e.occurred_at for e in newer.entries] == [at(24), at(23), at(22)]
    assert newer.truncated is True


def test_timeline_email_part_reads_the_timeline_index_without_sorting(ada):
    for i in range(30):
        email_event(ada, i, n=f"ix{i}")
    cursor = Cursor(at(20), "e", 10**6)
    with CaptureQueriesContext(connection) as queries:
        contact_timeline(contact_id=ada.pk, query=TimelineQuery(cursor=cursor))
    sql, = [q["sql"] for q in queries.captured_queries if "engagement_emailevent" in q["sql"]]
    with connection.cursor() as c:
        # Whatever statistics earlier tests left (autovacuum), ask for the plan of a big
        # table: a Sort still shows up (disabled, not removed) if the index cannot give the order.
        c.execute("SET LOCAL enable_seqscan = off")
        c.execute("SET LOCAL enable_sort = off")
        c.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in c.fetchall())
    assert "emailevent_timeline_idx" in plan
    assert "Sort" not in plan
    assert re.search(r"Index Cond: .*occurred_at <=", plan)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "This paging link is not valid"),
        ("abc", "This paging link is not valid"),
        ("1767000000000000.x.5", "This paging link is not valid"),
        ("1767000000000000.e.9223372036854775808", "This paging link is not valid"),
        ("1767000000000000.e.5;DROP", "This paging link is not valid"),
        ("999999999999999999.e.5", "This paging link points outside the calendar"),
    ],
)
def test_cursor_refuses_hostile_text(text, message):
    with pytest.raises(TimelineError, match=message):
        Cursor.decode(text)


def test_cursor_round_trips():
    key = Cursor(dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC), "l", 42)
    assert Cursor.decode(key.encode()) == key
    assert key.encode() == "1767323045678901.l.42"


# --- view -------------------------------------------------------------------------------------


def test_timeline_page_without_javascript_lists_and_pages(ada, marketer_client):
    for i in range(30):
        email_event(ada, i, n=f"v{i}", subject=f"Subject {i}")
    url = f"/contacts/{ada.pk}/timeline/"

    first = marketer_client.get(url)
    page = first.content.decode()
    assert first.status_code == 200
    assert "<html" in page and "Activity of Ada Lovelace" in page
    assert '<form class="toolbar timeline-filters" method="get"' in page
    assert len(keys_of(first)) == 25 and "Subject 29" in page
    older = re.search(r'<a class="btn" href="([^"]+)"[^>]*rel="next">Older</a>', page).group(1)
    second = marketer_client.get(older.replace("&amp;", "&"))
    assert second.status_code == 200
    assert len(keys_of(second)) == 5 and "Subject 4" in second.content.decode()
    assert "That is all the activity." in second.content.decode()
    assert set(keys_of(first)).isdisjoint(keys_of(second))


def test_timeline_filters_are_query_parameters_and_kept_in_the_older_link(ada, marketer_client):
    for i in range(30):
        email_event(ada, i, "clicked" if i % 2 else "sent", n=f"f{i}")

    response = marketer_client.get(f"/contacts/{ada.pk}/timeline/",
                                   {"types": ["clicked"], "date_from": "2026-03-10",
                                    "date_to": "2026-03-10"})

    page = response.content.decode()
    assert [t for _k, t in KEY.findall(page)] == ["clicked"] * 15
    everything = marketer_client.get(f"/contacts/{ada.pk}/timeline/",
                                     {"types": "", "date_from": "", "date_to": ""})
    assert everything.status_code == 200 and len(keys_of(everything)) == 25
    assert 'value="clicked" checked' in page and 'value="sent" checked' not in page
    assert "Older" not in page


def test_timeline_htmx_panel_and_fragments(ada, marketer_client):
    for i in range(30):
        email_event(ada, i, n=f"h{i}")
    url = f"/contacts/{ada.pk}/timeline/"
    htmx = {"HTTP_HX_REQUEST": "true"}

    panel = marketer_client.get(url, **htmx)
    body = panel.content.decode()
    assert panel.status_code == 200 and "<html" not in body
    assert 'id="timeline-list"' in body and "data-live" in body
    cursor = re.search(r'hx-get="[^"]*cursor=([^&"]+)&amp;fragment=older"', body).group(1)

    older = marketer_client.get(url, {"cursor": cursor, "fragment": "older"}, **htmx)
    text = older.content.decode()
    assert len(keys_of(older)) == 5
    assert 'id="timeline-more" hx-swap-oob="true"' in text

    newest = keys_of(panel)[0]
    new = email_event(ada, 40, "replied", n="h-new")
    rows = marketer_client.get(url, {"after": newest, "fragment": "rows"}, **htmx)
    # the new one, and what the page has from two minutes before its newest (it keeps those)
    assert keys_of(rows) == [Cursor(new.occurred_at, "e", new.pk).encode(), *keys_of(panel)[:3]]


def test_timeline_live_rows_say_when_more_arrived_than_one_answer_holds(
        ada, marketer_client, monkeypatch):
    monkeypatch.setattr("engagement.timeline.MAX_NEW", 2)
    for i in range(4):
        email_event(ada, i, n=f"gap{i}")
    url = f"/contacts/{ada.pk}/timeline/"

    rows = marketer_client.get(url, {"after": Cursor(at(0), "e", 0).encode(),
                                     "fragment": "rows"}, HTTP_HX_REQUEST="true")

    assert len(keys_of(rows)) == 2
    assert "More new activity arrived than is shown here" in rows.content.decode()


def test_timeline_is_live_only_on_a_first_page_that_reaches_today(ada, marketer_client):
    for i in range(30):
        email_event(ada, i, n=f"lv{i}")
    url = f"/contacts/{ada.pk}/timeline/"
    cursor = Cursor(at(10), "e", 10**6).encode()

    assert "data-live" in marketer_client.get(url).content.decode()
    assert "data-live" in marketer_client.get(url, {"date_to": "2999-01-01"}).content.decode()
    assert "data-live" not in marketer_client.get(url, {"date_to": "2026-03-10"}).content.decode()
    assert "data-live" not in marketer_client.get(url, {"cursor": cursor}).content.decode()


def test_timeline_email_entry_shows_details_and_links_the_campaign(ada, marketer_client):
    campaign = Campaign.objects.create(name="Spring <launch>")
    email_event(ada, 1, "bounced", campaign=campaign, subject="Hi <b>there</b>",
                preview="Short preview", url="javascript:alert(1)", message_id="<m1@x>",
                bounce_type="soft")

    page = marketer_client.get(f"/contacts/{ada.pk}/timeline/").content.decode()

    assert "<details" in page and "Email details" in page
    assert f'href="/campaigns/{campaign.pk}/">Spring &lt;launch&gt;</a>' in page
    assert "“Hi &lt;b&gt;there&lt;/b&gt;”" in page and "Short preview" in page
    assert "<code>&lt;m1@x&gt;</code>" in page and "<dd>Soft</dd>" in page
    assert 'href="javascript:' not in page  # the sender's URL is shown, never linked


def test_timeline_other_entries_read_as_sentences(ada, mixed, marketer_client):
    page = marketer_client.get(f"/contacts/{ada.pk}/timeline/").content.decode()
    text = re.sub(r"<[^>]+>", "", page)
    text = re.sub(r"\s+", " ", text)

    assert "Created by import #7" in text and 'href="/imports/7/"' in page
    assert "Status active → unsubscribed (events:webhook)" in text
    assert "Score 0 → 3 · Cold (new events)" in text
    assert "Added to list Fair leads (added by hand)" in text
    assert f'href="/lists/{mixed["list"].static_list_id}/"' in page


def test_profile_loads_the_timeline_with_htmx_and_links_it_for_no_javascript(ada, viewer_client):
    page = viewer_client.get(f"/contacts/{ada.pk}/").content.decode()

    url = f"/contacts/{ada.pk}/timeline/"
    assert f'hx-get="{url}" hx-trigger="load"' in page
    assert f'<a href="{url}">Show the activity timeline</a>' in page
    assert f'data-ws-path="/ws/contacts/{ada.pk}/activity/"' in page
    assert "js/timeline.js" in page
    assert viewer_client.get(url).status_code == 200  # viewers read the timeline too


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"cursor": "garbage"}, "This paging link is not valid"),
        ({"after": "12.e"}, "This paging link is not valid"),
        ({"cursor": "999999999999999999.e.1"}, "This paging link points outside the calendar"),
        ({"date_from": "yesterday"}, "Enter a valid date."),
        ({"date_to": "2026-02-30"}, "Enter a valid date."),
        ({"date_from": "0001-01-01"}, "Pick a date between 1970 and 2999."),
        ({"date_from": "2026-03-02", "date_to": "2026-03-01"},
         "The end date is before the start date."),
        ({"types": ["opened", "<script>x"]},
         "Unknown activity type “&lt;script&gt;x”; choose from sent, opened, clicked, replied, "
         "bounced, unsubscribed, score, status, import, list."),
    ],
)
def test_timeline_hostile_parameters_get_a_clear_message(ada, marketer_client, params, message):
    email_event(ada, 1)
    url = f"/contacts/{ada.pk}/timeline/"

    page = marketer_client.get(url, params)
    assert page.status_code == 400
    assert message in page.content.decode()
    assert keys_of(page) == []
    panel = marketer_client.get(url, params, HTTP_HX_REQUEST="true")
    assert panel.status_code == 200  # htmx swaps only 2xx: the panel shows the message
    assert message in panel.content.decode()
    rows = marketer_client.get(url, {**params, "fragment": "rows"}, HTTP_HX_REQUEST="true")
    assert rows.status_code == 400 and message in rows.content.decode()


def test_timeline_of_unknown_or_out_of_range_contact_is_404(marketer_client):
    assert marketer_client.get("/contacts/987654/timeline/").status_code == 404
    assert marketer_client.get("/contacts/99999999999999999999999/timeline/").status_code == 404


def test_timeline_of_another_tenants_contact_is_404_and_shows_nothing_of_theirs(
        ada, other_tenant, marketer_client):
    with in_schema(other_tenant):
        theirs = ContactFactory(pk=987_001, email="theirs@example.com")
        email_event(theirs, 1, "replied", n="theirs", subject="Their secret")
        mine = ContactFactory(pk=ada.pk, email="ada@beta.example.com")  # same id as ours
        email_event(mine, 2, "clicked", n="theirs-2", subject="Beta only")

    assert marketer_client.get(f"/contacts/{theirs.pk}/timeline/").status_code == 404
    page = marketer_client.get(f"/contacts/{ada.pk}/timeline/").content.decode()
    assert "Beta only" not in page and "No activity yet." in page


def test_timeline_query_count_does_not_grow_with_entries(ada, marketer_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert marketer_client.get(f"/contacts/{ada.pk}/timeline/",
                                       HTTP_HX_REQUEST="true").status_code == 200
        return len(captured)

    campaign = Campaign.objects.create(name="Spring")
    email_event(ada, 0, campaign=campaign, n="q0")
    list_added(ada, 0, name="L0")
    contact_change(ada, 0, source="import:1")
    score_change(ada, 0)
    one = queries()
    for i in range(1, 4):
        email_event(ada, i, campaign=Campaign.objects.create(name=f"C{i}"), n=f"q{i}")
        list_added(ada, i, name=f"L{i}")
        contact_change(ada, i, source=f"import:{i}", changes={"status": ["active", "bounced"]})
        score_change(ada, i)
    assert queries() == one


def test_ingested_events_appear_on_the_timeline(ada, marketer_client):
    ingest_events(events=[
        {"event_id": "ing-1", "type": "clicked", "email": "ada@example.com",
         "occurred_at": "2026-03-10T12:00:00Z", "campaign": "Autumn", "url": "https://a.test",
         "subject": "Our offer"},
        {"event_id": "ing-2", "type": "unsubscribed", "email": "ada@example.com",
         "occurred_at": "2026-03-10T12:05:00Z"},
    ], source="events:test")

    page = contact_timeline(contact_id=ada.pk, query=TimelineQuery())
    # the status changes first, then the scores are recomputed (both after the events)
    assert [e.type for e in page.entries] == ["score", "status", "unsubscribed", "clicked"]
    assert Contact.objects.get(pk=ada.pk).status == "unsubscribed"
