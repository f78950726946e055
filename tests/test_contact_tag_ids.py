"""Contact.tag_ids, the copy of a contact's tags that segment rules read in the contact scan.
The database keeps it from ContactTag whoever writes the tags and how (the ORM, raw SQL, a
cascade, TRUNCATE, a bulk undo), ignores any other writer, and never reaches into another
workspace."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.db.models.functions import Lower

from contacts.bulk import services as bulk
from contacts.bulk import undo
from contacts.bulk.selection import Selection
from contacts.models import Contact, ContactTag, Tag
from contacts.services import create_contact, ensure_tags, update_contact
from imports import services as imports
from segments.dynamic import services as segments
from tests.conftest import in_schema
from tests.dns_fixtures import dns_server_fixture  # noqa: F401  (fixture "dns_server")

pytestmark = pytest.mark.django_db


def tag_ids(contact: Contact) -> list[int] | None:
    return Contact.objects.values_list("tag_ids", flat=True).get(pk=contact.pk)


def ids_of(*names: str) -> list[int]:
    lowered = [name.lower() for name in names]
    return sorted(Tag.objects.annotate(key=Lower("name")).filter(key__in=lowered)
                  .values_list("pk", flat=True))


def test_tags_written_through_the_services_orm_and_sql_are_mirrored_sorted(tenant):
    ann = create_contact(data={"email": "ann@example.com"}, tags=["zeta", "alpha"])
    assert tag_ids(ann) == ids_of("zeta", "alpha")
    bob = create_contact(data={"email": "bob@example.com"})
    assert tag_ids(bob) is None  # no tags: NULL, not an empty array
    (beta,) = ensure_tags(["beta"])
    ContactTag.objects.bulk_create([ContactTag(contact=ann, tag=beta), ContactTag(contact=bob, tag=beta)])
    assert tag_ids(ann) == ids_of("zeta", "alpha", "beta")
    assert tag_ids(bob) == [beta.pk]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM contacts_contacttag WHERE contact_id = %s AND tag_id = %s",
                       [ann.pk, beta.pk])
    assert tag_ids(ann) == ids_of("zeta", "alpha")


def test_removing_the_last_tag_or_deleting_the_tag_itself_updates_the_contacts(tenant):
    ann = create_contact(data={"email": "ann@example.com"}, tags=["vip", "fair"])
    bob = create_contact(data={"email": "bob@example.com"}, tags=["vip"])
    Tag.objects.get(name="vip").delete()  # Django's cascade deletes the ContactTag rows
    assert tag_ids(ann) == ids_of("fair")
    assert tag_ids(bob) is None
    update_contact(contact=Contact.objects.get(pk=ann.pk), data={}, tags=[])
    assert tag_ids(ann) is None


def test_a_tag_moved_to_another_contact_updates_both(tenant):
    ann = create_contact(data={"email": "ann@example.com"}, tags=["vip"])
    bob = create_contact(data={"email": "bob@example.com"})
    ContactTag.objects.filter(contact=ann).update(contact=bob)
    assert tag_ids(ann) is None
    assert tag_ids(bob) == ids_of("vip")


def test_a_stale_save_or_a_hand_written_update_does_not_overwrite_the_tags(tenant):
    ann = create_contact(data={"email": "ann@example.com"}, tags=["vip"])
    stale = Contact.objects.get(pk=ann.pk)  # read before the tag below was added
    ContactTag.objects.create(contact=ann, tag=ensure_tags(["fair"])[0])
    stale.first_name = "Ann"
    stale.save()  # a full save names every column, tag_ids (one tag) included
    assert Contact.objects.get(pk=ann.pk).first_name == "Ann"
    assert tag_ids(ann) == ids_of("vip", "fair")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE contacts_contact SET tag_ids = '{999}' WHERE id = %s", [ann.pk])
        assert cursor.rowcount == 1
    assert tag_ids(ann) == ids_of("vip", "fair")
    # The contact's own edit with tags (tags written, then the instance saved) ends right too.
    update_contact(contact=Contact.objects.get(pk=ann.pk), data={"city": "Oslo"}, tags=["new"])
    assert tag_ids(ann) == ids_of("new")


def test_truncating_the_tags_clears_every_copy(tenant):
    ann = create_contact(data={"email": "ann@example.com"}, tags=["vip"])
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's open transaction
        cursor.execute("TRUNCATE contacts_contacttag")
    assert tag_ids(ann) is None


def test_undo_of_a_bulk_delete_restores_only_the_tags_that_still_exist(tenant, marketer):
    ann = create_contact(data={"email": "ann@example.com"}, tags=["vip", "fair"])
    bob = create_contact(data={"email": "bob@example.com"}, tags=["gone"])
    op = bulk.start_bulk_operation(kind="delete", selection=Selection(ids=[ann.pk, bob.pk]),
                                   options={}, user=marketer)
    Tag.objects.filter(name__in=["fair", "gone"]).delete()
    undo.start_undo(op=op, user=marketer)  # two contacts: runs inline
    assert Contact.objects.filter(pk__in=[ann.pk, bob.pk]).count() == 2
    assert tag_ids(ann) == ids_of("vip")
    assert tag_ids(bob) is None  # its snapshot held a tag that no longer exists


def test_rules_on_tags_count_contacts_without_tags_right(tenant):
    create_contact(data={"email": "ann@example.com"}, tags=["vip", "fair"])
    create_contact(data={"email": "bob@example.com"}, tags=["fair"])
    create_contact(data={"email": "cleo@example.com"})

    def count(operator, value=None):
        return segments.count_rules(rules={"op": "and", "rules": [
            {"field": "tags", "operator": operator, "value": value}]})

    assert count("has_any", ["VIP", "nosuch"]) == 1
    assert count("has_all", ["vip", "fair"]) == 1
    assert count("has_all", ["vip", "nosuch"]) == 0
    assert count("has_none", ["vip"]) == 2  # bob, and cleo who has no tags at all
    assert count("has_none", ["nosuch"]) == 3
    assert count("is_empty") == 1
    assert count("is_not_empty") == 2


def test_the_copy_is_kept_per_workspace(tenant, other_tenant):
    ours = [create_contact(data={"email": f"o{i}@example.com"}, tags=["vip"]) for i in range(3)]
    with in_schema(other_tenant):
        # Contact ids are per workspace: the other one gets contacts with the very same ids.
        theirs = [Contact.objects.create(pk=c.pk, email=f"t{i}@example.com",
                                         email_normalized=f"t{i}@example.com")
                  for i, c in enumerate(ours)]
        ContactTag.objects.create(contact=theirs[0], tag=ensure_tags(["fair"])[0])
        their_fair = ids_of("fair")
    connection.set_tenant(tenant)
    assert [tag_ids(c) for c in ours] == [ids_of("vip")] * 3
    for contact in ours:
        ContactTag.objects.create(contact=contact, tag=ensure_tags(["new"])[0])
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's open transaction
        cursor.execute("TRUNCATE contacts_contacttag")
    assert [tag_ids(c) for c in ours] == [None] * 3
    with in_schema(other_tenant):
        assert [tag_ids(c) for c in theirs] == [their_fair, None, None]
        assert segments.count_rules(rules={"op": "and", "rules": [
            {"field": "tags", "operator": "has_any", "value": ["fair"]}]}) == 1


def test_demo_contacts_carry_their_tags_copy(tenant, other_tenant):
    from contacts.demo import seed_contacts

    seed_contacts(count=300)
    with connection.cursor() as cursor:
        cursor.execute("""SELECT count(*) FILTER (WHERE c.tag_ids IS NOT NULL),
                                 count(*) FILTER (WHERE c.tag_ids IS DISTINCT FROM (
                                     SELECT array_agg(t.tag_id ORDER BY t.tag_id)
                                     FROM contacts_contacttag t WHERE t.contact_id = c.id))
                          FROM contacts_contact c""")
        tagged, wrong = cursor.fetchone()
    assert tagged == 200 and wrong == 0  # two contacts in three are tagged
    with in_schema(other_tenant):
        assert not Contact.objects.exists()


def _contact_updates() -> int:
    """Updates of contact rows in this (the test's) transaction so far."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(n_tup_upd), 0) FROM pg_stat_xact_user_tables "
                       "WHERE schemaname = current_schema() AND relname = 'contacts_contact'")
        return cursor.fetchone()[0]


def test_an_import_writes_new_contacts_with_their_tags_and_rollback_takes_them_off(
        tenant, other_tenant, dns_server):
    old = create_contact(data={"email": "old@acme-mail.com"}, tags=["keep"])
    text = ("Email,Tags\nold@acme-mail.com,vip\nnew1@acme-mail.com,\"vip, Fair\"\n"
            "new2@acme-mail.com,\n")
    job = imports.create_import(fileobj=ContentFile(text.encode(), name="t.csv"),
                                filename="t.csv", user=None)
    job = imports.configure_import(job=job, strategy="update", tags=["Spring"])
    job = imports.analyse_import(job=job)
    before = _contact_updates()
    job = imports.start_import(job=job, user=None)
    new1 = Contact.objects.get(email_normalized="new1@acme-mail.com")
    new2 = Contact.objects.get(email_normalized="new2@acme-mail.com")
    assert tag_ids(new1) == ids_of("vip", "fair", "spring")
    assert tag_ids(new2) == ids_of("spring")
    assert tag_ids(old) == ids_of("keep", "vip", "spring")
    # One update: the existing contact's. The new ones were written once, with their tags.
    assert _contact_updates() - before == 1 + 1  # its fields, then its copy of the new tags
    imports.rollback_import(job=job, user=None)
    assert tag_ids(old) == ids_of("keep")
    with in_schema(other_tenant):
        assert not Contact.objects.exists()
