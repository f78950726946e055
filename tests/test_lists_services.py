"""segments.services: lists, set-based membership changes, analytics log, rollback helpers."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from contacts.models import Contact
from contacts.selectors import filter_contacts
from contacts.services import purge_contacts
from segments import selectors, services
from segments.models import ListChange, ListMembership, StaticList
from tests.factories import ContactFactory, UserFactory


def _ids(*contacts) -> tuple[str, list]:
    return services.ids_of([c.pk for c in contacts])


def test_create_list_trims_name_and_refuses_case_insensitive_duplicate(tenant):
    actor = UserFactory()
    created = services.create_list(name="  Trade   show 2025 ", description=" hot ", actor=actor)
    assert (created.name, created.description, created.created_by) == (
        "Trade show 2025", "hot", actor,
    )
    with pytest.raises(ValidationError) as caught:
        services.create_list(name="TRADE SHOW 2025")
    assert caught.value.messages == ["A list named “TRADE SHOW 2025” already exists."]
    assert StaticList.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("   ", "A list needs a name."),
        ("x" * 201, "At most 200 characters (got 201)."),
        ("bad\x00name", "The name may not contain a NUL character."),
    ],
)
def test_create_list_refuses_bad_names(tenant, name, message):
    with pytest.raises(ValidationError) as caught:
        services.create_list(name=name)
    assert caught.value.messages == [message]


def test_formula_looking_name_is_stored_as_is(tenant):
    created = services.create_list(name='=HYPERLINK("http://evil","x")')
    assert StaticList.objects.get(pk=created.pk).name == '=HYPERLINK("http://evil","x")'


def test_get_or_create_list_finds_existing_case_insensitively(tenant):
    first = services.get_or_create_list(name="Webinar")
    again = services.get_or_create_list(name="webinar")
    assert again.pk == first.pk
    assert StaticList.objects.count() == 1


def test_rename_to_taken_name_is_refused_but_own_case_change_is_fine(tenant):
    services.create_list(name="A")
    b = services.create_list(name="B")
    with pytest.raises(ValidationError) as caught:
        services.update_list(static_list=b, name="a", description="")
    assert caught.value.messages == ["A list named “a” already exists."]
    services.update_list(static_list=b, name="b", description="lower case now")
    b.refresh_from_db()
    assert (b.name, b.description) == ("b", "lower case now")


def test_add_contacts_is_idempotent_and_logged_once_per_operation(tenant):
    actor = UserFactory()
    static_list = services.create_list(name="L")
    a, b, c = ContactFactory.create_batch(3)
    sql, params = _ids(a, b)
    assert services.add_contacts_to_list(
        static_list=static_list, ids_sql=sql, params=params, source="manual", actor=actor
    ) == 2
    sql, params = _ids(a, b, c)
    assert services.add_contacts_to_list(
        static_list=static_list, ids_sql=sql, params=params, source="api", source_ref=7
    ) == 1
    assert services.add_contacts_to_list(
        static_list=static_list, ids_sql=sql, params=params, source="api"
    ) == 0
    rows = {m.contact_id: (m.source, m.source_ref, m.added_by_id)
            for m in ListMembership.objects.all()}
    assert rows == {
        a.pk: ("manual", None, actor.pk), b.pk: ("manual", None, actor.pk), c.pk: ("api", 7, None)
    }
    log = list(ListChange.objects.values_list("added", "removed", "size_after", "source"))
    assert log == [(2, 0, 2, "manual"), (1, 0, 3, "api")]


def test_add_ignores_unknown_contact_ids(tenant):
    static_list = services.create_list(name="L")
    a = ContactFactory()
    sql, params = services.ids_of([a.pk, a.pk + 1000])
    added = services.add_contacts_to_list(
        static_list=static_list, ids_sql=sql, params=params, source="manual"
    )
    assert added == 1
    assert list(ListMembership.objects.values_list("contact_id", flat=True)) == [a.pk]


def test_add_from_a_filter_queryset(tenant):
    static_list = services.create_list(name="Acme people")
    ContactFactory(company="Acme Corp")
    ContactFactory(company="Acme Labs")
    ContactFactory(company="Globex")
    sql, params = filter_contacts(search="acme").order_by().values("pk").query.sql_with_params()
    added = services.add_contacts_to_list(
        static_list=static_list, ids_sql=sql, params=list(params), source="bulk", source_ref=3
    )
    assert added == 2
    assert sorted(selectors.list_members(static_list).values_list("company", flat=True)) == [
        "Acme Corp", "Acme Labs",
    ]


def test_remove_contacts_logs_and_ignores_non_members(tenant):
    static_list = services.create_list(name="L")
    a, b, c = ContactFactory.create_batch(3)
    sql, params = _ids(a, b)
    services.add_contacts_to_list(static_list=static_list, ids_sql=sql, params=params,
                                  source="manual")
    sql, params = _ids(b, c)
    removed = services.remove_contacts_from_list(
        static_list=static_list, ids_sql=sql, params=params, source="bulk"
    )
    assert removed == 1
    assert list(ListMembership.objects.values_list("contact_id", flat=True)) == [a.pk]
    assert list(ListChange.objects.values_list("added", "removed", "size_after")) == [
        (2, 0, 2), (0, 1, 1),
    ]


def test_changes_to_a_deleted_list_raise_list_gone(tenant):
    static_list = services.create_list(name="Gone soon")
    a = ContactFactory()
    StaticList.objects.filter(pk=static_list.pk).delete()
    sql, params = _ids(a)
    with pytest.raises(services.ListGone) as caught:
        services.remove_contacts_from_list(
            static_list=static_list, ids_sql=sql, params=params, source="manual"
        )
    assert str(caught.value) == "This list no longer exists; it was deleted."
    with pytest.raises(services.ListGone):
        services.add_contacts_to_list(
            static_list=static_list, ids_sql=sql, params=params, source="manual"
        )
    assert ListMembership.objects.count() == 0


def test_unknown_source_is_refused(tenant):
    static_list = services.create_list(name="L")
    with pytest.raises(ValueError):
        services.add_contacts_to_list(static_list=static_list, ids_sql="SELECT 1 AS id",
                                      params=[], source="x'; DROP TABLE y; --")


def test_memberships_go_with_raw_sql_contact_deletion(tenant):
    static_list = services.create_list(name="L")
    a, b = ContactFactory.create_batch(2)
    sql, params = _ids(a, b)
    services.add_contacts_to_list(static_list=static_list, ids_sql=sql, params=params,
                                  source="manual")
    with connection.cursor() as cursor:  # check the keys now, not at a commit that never comes
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    purge_contacts(ids_sql="SELECT %(id)s::bigint AS id", params={"id": a.pk}, actor_id=None,
                   source="test")
    assert list(ListMembership.objects.values_list("contact_id", flat=True)) == [b.pk]


def test_delete_list_keeps_contacts(tenant):
    static_list = services.create_list(name="L")
    a, b = ContactFactory.create_batch(2)
    sql, params = _ids(a, b)
    services.add_contacts_to_list(static_list=static_list, ids_sql=sql, params=params,
                                  source="manual")
    assert services.delete_list(static_list=static_list) == 2
    assert (StaticList.objects.count(), ListMembership.objects.count(), ListChange.objects.count(),
            Contact.objects.count()) == (0, 0, 0, 2)


def test_remove_import_memberships_only_removes_that_import(tenant):
    one, two = services.create_list(name="One"), services.create_list(name="Two")
    a, b, c = ContactFactory.create_batch(3)
    for static_list, contacts, ref in ((one, (a, b), 5), (two, (a,), 5), (two, (c,), 6)):
        sql, params = _ids(*contacts)
        services.add_contacts_to_list(static_list=static_list, ids_sql=sql, params=params,
                                      source="import", source_ref=ref)
    assert services.remove_import_memberships(import_id=5) == 3
    assert list(ListMembership.objects.values_list("static_list_id", "contact_id")) == [
        (two.pk, c.pk)
    ]
    assert list(ListChange.objects.filter(removed__gt=0).order_by("static_list_id")
                .values_list("static_list_id", "removed", "size_after")) == [
        (one.pk, 2, 0), (two.pk, 1, 1)
    ]


def test_list_ids_sql_and_restore_memberships(tenant):
    one, two = services.create_list(name="One"), services.create_list(name="Two")
    a, b = ContactFactory.create_batch(2)
    for static_list in (one, two):
        sql, params = _ids(a)
        services.add_contacts_to_list(static_list=static_list, ids_sql=sql, params=params,
                                      source="manual")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {services.list_ids_sql('c.id')} FROM contacts_contact c "
                       "WHERE c.id IN (%s, %s) ORDER BY c.id", [a.pk, b.pk])
        assert [row[0] for row in cursor.fetchall()] == [sorted([one.pk, two.pk]), []]
    ListMembership.objects.all().delete()
    restored = services.restore_memberships(
        pairs_sql="SELECT * FROM (VALUES (%s::bigint, %s::bigint), (%s, %s), (%s, %s)) v",
        params=[a.pk, one.pk, b.pk, two.pk, b.pk, 999999], source="restore", source_ref=4,
    )
    assert restored == 2
    assert sorted(ListMembership.objects.values_list("contact_id", "static_list_id",
                                                     "source_ref")) == sorted(
        [(a.pk, one.pk, 4), (b.pk, two.pk, 4)]
    )


def test_list_analytics_counts_and_shares(tenant):
    static_list = services.create_list(name="L")
    a = ContactFactory(validation_status="valid")
    b = ContactFactory(status="unsubscribed")
    c = ContactFactory(status="bounced", validation_status="invalid")
    sql, params = _ids(a, b, c)
    services.add_contacts_to_list(static_list=static_list, ids_sql=sql, params=params,
                                  source="manual")
    sql, params = _ids(c)
    services.remove_contacts_from_list(static_list=static_list, ids_sql=sql, params=params,
                                       source="manual")
    stats = selectors.list_analytics(static_list)
    assert (stats.size, stats.added_7, stats.removed_7, stats.added_30, stats.removed_30) == (
        2, 3, 1, 3, 1,
    )
    assert (stats.valid, stats.unsubscribed, stats.bounced, stats.invalid) == (1, 1, 0, 0)
    assert [size for _at, size in stats.series] == [3, 2, 2]
    assert stats.share(stats.valid) == 50.0
