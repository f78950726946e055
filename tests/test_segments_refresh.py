"""Dynamic segments: saving (validation, cycles), full refresh (exact entered/left diff),
incremental updates after a contact edit / import / bulk tag change, the contacts.changes hook,
campaigns and exports of a segment."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from contacts import services as contact_services
from contacts.models import Contact
from segments import selectors
from segments import services as list_services
from segments.dynamic import refresh, services, tasks
from segments.models import Segment, SegmentMembership, SegmentRefresh
from tests.conftest import in_schema
from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")
from tests.factories import ContactFactory

ACME = {"op": "and", "rules": [{"field": "company", "operator": "equals", "value": "Acme"}]}


def members(segment) -> list[str]:
    return sorted(Contact.objects.filter(segment_memberships__segment=segment)
                  .values_list("email", flat=True))


def run_queued(django_capture_on_commit_callbacks):
    """Run what the services enqueued (django-q2) in this process, like a worker would."""
    from django.utils.module_loading import import_string
    from django_q.models import OrmQ

    done = []
    for queued in OrmQ.objects.order_by("id"):
        task = queued.task
        queued.delete()
        done.append(task["func"])
        func = task["func"] if callable(task["func"]) else import_string(task["func"])
        func(*task["args"], **task["kwargs"])
    return done


@pytest.fixture
def people(tenant):
    return {name: ContactFactory(email=f"{name}@example.com", company=company)
            for name, company in (("ada", "Acme"), ("bob", "acme"), ("cy", "Initech"),
                                  ("di", ""))}


def test_full_refresh_records_exactly_who_entered_and_left(people):
    segment = services.create_segment(name="Acme people", rules=ACME)
    first = refresh.refresh_segment(segment=segment)
    assert (first.entered, first.left, first.size_after, first.kind) == (2, 0, 2, "full")
    assert members(segment) == ["ada@example.com", "bob@example.com"]

    Contact.objects.filter(pk=people["bob"].pk).update(company="Globex")
    Contact.objects.filter(pk__in=[people["cy"].pk, people["di"].pk]).update(company="ACME")
    second = refresh.refresh_segment(segment=segment)
    assert (second.entered, second.left, second.size_after) == (2, 1, 3)
    assert members(segment) == ["ada@example.com", "cy@example.com", "di@example.com"]
    segment.refresh_from_db()
    assert segment.member_count == 3 and segment.last_refreshed_at == second.finished_at
    assert list(SegmentRefresh.objects.filter(segment=segment)
                .values_list("entered", "left")) == [(2, 0), (2, 1)]

    third = refresh.refresh_segment(segment=segment)  # nothing changed
    assert (third.entered, third.left, third.size_after) == (0, 0, 3)


def test_exclusion_removes_matching_contacts(people):
    segment = services.create_segment(
        name="Acme but not Bob", rules=ACME,
        exclude={"op": "or", "rules": [{"field": "email", "operator": "starts_with",
                                        "value": "bob"}]})
    refresh.refresh_segment(segment=segment)
    assert members(segment) == ["ada@example.com"]
    assert services.count_rules(rules=ACME, exclude=segment.exclude) == 1


def test_bad_rules_are_refused_with_the_message_naming_the_rule(tenant):
    bad = {"op": "and", "rules": [ACME["rules"][0],
                                  {"op": "or", "rules": [{"field": "emial", "operator":
                                                          "equals", "value": "x"}]}]}
    with pytest.raises(ValidationError) as exc:
        services.create_segment(name="Typo", rules=bad)
    assert exc.value.messages == ["rules[1].rules[0]: Unknown field 'emial'."]
    with pytest.raises(ValidationError) as exc:
        services.create_segment(name="Empty", rules={"op": "and", "rules": []})
    assert exc.value.messages == ["rules: A segment needs at least one condition."]
    assert not Segment.objects.exists()


def test_names_are_unique_case_insensitively(tenant):
    services.create_segment(name="VIP", rules=ACME)
    with pytest.raises(ValidationError) as exc:
        services.create_segment(name="  vip ", rules=ACME)
    assert exc.value.messages == ["A segment named “vip” already exists."]


def test_a_segment_may_use_another_segment_but_never_itself(people):
    acme = services.create_segment(name="Acme", rules=ACME)
    refresh.refresh_segment(segment=acme)
    uses = {"op": "and", "rules": [{"field": "segment", "operator": "in", "value": [acme.pk]},
                                   {"field": "email", "operator": "starts_with", "value": "a"}]}
    inner = services.create_segment(name="Acme with a", rules=uses)
    refresh.refresh_segment(segment=inner)
    assert members(inner) == ["ada@example.com"]

    self_ref = {"op": "and", "rules": [{"field": "segment", "operator": "in",
                                        "value": [acme.pk]}]}
    with pytest.raises(ValidationError) as exc:
        services.update_segment(segment=acme, name="Acme", description="", rules=self_ref,
                                exclude=None)
    assert exc.value.messages == ["rules[0]: a segment cannot refer to itself."]

    via_inner = {"op": "or", "rules": [ACME["rules"][0], {"op": "and", "rules": [
        {"field": "segment", "operator": "not_in", "value": inner.pk}]}]}
    with pytest.raises(ValidationError) as exc:
        services.update_segment(segment=acme, name="Acme", description="", rules=ACME,
                                exclude=via_inner)
    assert exc.value.messages == [
        f"exclude[1].rules[0]: segment {inner.pk} (“Acme with a”) refers back to this segment."
    ]
    acme.refresh_from_db()
    assert acme.rules == ACME and acme.exclude == {"op": "and", "rules": []}


def test_a_transitive_cycle_of_three_is_refused(tenant):
    a = services.create_segment(name="A", rules=ACME)
    b = services.create_segment(name="B", rules={"op": "and", "rules": [
        {"field": "segment", "operator": "in", "value": [a.pk]}]})
    c = services.create_segment(name="C", rules={"op": "and", "rules": [
        {"field": "segment", "operator": "in", "value": [b.pk]}]})
    with pytest.raises(ValidationError) as exc:
        services.update_segment(segment=a, name="A", description="", exclude=None, rules={
            "op": "and", "rules": [ACME["rules"][0],
                                   {"field": "segment", "operator": "in", "value": [c.pk]}]})
    assert exc.value.messages == [f"rules[1]: segment {c.pk} (“C”) refers back to this segment."]


def test_dependencies_refresh_first_and_dependents_follow(people):
    acme = services.create_segment(name="Acme", rules=ACME)
    inner = services.create_segment(name="In Acme", rules={"op": "and", "rules": [
        {"field": "segment", "operator": "in", "value": [acme.pk]}]})
    assert [s.pk for s in refresh.ordered_segments()] == [acme.pk, inner.pk]
    done = refresh.refresh_all_segments()
    assert [r.segment_id for r in done] == [acme.pk, inner.pk]
    assert members(inner) == ["ada@example.com", "bob@example.com"]
    Contact.objects.filter(pk=people["cy"].pk).update(company="Acme")
    done = refresh.refresh_with_dependents(segment=acme)
    assert [(r.segment_id, r.entered) for r in done] == [(acme.pk, 1), (inner.pk, 1)]
    assert len(members(inner)) == 3


def test_deleting_a_used_segment_is_refused(people):
    acme = services.create_segment(name="Acme", rules=ACME)
    inner = services.create_segment(name="In Acme", rules={"op": "and", "rules": [
        {"field": "segment", "operator": "in", "value": [acme.pk]}]})
    with pytest.raises(ValidationError) as exc:
        services.delete_segment(segment=acme)
    assert exc.value.messages == [
        "The segment “In Acme” refers to this segment in its rules; change it first."]
    services.delete_segment(segment=inner)
    campaign = list_services.create_campaign(name="Launch")
    list_services.set_campaign_targets(campaign=campaign, target_ids=[], exclude_ids=[],
                                       target_segment_ids=[acme.pk])
    with pytest.raises(ValidationError) as exc:
        services.delete_segment(segment=acme)
    assert exc.value.messages == ["The campaign “Launch” uses this segment; remove it from "
                                  "the campaign's audience first."]
    list_services.set_campaign_targets(campaign=campaign, target_ids=[], exclude_ids=[],
                                       target_segment_ids=[])
    refresh.refresh_segment(segment=acme)
    assert services.delete_segment(segment=acme) == 2
    assert not Segment.objects.exists() and not SegmentMembership.objects.exists()


def test_deleted_contacts_leave_their_segments(people):
    segment = services.create_segment(name="Acme", rules=ACME)
    refresh.refresh_segment(segment=segment)
    people["ada"].delete()
    with connection.cursor() as cursor:  # raw SQL too (like purge_contacts)
        cursor.execute("DELETE FROM contacts_contact WHERE id = %s", [people["bob"].pk])
    assert not SegmentMembership.objects.exists()


def test_preview_gives_exact_count_and_newest_rows(people):
    count, rows = services.preview_rules(rules=ACME, limit=1)
    assert count == 2 and [r.email for r in rows] == ["bob@example.com"]
    count, rows = services.preview_rules(rules={"op": "and", "rules": []}, limit=10)
    assert count == 4 and len(rows) == 4


# --- incremental --------------------------------------------------------------------------------


@pytest.fixture
def live(people):
    segment = services.create_segment(name="Acme", rules=ACME)
    refresh.refresh_segment(segment=segment)
    return segment


def test_incremental_update_touches_only_the_given_contacts(people, live):
    Contact.objects.filter(pk=people["cy"].pk).update(company="Acme")
    Contact.objects.filter(pk=people["ada"].pk).update(company="Gone")
    Contact.objects.filter(pk=people["di"].pk).update(company="Acme")  # not passed: not seen
    done = refresh.refresh_segments_for_contacts(contact_ids=[people["cy"].pk,
                                                              people["ada"].pk])
    assert [(r.kind, r.entered, r.left, r.size_after) for r in done] == [
        ("incremental", 1, 1, 2)]
    assert members(live) == ["bob@example.com", "cy@example.com"]
    assert refresh.refresh_segments_for_contacts(contact_ids=[people["cy"].pk]) == []
    live.refresh_from_db()
    assert live.member_count == 2


def test_incremental_update_goes_through_segments_on_segments_level_by_level(people, live):
    """One statement per level: a segment reading another sees the memberships the level
    before wrote in the same update, and one excluding that one loses the contact."""
    in_acme = services.create_segment(name="In Acme", rules={"op": "and", "rules": [
        {"field": "segment", "operator": "in", "value": [live.pk]}]})
    everyone = {"op": "and", "rules": [
        {"field": "email", "operator": "ends_with", "value": "@example.com"}]}
    not_in = services.create_segment(name="Not in In Acme", rules=everyone,
                                     exclude={"op": "and", "rules": [
                                         {"field": "segment", "operator": "in",
                                          "value": [in_acme.pk]}]})
    unrefreshed = services.create_segment(name="Never refreshed", rules=ACME)
    refresh.refresh_segment(segment=in_acme)
    refresh.refresh_segment(segment=not_in)
    assert members(not_in) == ["cy@example.com", "di@example.com"]

    Contact.objects.filter(pk=people["cy"].pk).update(company="ACME")
    Contact.objects.filter(pk=people["ada"].pk).update(company="Initech")
    done = refresh.refresh_segments_for_contacts(contact_ids=[people["cy"].pk,
                                                              people["ada"].pk])
    assert [(r.segment_id, r.entered, r.left, r.size_after) for r in done] == [
        (live.pk, 1, 1, 2), (in_acme.pk, 1, 1, 2), (not_in.pk, 1, 1, 2)]
    assert members(in_acme) == ["bob@example.com", "cy@example.com"]
    assert members(not_in) == ["ada@example.com", "di@example.com"]
    assert members(unrefreshed) == []  # its first full refresh will see them
    for segment in (live, in_acme, not_in):
        segment.refresh_from_db()
        assert segment.member_count == len(members(segment))


def test_incremental_conditions_are_kept_per_tenant(people, other_tenant):
    """The compiled conditions are cached per process: a segment with the same id in another
    workspace uses its own rules, and each update touches its own workspace only."""
    now = people["ada"].created_at
    mine = Segment.objects.create(pk=900001, name="Same id", rules=ACME, last_refreshed_at=now)
    with in_schema(other_tenant):
        theirs = Segment.objects.create(
            pk=900001, name="Same id", last_refreshed_at=now,
            rules={"op": "and", "rules": [
                {"field": "company", "operator": "equals", "value": "Initech"}]})
        Segment.objects.filter(pk=theirs.pk).update(updated_at=now)  # same id, same version
        their_ada = ContactFactory(email="ada@example.com", company="Acme")
        their_cy = ContactFactory(email="cy@example.com", company="Initech")
    Segment.objects.filter(pk=mine.pk).update(updated_at=now)
    refresh.refresh_segments_for_contacts(contact_ids=[people["ada"].pk, people["cy"].pk])
    assert members(mine) == ["ada@example.com"]
    with in_schema(other_tenant):
        refresh.refresh_segments_for_contacts(contact_ids=[their_ada.pk, their_cy.pk])
        assert members(theirs) == ["cy@example.com"]
    assert members(mine) == ["ada@example.com"]
    assert SegmentMembership.objects.filter(segment=mine).count() == 1


def test_contact_edit_updates_segments_through_the_hook(
    people, live, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.update_contact(contact=people["cy"], data={"company": "Acme"})
    assert run_queued(django_capture_on_commit_callbacks) == [
        "segments.dynamic.tasks.refresh_contacts_task"]
    assert members(live) == ["ada@example.com", "bob@example.com", "cy@example.com"]
    assert SegmentRefresh.objects.filter(segment=live, kind="incremental").count() == 1


def test_created_and_upserted_contacts_join_segments(
    live, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.create_contact(data={"email": "new@example.com", "company": "acme"})
        contact_services.upsert_contacts(items=[{"email": "api@example.com",
                                                 "company": "Acme"}])
    run_queued(django_capture_on_commit_callbacks)
    assert "new@example.com" in members(live) and "api@example.com" in members(live)


def test_bulk_tag_change_updates_tag_segments(people, marketer, django_capture_on_commit_callbacks):
    from contacts.bulk.selection import Selection
    from contacts.bulk.services import start_bulk_operation

    vip = services.create_segment(name="VIP", rules={"op": "and", "rules": [
        {"field": "tags", "operator": "has_any", "value": ["vip"]}]})
    refresh.refresh_segment(segment=vip)
    assert members(vip) == []
    selection = Selection(ids=[people["ada"].pk, people["cy"].pk])
    with django_capture_on_commit_callbacks(execute=True):
        start_bulk_operation(kind="add_tags", selection=selection,
                             options={"tags": "VIP"}, user=marketer)
    run_queued(django_capture_on_commit_callbacks)
    assert members(vip) == ["ada@example.com", "cy@example.com"]


def test_many_changed_contacts_enqueue_one_full_refresh(live, django_capture_on_commit_callbacks):
    from django.core.cache import cache
    from django_q.models import OrmQ

    cache.delete(tasks._pending_key(connection.schema_name))
    ids = list(range(1, tasks.INCREMENTAL_LIMIT + 2))
    with django_capture_on_commit_callbacks(execute=True):
        tasks.on_contacts_changed(contact_ids=ids)
        tasks.on_contacts_changed(contact_ids=ids)  # a second chunk: still one pending refresh
    assert [q.task["func"] for q in OrmQ.objects.all()] == [
        "segments.dynamic.tasks.refresh_tenant_segments_task"]
    assert run_queued(django_capture_on_commit_callbacks)
    assert cache.get(tasks._pending_key(connection.schema_name)) is None


def test_tasks_refuse_the_public_schema(tenant):
    for call in (lambda: tasks.refresh_segment_task("public", 1),
                 lambda: tasks.refresh_tenant_segments_task(""),
                 lambda: tasks.refresh_contacts_task("public", [1])):
        with pytest.raises(ValueError, match="A segment task needs the schema of a tenant."):
            call()


def test_the_schedule_enqueues_one_job_per_tenant_with_segments(live, tenant, other_tenant):
    from django_q.models import OrmQ

    live_schema = tenant.schema_name  # other_tenant has no segment: no job

    OrmQ.objects.all().delete()
    assert tasks.refresh_all_tenants() == 1
    assert [tuple(q.task["args"]) for q in OrmQ.objects.all()] == [(live_schema,)]


# --- campaigns and exports -----------------------------------------------------------------------


def test_campaign_with_a_segment_target_and_exclusion(people, live):
    static = list_services.create_list(name="Extra")
    sql, params = list_services.ids_of([people["di"].pk])
    list_services.add_contacts_to_list(static_list=static, ids_sql=sql, params=params,
                                       source="manual")
    not_bob = services.create_segment(name="Bob", rules={"op": "and", "rules": [
        {"field": "email", "operator": "starts_with", "value": "bob"}]})
    refresh.refresh_segment(segment=not_bob)
    campaign = list_services.create_campaign(name="Mixed")
    list_services.set_campaign_targets(campaign=campaign, target_ids=[static.pk],
                                       exclude_ids=[], target_segment_ids=[live.pk],
                                       exclude_segment_ids=[not_bob.pk])
    emails = sorted(selectors.audience(campaign).values_list("email", flat=True))
    assert emails == ["ada@example.com", "di@example.com"]
    assert selectors.count_audience(campaign) == 2
    # lists only: the segments stay
    list_services.set_campaign_targets(campaign=campaign, target_ids=[], exclude_ids=[])
    assert selectors.campaign_segment_ids(campaign) == ([live.pk], [not_bob.pk])
    assert selectors.count_audience(campaign) == 1
    with pytest.raises(ValidationError) as exc:
        list_services.set_campaign_targets(campaign=campaign, target_ids=[], exclude_ids=[],
                                           target_segment_ids=[999999])
    assert exc.value.messages == ["No segment with id 999999; it may have been deleted."]


def test_export_of_a_segment(people, live):
    from imports.exports.sources import SourceError, clean_source, source_ids_sql

    source = clean_source({"kind": "segment", "segment_id": live.pk})
    assert source["label"] == "Segment “Acme”"
    sql, params = source_ids_sql(source)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert sorted(r[0] for r in cursor.fetchall()) == sorted(
            [people["ada"].pk, people["bob"].pk])
    with pytest.raises(SourceError, match="There is no segment with id 424242."):
        clean_source({"kind": "segment", "segment_id": 424242})


@pytest.fixture
def media(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)


def test_an_import_updates_segments_for_its_rows(
    live, people, media, dns_server, django_capture_on_commit_callbacks
):
    from django.core.files.base import ContentFile

    from imports import services as imports

    csv = ("Email,Company\n"
           "new@example.com,Acme\n"      # created, matches
           "cy@example.com,ACME\n"       # updated, now matches
           "ada@example.com,Elsewhere\n")  # updated, leaves
    with django_capture_on_commit_callbacks(execute=True):
        job = imports.create_import(fileobj=ContentFile(csv.encode(), name="f.csv"),
                                    filename="f.csv", user=None)
        job = imports.configure_import(job=job, strategy="update")
        job = imports.analyse_import(job=job, inline=True)
        imports.start_import(job=job, user=None, inline=True)
    assert "segments.dynamic.tasks.refresh_contacts_task" in run_queued(
        django_capture_on_commit_callbacks)
    assert members(live) == ["bob@example.com", "cy@example.com", "new@example.com"]
    assert list(SegmentRefresh.objects.filter(kind="incremental")
                .values_list("entered", "left", "size_after")) == [(2, 1, 3)]


def test_list_changes_refresh_the_segments_naming_the_list(people, marketer, marketer_client,
                                                           django_capture_on_commit_callbacks):
    from django.core.cache import cache

    spring = list_services.create_list(name="Spring")
    in_spring = services.create_segment(name="In Spring", rules={"op": "and", "rules": [
        {"field": "list", "operator": "in", "value": [spring.pk]}]})
    refresh.refresh_segment(segment=in_spring)
    cache.delete(tasks._segment_pending_key(connection.schema_name, in_spring.pk))
    assert members(in_spring) == []
    sql, params = list_services.ids_of([people["ada"].pk, people["cy"].pk])
    with django_capture_on_commit_callbacks(execute=True):
        list_services.add_contacts_to_list(static_list=spring, ids_sql=sql, params=params,
                                           source="manual")
        # A second change while the refresh is pending asks for nothing more.
        list_services.remove_contacts_from_list(static_list=spring, ids_sql=sql,
                                                params=[[people["cy"].pk]], source="manual")
    assert run_queued(django_capture_on_commit_callbacks) == [
        "segments.dynamic.tasks.refresh_segment_task"]
    assert members(in_spring) == ["ada@example.com"]


def test_a_list_a_segment_uses_cannot_be_deleted(people, marketer_client):
    spring = list_services.create_list(name="Spring")
    services.create_segment(name="In Spring", rules={"op": "and", "rules": [
        {"field": "list", "operator": "in", "value": [spring.pk]}]})
    with pytest.raises(ValidationError) as refused:
        list_services.delete_list(static_list=spring)
    assert refused.value.messages == [
        "The segment “In Spring” uses this list in its rules; change its rules first."]
    page = marketer_client.post(f"/lists/{spring.pk}/delete/", follow=True).content.decode()
    assert "The segment “In Spring” uses this list in its rules" in page
    assert list_services.StaticList.objects.filter(pk=spring.pk).exists()
