"""Two refreshes of one segment never overlap (advisory lock per segment: the second waits,
then computes from fresh data); a refresh of another segment is not held up. Real
connections in threads, committed data."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction
from django_tenants.utils import schema_context

from segments.dynamic import refresh, services
from segments.models import Segment, SegmentMembership, SegmentRefresh
from tests.factories import ContactFactory

ACME = {"op": "and", "rules": [{"field": "company", "operator": "equals", "value": "Acme"}]}


@pytest.fixture
def committed_cleanup(tenant):
    yield
    with schema_context(tenant.schema_name):
        from contacts.models import Contact

        SegmentRefresh.objects.all().delete()
        SegmentMembership.objects.all().delete()
        Segment.objects.all().delete()
        Contact.objects.all().delete()


def _waiting_for_advisory_lock() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                       "AND NOT granted")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_second_refresh_of_one_segment_waits_for_the_first(tenant, committed_cleanup):
    for n in range(3):
        ContactFactory(email=f"a{n}@acme.com", company="Acme")
    one = services.create_segment(name="One", rules=ACME)
    two = services.create_segment(name="Two", rules=ACME)
    results: dict[str, object] = {}
    errors: list[BaseException] = []

    def work(name: str, segment: Segment) -> None:
        try:
            with schema_context(tenant.schema_name):
                results[name] = refresh.refresh_segment(segment=segment)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    other_thread = threading.Thread(target=work, args=("two", two))
    waiter = threading.Thread(target=work, args=("one", one))
    with transaction.atomic():
        refresh.lock_segment(one.pk)  # "a refresh of One is running"
        waiter.start()
        for _ in range(2000):  # until the waiter's lock request is queued behind ours
            if _waiting_for_advisory_lock():
                break
            threading.Event().wait(0.01)
        assert _waiting_for_advisory_lock() == 1
        other_thread.start()
        other_thread.join(timeout=60)  # another segment is not held up by One's lock
        assert results["two"].size_after == 3
        assert "one" not in results and waiter.is_alive()
        # the running "refresh" changes the data before it commits
        with connection.cursor() as cursor:
            cursor.execute("UPDATE contacts_contact SET company = 'Other' WHERE email = "
                           "'a0@acme.com'")
    waiter.join(timeout=60)
    assert errors == []
    # the waiting refresh ran after, on the committed data
    assert (results["one"].entered, results["one"].size_after) == (2, 2)
    assert SegmentMembership.objects.filter(segment=one).count() == 2


@pytest.mark.django_db(transaction=True)
def test_an_incremental_update_waits_for_a_running_refresh_of_its_segment(
        tenant, committed_cleanup):
    """refresh_segments_for_contacts takes all its segments' locks in one statement: the
    same locks as lock_segment, so it waits for a refresh in progress, then sees its data."""
    contact = ContactFactory(email="b0@acme.com", company="Acme")
    one = services.create_segment(name="One", rules=ACME)
    refresh.refresh_segment(segment=one)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with schema_context(tenant.schema_name):
                refresh.refresh_segments_for_contacts(contact_ids=[contact.pk])
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    waiter = threading.Thread(target=work)
    with transaction.atomic():
        refresh.lock_segment(one.pk)  # "a refresh of One is running"
        waiter.start()
        for _ in range(2000):
            if _waiting_for_advisory_lock():
                break
            threading.Event().wait(0.01)
        assert _waiting_for_advisory_lock() == 1 and waiter.is_alive()
        with connection.cursor() as cursor:
            cursor.execute("UPDATE contacts_contact SET company = 'Other' WHERE id = %s",
                           [contact.pk])
    waiter.join(timeout=60)
    assert errors == []
    assert not SegmentMembership.objects.filter(segment=one, contact_id=contact.pk).exists()
