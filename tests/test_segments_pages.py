"""Dynamic segment pages: index, new/edit with the rule builder's JSON, live preview, delete,
a segment's members (table, bulk bar, export), analytics and "Refresh now"; roles, tenant
isolation and hostile input."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.bulk import services as bulk
from contacts.bulk.selection import Selection
from contacts.models import Contact
from contacts.services import create_contact, update_contact
from imports.models import ExportJob
from segments import services as lists
from segments.dynamic import services
from segments.models import Segment, SegmentRefresh, StaticList
from tests.conftest import client_for, in_schema, make_user

pytestmark = pytest.mark.django_db

NESTED = {"op": "and", "rules": [
    {"field": "company", "operator": "equals", "value": "Acme"},
    {"op": "or", "rules": [
        {"field": "tags", "operator": "has_any", "value": ["vip"]},
        {"field": "email", "operator": "ends_with", "value": "@big.example"},
    ]},
]}


def html(response) -> str:
    return response.content.decode()


def person(email: str, company: str = "Acme", tags: list[str] | None = None) -> Contact:
    return create_contact(data={"email": email, "company": company}, tags=tags)


def people() -> dict[str, Contact]:
    """Five contacts; A AND (B OR C) (NESTED) matches vip and big."""
    return {
        "vip": person("vip@small.example", tags=["vip"]),
        "big": person("boss@big.example"),
        "plain": person("plain@small.example"),
        "other_co": person("x@big.example", company="Initech", tags=["vip"]),
        "nobody": person("nobody@small.example", company="Initech"),
    }


def make_segment(name: str = "Hot", rules=None, actor=None, exclude=None) -> Segment:
    segment = services.create_segment(name=name, rules=rules or NESTED, exclude=exclude,
                                      actor=actor)
    services.refresh_now(segment=segment)
    segment.refresh_from_db()
    return segment


def post_preview(client, rules, exclude=None):
    data = {"rules": rules if isinstance(rules, str) else json.dumps(rules)}
    if exclude is not None:
        data["exclude"] = exclude if isinstance(exclude, str) else json.dumps(exclude)
    return client.post("/segments/preview/", data)


def row_of(page: str, marker: str) -> str:
    row = page[page.index(marker):]
    return row[: row.index("</tr>")]


# --- index, create, edit ----------------------------------------------------------------------


def test_index_shows_name_size_last_recalculation_creator_and_refresh(marketer, marketer_client):
    people()
    segment = make_segment(actor=marketer)
    services.create_segment(name="Another", rules={"op": "and", "rules": [
        {"field": "company", "operator": "equals", "value": "Initech"}]})
    page = html(marketer_client.get("/segments/"))
    row = row_of(page, f'<tr data-segment-id="{segment.pk}">')
    assert f'<a href="/segments/{segment.pk}/">Hot</a>' in row
    assert '<td class="num">2</td>' in row
    assert segment.last_refreshed_at.strftime("%b %-d, %Y") in row
    assert f"<td>{marketer.display_name}</td>" in row
    assert f'action="/segments/{segment.pk}/refresh/"' in row
    assert page.index("Another") < page.index(">Hot<")  # by name
    assert "not yet" in row_of(page, "Another")  # never refreshed (its job has not run)


def test_index_queries_do_not_grow_with_segments(marketer, marketer_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert marketer_client.get("/segments/").status_code == 200
        return len(captured)

    services.create_segment(name="One", rules=NESTED, actor=marketer)
    one = queries()
    for name in ("Two", "Three"):
        services.create_segment(name=name, rules=NESTED, actor=make_user(connection.tenant))
    assert queries() == one


def test_create_and_edit_round_trip_a_nested_tree(marketer, marketer_client):
    contacts = people()
    response = marketer_client.post("/segments/new/", {
        "name": "  Hot   leads ", "description": "Acme VIPs",
        "rules": json.dumps(NESTED), "exclude": "",
    })
    segment = Segment.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/segments/{segment.pk}/"
    assert (segment.name, segment.description, segment.created_by) == (
        "Hot leads", "Acme VIPs", marketer)
    assert segment.rules == NESTED
    assert segment.exclude == {"op": "and", "rules": []}

    edit = html(marketer_client.get(f"/segments/{segment.pk}/edit/"))
    textarea = edit[edit.index('<textarea name="rules"'):]
    textarea = textarea[textarea.index(">") + 1: textarea.index("</textarea>")]
    assert json.loads(textarea.replace("&quot;", '"')) == NESTED
    assert 'id="segment-builder-config"' in edit and "segment_builder.js" in edit

    changed = {"op": "or", "rules": [NESTED, {"op": "and", "rules": [
        {"field": "email_domain", "operator": "equals", "value": "small.example"},
        {"field": "tags", "operator": "is_empty"}]}]}
    exclude = {"op": "and", "rules": [{"field": "email", "operator": "starts_with",
                                       "value": "plain"}]}
    response = marketer_client.post(f"/segments/{segment.pk}/edit/", {
        "name": "Hot leads", "description": "", "rules": json.dumps(changed),
        "exclude": json.dumps(exclude)})
    assert response.status_code == 302
    segment.refresh_from_db()
    assert (segment.rules, segment.exclude, segment.description) == (changed, exclude, "")
    services.refresh_now(segment=segment)
    members = set(segment.memberships.values_list("contact_id", flat=True))
    assert members == {contacts["vip"].pk, contacts["big"].pk, contacts["nobody"].pk}


def test_invalid_rule_is_refused_with_a_message_naming_it(marketer_client):
    rules = {"op": "and", "rules": [
        {"field": "company", "operator": "equals", "value": "Acme"},
        {"op": "or", "rules": [{"field": "emial", "operator": "equals", "value": "x"}]}]}
    response = marketer_client.post("/segments/new/", {"name": "Bad", "rules": json.dumps(rules)})
    assert response.status_code == 400
    assert ('<p class="field-error" id="id_rules_error" role="alert">'
            "rules[1].rules[0]: Unknown field &#x27;emial&#x27;.</p>") in html(response)
    assert not Segment.objects.exists()

    exclude = {"op": "and", "rules": [{"field": "created_at", "operator": "before",
                                       "value": "2024-13-01"}]}
    response = marketer_client.post("/segments/new/", {
        "name": "Bad", "rules": json.dumps(NESTED), "exclude": json.dumps(exclude)})
    assert response.status_code == 400
    assert ('id="id_exclude_error" role="alert">exclude[0]: created_at before: '
            "&#x27;2024-13-01&#x27; is not a date (use YYYY-MM-DD).</p>") in html(response)


def test_a_cycle_between_segments_is_refused_on_edit(marketer_client):
    first = make_segment("First")
    second = make_segment("Second", rules={"op": "and", "rules": [
        {"field": "segment", "operator": "in", "value": [first.pk]}]})
    response = marketer_client.post(f"/segments/{first.pk}/edit/", {
        "name": "First", "rules": json.dumps({"op": "and", "rules": [
            {"field": "segment", "operator": "not_in", "value": [second.pk]}]})})
    assert response.status_code == 400
    assert (f"rules[0]: segment {second.pk} (“Second”) refers back to this segment"
            in html(response))
    first.refresh_from_db()
    assert first.rules == NESTED


def test_duplicate_name_is_refused(marketer_client):
    make_segment("Hot")
    response = marketer_client.post("/segments/new/", {"name": "HOT", "rules": json.dumps(NESTED)})
    assert response.status_code == 400
    assert "A segment named “HOT” already exists." in html(response)


def test_preview_button_without_javascript_counts_without_saving(marketer_client):
    people()
    response = marketer_client.post("/segments/new/", {
        "name": "Try", "rules": json.dumps(NESTED), "preview": "1"})
    assert response.status_code == 200
    assert '<strong id="preview-count">2</strong> contacts match' in html(response)
    assert not Segment.objects.exists()


# --- live preview ----------------------------------------------------------------------------


def test_preview_partial_gives_the_exact_count_and_newest_ten(marketer_client):
    contacts = people()
    page = html(post_preview(marketer_client, NESTED))
    assert '<strong id="preview-count">2</strong> contacts match' in page
    shown = [c for c in contacts.values() if f'data-contact-id="{c.pk}"' in page]
    assert shown == [contacts["vip"], contacts["big"]]
    exclude = {"op": "and", "rules": [{"field": "tags", "operator": "has_any", "value": ["VIP"]}]}
    page = html(post_preview(marketer_client, NESTED, exclude))
    assert '<strong id="preview-count">1</strong> contact matches' in page

    for i in range(12):
        person(f"many{i}@big.example")
    page = html(post_preview(marketer_client, NESTED))
    assert '<strong id="preview-count">14</strong> contacts match' in page
    assert page.count("data-contact-id=") == 10
    assert "many11@big.example" in page and "many1@big.example" not in page  # newest first


def test_empty_rules_preview_every_contact(marketer_client):
    people()
    page = html(post_preview(marketer_client, {"op": "and", "rules": []}))
    assert '<strong id="preview-count">5</strong> contacts match' in page


def test_preview_names_the_refused_rule(marketer_client):
    rules = {"op": "or", "rules": [
        {"field": "email", "operator": "contains", "value": "a"},
        {"op": "and", "rules": [{"field": "tags", "operator": "between", "value": 3}]}]}
    response = post_preview(marketer_client, rules)
    assert response.status_code == 400
    page = html(response)
    assert 'data-error-path="rules[1].rules[0]"' in page
    assert ("rules[1].rules[0]: tags: unknown operator &#x27;between&#x27; for a tags field "
            "(use one of: has_any, has_all, has_none, is_empty, is_not_empty).") in page


def test_preview_malformed_json_gets_a_clear_message(marketer_client):
    response = post_preview(marketer_client, '{"op": "and", rules: []}')
    assert response.status_code == 400
    assert ('<p class="field-error" id="preview-error">The include rules are not valid JSON '
            "(line 1, column 15: Expecting property name enclosed in double quotes).</p>"
            ) in html(response)
    response = post_preview(marketer_client, '[1, 2]')
    assert ("The include rules must be a group: {&quot;op&quot;: &quot;and&quot;|&quot;or&quot;"
            ", &quot;rules&quot;: [...]}.") in html(response)
    response = post_preview(marketer_client, "[" * 100_000)
    assert response.status_code == 400
    assert "The include rules are nested too deeply." in html(response)


def test_preview_refuses_10001_values_and_takes_10000(marketer_client):
    people()
    values = [f"v{i}@x.example" for i in range(10_000)]
    rules = {"op": "and", "rules": [{"field": "email", "operator": "in", "value": values}]}
    assert '<strong id="preview-count">0</strong>' in html(post_preview(marketer_client, rules))
    rules["rules"][0]["value"] = [*values, "vip@small.example"]
    response = post_preview(marketer_client, rules)
    assert response.status_code == 400
    assert "rules[0]: email in: at most 10,000 values (got 10,001)." in html(response)


def test_preview_takes_sql_metacharacters_literally(marketer_client):
    person("o'brien%_@x.example", company="Robert'); DROP TABLE contacts_contact;--")
    person("plain@x.example")
    rules = {"op": "and", "rules": [
        {"field": "company", "operator": "contains", "value": "'); DROP TABLE"},
        {"field": "email", "operator": "contains", "value": "%_"}]}
    assert '<strong id="preview-count">1</strong>' in html(post_preview(marketer_client, rules))
    assert Contact.objects.count() == 2


# --- a segment's page, bulk bar, export ----------------------------------------------------------


def test_segment_page_shows_its_members_rules_and_bulk_scope(marketer_client):
    contacts = people()
    segment = make_segment()
    page = html(marketer_client.get(f"/segments/{segment.pk}/"))
    listed = {c.pk for c in contacts.values() if f'<tr data-contact-id="{c.pk}">' in page}
    assert listed == {contacts["vip"].pk, contacts["big"].pk}
    assert '<strong>2</strong> members' in page
    assert ("<strong>Rules:</strong> Company is Acme AND (Tags has any of vip OR Email ends "
            "with @big.example)") in page
    assert f'<input type="hidden" name="scope_segment_id" value="{segment.pk}">' in page
    assert f'href="/imports/exports/new/?segment={segment.pk}">Export</a>' in page
    searched = html(marketer_client.get(f"/segments/{segment.pk}/?q=boss"))
    assert f'data-contact-id="{contacts["big"].pk}"' in searched
    assert f'data-contact-id="{contacts["vip"].pk}"' not in searched


def test_export_button_exports_the_segment(marketer_client):
    people()
    segment = make_segment()
    form = html(marketer_client.get(f"/imports/exports/new/?segment={segment.pk}"))
    assert "Segment “Hot”" in form
    source = form[form.index('name="source" value="') + 21:]
    source = json.loads(source[: source.index('"')].replace("&quot;", '"'))
    assert source == {"kind": "segment", "segment_id": segment.pk}
    marketer_client.post("/imports/exports/new/", {
        "source": json.dumps(source), "scope": "source", "file_format": "csv",
        "columns": ["email"]})
    job = ExportJob.objects.get()
    body = b"".join(marketer_client.get(f"/imports/exports/{job.pk}/download").streaming_content)
    assert sorted(body.decode("utf-8-sig").split()) == [
        "boss@big.example", "email", "vip@small.example"]


def test_bulk_action_within_a_segment_touches_only_its_members(tenant, marketer,
                                                               marketer_client):
    contacts = people()
    segment = make_segment()
    response = marketer_client.post("/contacts/bulk/", {
        "action": "add_tags", "all": "1", "scope_segment_id": str(segment.pk), "confirm": "1",
        "tags": "hot", "next": f"/segments/{segment.pk}/"})
    assert response.status_code == 302
    tagged = set(Contact.objects.filter(tags__name="hot").values_list("pk", flat=True))
    assert tagged == {contacts["vip"].pk, contacts["big"].pk}

    selection = Selection.from_data({"all": "1", "scope_segment_id": str(segment.pk)})
    assert bulk.count_selection(selection) == 2
    assert selection.as_export_source() == {
        "kind": "segment", "segment_id": segment.pk,
        "label": f"All contacts of segment #{segment.pk}"}
    assert Selection.from_json(selection.as_json()) == selection
    searched = Selection.from_data({"all": "1", "scope_segment_id": str(segment.pk),
                                    "q": "boss"})
    assert searched.as_export_source()["ids"] == [contacts["big"].pk]


def test_bulk_selection_of_a_deleted_segment_is_refused(marketer_client):
    segment = make_segment()
    services.delete_segment(segment=segment)
    response = marketer_client.post("/contacts/bulk/", {
        "action": "add_tags", "all": "1", "scope_segment_id": str(segment.pk)})
    assert "That segment no longer exists; it may have been deleted." in html(response)


# --- delete, analytics, refresh ----------------------------------------------------------------


def test_delete_confirmation_names_the_size_then_deletes(marketer_client):
    contacts = people()
    segment = make_segment()
    page = html(marketer_client.get(f"/segments/{segment.pk}/delete/"))
    assert "Delete segment of 2 contacts" in page
    assert "its 2 memberships are removed; the 2 contacts themselves stay" in page
    response = marketer_client.post(f"/segments/{segment.pk}/delete/")
    assert response["Location"] == "/segments/"
    assert not Segment.objects.exists()
    assert Contact.objects.count() == len(contacts)


def test_delete_of_a_segment_another_uses_is_refused_with_the_reason(marketer_client):
    used = make_segment("Used")
    make_segment("User", rules={"op": "and", "rules": [
        {"field": "segment", "operator": "in", "value": [used.pk]}]})
    response = marketer_client.post(f"/segments/{used.pk}/delete/")
    assert response.status_code == 400
    assert ("The segment “User” refers to this segment in its rules; change it first."
            in html(response))
    assert Segment.objects.filter(pk=used.pk).exists()


def test_analytics_shows_entered_and_left_per_recalculation(marketer, marketer_client):
    contacts = people()
    segment = make_segment()
    update_contact(contact=contacts["plain"], data={}, tags=["vip"], actor=marketer)
    update_contact(contact=contacts["big"], data={"company": "Initech"}, actor=marketer)
    update_contact(contact=contacts["nobody"], data={"company": "Acme"}, tags=["vip"],
                   actor=marketer)
    services.refresh_now(segment=segment)
    page = html(marketer_client.get(f"/segments/{segment.pk}/analytics/"))
    first, second = SegmentRefresh.objects.filter(segment=segment, kind="full").order_by("id")
    assert '<td class="num">+2</td><td class="num">−1</td><td class="num">3</td>' in row_of(
        page, f'<tr data-refresh-id="{second.pk}">')
    assert '<td class="num">+2</td><td class="num">−0</td><td class="num">2</td>' in row_of(
        page, f'<tr data-refresh-id="{first.pk}">')
    assert page.index(f'data-refresh-id="{second.pk}"') < page.index(
        f'data-refresh-id="{first.pk}"')  # newest first
    assert "From 2 members on" in page and "to 3 on" in page  # the chart's summary
    assert "None: the last recalculation went through." in page


def test_analytics_shows_the_last_refresh_error(marketer_client):
    segment = make_segment()
    Segment.objects.filter(pk=segment.pk).update(refresh_error="rules[0]: no list with id 9.")
    page = html(marketer_client.get(f"/segments/{segment.pk}/analytics/"))
    assert '<p class="field-error" id="last-error">rules[0]: no list with id 9.</p>' in page


def test_refresh_now_recalculates_inline_and_says_what_changed(marketer, marketer_client):
    contacts = people()
    segment = make_segment()
    update_contact(contact=contacts["plain"], data={}, tags=["vip"], actor=marketer)
    response = marketer_client.post(f"/segments/{segment.pk}/refresh/", follow=True)
    assert "Segment “Hot” recalculated: 1 entered, 0 left, 3 members." in html(response)
    segment.refresh_from_db()
    assert segment.member_count == 3


def test_refresh_now_of_rules_that_no_longer_compile_says_why(marketer_client):
    people()
    static_list = lists.create_list(name="Fair")
    segment = make_segment("Fair folk", rules={"op": "and", "rules": [
        {"field": "list", "operator": "in", "value": [static_list.pk]}]})
    # delete_list refuses while a segment uses the list; a list can still vanish under a
    # segment's rules (raw SQL, a restore of old data): the refresh must then say why.
    StaticList.objects.filter(pk=static_list.pk).delete()
    response = marketer_client.post(f"/segments/{segment.pk}/refresh/", follow=True)
    message = ("The rules can no longer be evaluated: rules[0]: list in: no list with id "
               f"{static_list.pk}.")
    assert f'<div class="message message-error">{message}</div>' in html(response)
    assert f'<p class="field-error" id="last-error">{message}</p>' in html(
        marketer_client.get(f"/segments/{segment.pk}/analytics/"))


# --- roles, isolation, hostile names ---------------------------------------------------------------


def test_viewer_can_see_but_not_change(viewer_client):
    people()
    segment = make_segment()
    index = html(viewer_client.get("/segments/"))
    assert f'<a href="/segments/{segment.pk}/">Hot</a>' in index
    assert "New segment" not in index and "/refresh/" not in index
    page = html(viewer_client.get(f"/segments/{segment.pk}/"))
    assert "<strong>2</strong> members" in page
    assert "Edit rules" not in page and "bulk-form" not in page
    assert "+2" in html(viewer_client.get(f"/segments/{segment.pk}/analytics/"))
    for url in ("/segments/new/", f"/segments/{segment.pk}/edit/",
                f"/segments/{segment.pk}/delete/"):
        assert viewer_client.get(url).status_code == 403
    for url in (f"/segments/{segment.pk}/edit/", f"/segments/{segment.pk}/delete/",
                f"/segments/{segment.pk}/refresh/", "/segments/new/"):
        assert viewer_client.post(url, {"name": "X", "rules": "{}"}).status_code == 403
    segment.refresh_from_db()
    assert (segment.name, segment.rules) == ("Hot", NESTED)
    assert '<strong id="preview-count">2</strong>' in html(post_preview(viewer_client, NESTED))


def test_other_tenant_sees_nothing(tenant, other_tenant):
    people()
    static_list = lists.create_list(name="Ours")
    segment = make_segment("Secret segment")
    outsider = client_for(other_tenant, make_user(other_tenant, "owner"))
    for url in ("", "edit/", "delete/", "analytics/"):
        assert outsider.get(f"/segments/{segment.pk}/{url}").status_code == 404
    assert outsider.post(f"/segments/{segment.pk}/refresh/").status_code == 404
    assert outsider.post(f"/segments/{segment.pk}/delete/").status_code == 404
    assert "Secret segment" not in html(outsider.get("/segments/"))
    everyone = html(post_preview(outsider, {"op": "and", "rules": []}))
    assert '<strong id="preview-count">0</strong> contacts match' in everyone
    theirs = post_preview(outsider, {"op": "and", "rules": [
        {"field": "list", "operator": "in", "value": [static_list.pk]}]})
    assert f"no list with id {static_list.pk}." in html(theirs)
    theirs = post_preview(outsider, {"op": "and", "rules": [
        {"field": "segment", "operator": "in", "value": [segment.pk]}]})
    assert f"no segment with id {segment.pk}." in html(theirs)
    response = outsider.post("/contacts/bulk/", {
        "action": "add_tags", "all": "1", "scope_segment_id": str(segment.pk), "confirm": "1",
        "tags": "pwned"})
    assert "That segment no longer exists" in html(response)
    with in_schema(other_tenant):
        assert not Segment.objects.exists()
    assert not Contact.objects.filter(tags__name="pwned").exists()


def test_script_in_names_and_values_is_escaped(marketer_client):
    person("a@x.example", company="<img src=x onerror=alert(1)>")
    segment = make_segment("<script>alert(1)</script>", rules={"op": "and", "rules": [
        {"field": "company", "operator": "contains", "value": "<img src=x onerror=alert(1)>"}]})
    for url in ("/segments/", f"/segments/{segment.pk}/", f"/segments/{segment.pk}/edit/",
                f"/segments/{segment.pk}/analytics/", f"/segments/{segment.pk}/delete/"):
        page = html(marketer_client.get(url))
        assert "<script>alert(1)</script>" not in page, url
        assert "<img src=x" not in page, url
    page = html(marketer_client.get(f"/segments/{segment.pk}/"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Company contains &lt;img src=x onerror=alert(1)&gt;" in page
    edit = html(marketer_client.get(f"/segments/{segment.pk}/edit/"))
    config = edit[edit.index('id="segment-builder-config"'):]
    assert "<script>alert" not in config[: config.index("</script>")]


# --- campaigns ----------------------------------------------------------------------------------


def test_campaign_targets_page_offers_segments_as_targets_and_exclusions(marketer_client):
    contacts = people()
    hot = make_segment("Hot")
    big = make_segment("Big", rules={"op": "and", "rules": [
        {"field": "email_domain", "operator": "equals", "value": "big.example"}]})
    static_list = lists.create_list(name="Plain")
    sql, params = lists.ids_of([contacts["plain"].pk])
    lists.add_contacts_to_list(static_list=static_list, ids_sql=sql, params=params,
                               source="manual")
    campaign = lists.create_campaign(name="Launch")
    form = html(marketer_client.get(f"/campaigns/{campaign.pk}/targets/"))
    assert f'name="target_segments" value="{hot.pk}"' in form
    assert f'name="exclude_segments" value="{big.pk}"' in form
    response = marketer_client.post(f"/campaigns/{campaign.pk}/targets/", {
        "targets": [static_list.pk], "target_segments": [hot.pk], "exclude_segments": [big.pk]})
    assert response.status_code == 302
    page = html(marketer_client.get(f"/campaigns/{campaign.pk}/"))
    assert f'<a href="/segments/{hot.pk}/">Hot</a> <small class="badge">segment</small>' in page
    assert f'<a href="/segments/{big.pk}/">Big</a>' in page[page.index('id="exclusions"'):]
    assert '<strong id="audience-count">2</strong>' in page  # vip + plain; boss is big
    shown = {c for c, x in contacts.items() if f'data-contact-id="{x.pk}"' in page}
    assert shown == {"vip", "plain"}
    form = html(marketer_client.get(f"/campaigns/{campaign.pk}/targets/"))
    assert f'name="target_segments" value="{hot.pk}" id="id_target_segments_1" checked' in form
    assert f'name="target_segments" value="{big.pk}" id="id_target_segments_0">' in form

    response = marketer_client.post(f"/campaigns/{campaign.pk}/targets/", {
        "target_segments": [hot.pk], "exclude_segments": [hot.pk]})
    assert response.status_code == 400
    assert "A segment can&#x27;t be both a target and an exclusion: “Hot”." in html(response)
    response = marketer_client.post(f"/campaigns/{campaign.pk}/targets/", {
        "target_segments": [hot.pk + big.pk + 100]})
    assert ("One of the segments chosen no longer exists; it may have been deleted."
            in html(response))
