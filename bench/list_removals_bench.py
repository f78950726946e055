"""Benchmark: remove 1,000,000 contacts from a list, with and without the per-contact record.

    .venv/bin/python bench/list_removals_bench.py [--rounds 3]

Tenant `bench` (1M contacts, seeded by bench/contacts_bench.py). Everything happens in ONE
transaction that is rolled back, so the tenant keeps nothing: a list is created and every
contact added to it (not timed), then per round, each inside a savepoint rolled back after it:
  1. "before": the bare DELETE of the memberships (what a removal was before ListRemoval);
  2. "after": segments.services.remove_contacts_from_list as a bulk job's chunk calls it
     (source bulk, an actor, record=False): the DELETE … RETURNING feeding the INSERT of one
     ListRemoval row per member, one statement.
  3. the same two through the path a marketer's click takes: "select all" + remove from list
     as the bulk job runs it (contacts.bulk.services, 100,000-contact chunks, here in this
     process); "before" with the removal statement swapped for the bare DELETE.
A warm-up removal runs first (not counted). If the tenant's schema has not been migrated to
segments 0004 yet, the ListRemoval table is created inside the same transaction (so it goes
with the rollback too). Afterwards VACUUM and REINDEX of the membership table drop the
rolled-back rows' pages.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penguinleads.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from contacts.bulk.selection import Selection  # noqa: E402
from contacts.bulk.services import run_bulk_operation, start_bulk_operation  # noqa: E402
from contacts.models import Contact  # noqa: E402
from penguinleads.accounts.models import User  # noqa: E402
from segments import services  # noqa: E402
from segments.models import REMOVAL_ID_SEQUENCE, ListRemoval, StaticList  # noqa: E402

SCHEMA = "bench"
OWNER = "owner@bench.example.com"
ALL_IDS = ("SELECT id FROM contacts_contact", [])


class _Rollback(Exception):
    pass


def _timed(run) -> tuple[float, int]:
    """Run in a savepoint that is rolled back; (seconds, rows)."""
    sid = transaction.savepoint()
    started = time.perf_counter()
    rows = run()
    elapsed = time.perf_counter() - started
    transaction.savepoint_rollback(sid)
    return elapsed, rows


def _bare_delete(static_list: StaticList) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM segments_listmembership WHERE static_list_id = {static_list.pk} "
            f"AND contact_id IN ({ALL_IDS[0]})"
        )
        return cursor.rowcount


def _recorded_remove(static_list: StaticList, user) -> int:
    return services.remove_contacts_from_list(
        static_list=static_list, ids_sql=ALL_IDS[0], params=ALL_IDS[1], source="bulk",
        source_ref=1, actor=user, record=False,
    )


def run(rounds: int) -> None:
    user = User.objects.get(email=OWNER)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('segments_listremoval') IS NOT NULL")
        migrated = cursor.fetchone()[0]
    if not migrated:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE SEQUENCE {REMOVAL_ID_SEQUENCE}")
        with connection.schema_editor() as editor:
            editor.create_model(ListRemoval)
        print("  (segments_listremoval created inside the transaction: not migrated yet)")
    static_list = StaticList.objects.create(name="bench: removal (rolled back)")
    started = time.perf_counter()
    added = services.add_contacts_to_list(static_list=static_list, ids_sql=ALL_IDS[0],
                                          params=[], source="bulk", record=False)
    print(f"  setup: {added:,} members added in {time.perf_counter() - started:.1f} s "
          "(not counted)")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE segments_listmembership")
    _timed(lambda: _bare_delete(static_list))  # warm-up
    before, after = [], []
    for n in range(rounds):
        seconds, rows = _timed(lambda: _bare_delete(static_list))
        before.append(seconds)
        print(f"  round {n + 1}: before (bare DELETE)      {rows:>9,} rows  {seconds:6.2f} s")
        seconds, rows = _timed(lambda: _recorded_remove(static_list, user))
        after.append(seconds)
        print(f"  round {n + 1}: after (DELETE + record)  {rows:>9,} rows  {seconds:6.2f} s")
    _summary("one statement", before, after)
    before, after = [], []
    for n in range(rounds):
        with mock.patch.object(services, "_removal_sql", _bare_removal_sql):
            seconds, rows = _timed(lambda: _bulk_job(static_list, user))
        before.append(seconds)
        print(f"  round {n + 1}: bulk job, before          {rows:>9,} rows  {seconds:6.2f} s")
        seconds, rows = _timed(lambda: _bulk_job(static_list, user))
        after.append(seconds)
        print(f"  round {n + 1}: bulk job, after           {rows:>9,} rows  {seconds:6.2f} s")
    _summary("bulk job", before, after)


def _summary(what: str, before: list[float], after: list[float]) -> None:
    b, a = statistics.median(before), statistics.median(after)
    print(f"{what}, median over {len(before)}: before {b:.2f} s, after {a:.2f} s "
          f"({a / b:.2f}x)")


def _bare_removal_sql(*, where: str, **_ignored) -> str:
    """The removal as it was before ListRemoval: the DELETE alone."""
    return f"DELETE FROM segments_listmembership WHERE {where}"


def _bulk_job(static_list: StaticList, user) -> int:
    op = start_bulk_operation(kind="remove_from_list", options={"list_id": static_list.pk},
                              selection=Selection(all_matching=True, filters={}), user=user,
                              inline_limit=0)
    run_bulk_operation(op)
    op.refresh_from_db()
    assert op.status == "finished", (op.status, op.error)
    return op.changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with schema_context(SCHEMA):
        total = Contact.objects.count()
        if total < 700_000:
            sys.exit(f"tenant {SCHEMA} has {total:,} contacts; run bench/contacts_bench.py first")
        print(f"tenant {SCHEMA}: {total:,} contacts; all in one transaction, rolled back")
        try:
            with transaction.atomic():
                run(args.rounds)
                raise _Rollback
        except _Rollback:
            pass
        with connection.cursor() as cursor:
            # The rolled-back rows leave dead pages: the heap's go with VACUUM, the indexes'
            # with a rebuild (quick: only the members of other lists are left).
            cursor.execute("VACUUM segments_listmembership")
            cursor.execute("REINDEX TABLE segments_listmembership")
            cursor.execute("SELECT count(*) FROM segments_listmembership WHERE static_list_id "
                           "NOT IN (SELECT id FROM segments_staticlist)")
            assert cursor.fetchone()[0] == 0


if __name__ == "__main__":
    main()
