"""Dynamic segments at 1,000,000 contacts.

    .venv/bin/python bench/segments_bench.py [--rounds 20]

Uses the tenant `bench` seeded by bench/contacts_bench.py (this script does not seed contacts).
Once, if missing, it adds two custom fields (`industry` text, `employees` number) and gives 30%
of the contacts values for them with ONE set-based UPDATE, then compacts the table (VACUUM FULL)
so it is laid out as an import that carried those values would have written it: the UPDATE
leaves 300,000 dead row versions, about a fifth of the table, that every scan would step over
(kept for later runs). Same data, interleaved in one process: 357 ms median with them, 255 ms without. Prints:
  1. preview count (segments.dynamic.services.count_rules) of a nested 6-condition rule mixing
     text, tag, date and custom-field conditions: median / worst of --rounds;
  2. full refresh of a segment with ~500,000 members: first build, then a re-refresh after
     1,000 contacts changed (a small diff);
  3. incremental update of one changed contact across 50 segments
     (refresh_segments_for_contacts): median / worst per contact over --rounds contacts.
The bench segments (named "bench: …") are deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penguinleads.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from contacts.models import Contact, CustomField  # noqa: E402
from segments.dynamic import refresh, services  # noqa: E402
from segments.models import Segment  # noqa: E402

SCHEMA = "bench"
PREVIEW_RULE = {"op": "and", "rules": [
    {"field": "country", "operator": "equals", "value": "Germany"},
    {"field": "tags", "operator": "has_any", "value": ["vip", "customer"]},
    {"op": "or", "rules": [
        {"field": "created_at", "operator": "in_last_days", "value": 365},
        {"field": "custom.industry", "operator": "in", "value": ["Software", "Finance"]},
    ]},
    {"op": "or", "rules": [
        {"field": "job_title", "operator": "contains", "value": "manager"},
        {"field": "custom.employees", "operator": "gte", "value": 250},
    ]},
]}
HALF = {"op": "and", "rules": [{"field": "country", "operator": "equals", "value": "Germany"}]}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def ensure_custom_values() -> None:
    CustomField.objects.get_or_create(key="industry", defaults={"label": "Industry",
                                                                "field_type": "text"})
    CustomField.objects.get_or_create(key="employees", defaults={"label": "Employees",
                                                                 "field_type": "number"})
    if Contact.objects.filter(custom_fields__has_key="industry").exists():
        return
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE contacts_contact SET custom_fields = custom_fields || jsonb_build_object(
                   'industry', (ARRAY['Software', 'Retail', 'Finance', 'Health'])[1 + id % 4],
                   'employees', (id * 7919) % 1000)
               WHERE id % 10 < 3""")
        updated = cursor.rowcount
        cursor.execute("VACUUM FULL contacts_contact")
        # A plain VACUUM then marks the rewritten pages all-visible, as autovacuum would
        # (VACUUM FULL does not), so scans skip per-row visibility checks.
        cursor.execute("VACUUM ANALYZE contacts_contact")
    print(f"setup: custom values for {updated:,} contacts in {time.perf_counter() - t0:.1f} s "
          "(one UPDATE, VACUUM FULL and VACUUM, kept)")


def bench_preview(rounds: int) -> None:
    times, count = [], 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        count = services.count_rules(rules=PREVIEW_RULE)
        times.append(time.perf_counter() - t0)
    print(f"1. preview count of a nested 6-condition rule: {count:,} contacts; median "
          f"{ms(statistics.median(times))}, worst {ms(max(times))} of {rounds}")


def _segment(name: str, rules: dict) -> Segment:
    for old in Segment.objects.filter(name=name):
        services.delete_segment(segment=old)
    return Segment.objects.create(name=name, rules=rules, exclude={"op": "and", "rules": []})


def bench_full_refresh() -> None:
    segment = _segment("bench: half", HALF)
    t0 = time.perf_counter()
    first = refresh.refresh_segment(segment=segment)
    build = time.perf_counter() - t0
    print(f"2a. full refresh, first build: {first.size_after:,} members in {build:.2f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE segments_segmentmembership")
        cursor.execute("""UPDATE contacts_contact SET country = CASE country WHEN 'Germany'
                          THEN 'United States' ELSE 'Germany' END
                          WHERE id IN (SELECT id FROM contacts_contact ORDER BY id LIMIT 1000)""")
    t0 = time.perf_counter()
    second = refresh.refresh_segment(segment=segment)
    again = time.perf_counter() - t0
    print(f"2b. re-refresh after 1,000 changed contacts: entered {second.entered:,}, left "
          f"{second.left:,}, size {second.size_after:,} in {again:.2f} s")
    with connection.cursor() as cursor:  # put the contacts back
        cursor.execute("""UPDATE contacts_contact SET country = CASE country WHEN 'Germany'
                          THEN 'United States' ELSE 'Germany' END
                          WHERE id IN (SELECT id FROM contacts_contact ORDER BY id LIMIT 1000)""")
    services.delete_segment(segment=segment)


def fifty_rules() -> list[dict]:
    domains = ["northwind.com", "wonka.com", "margiestravel.com", "southridgevideo.com",
               "lucernepublishing.com"]
    tags = ["vip", "customer", "newsletter", "prospect", "partner", "webinar-2026"]
    rules = []
    for i in range(50):
        rules.append({"op": "and", "rules": [
            {"field": "email_domain", "operator": "equals", "value": domains[i % 5]},
            {"op": "or", "rules": [
                {"field": "tags", "operator": "has_any", "value": [tags[i % 6]]},
                {"field": "custom.employees", "operator": "gte", "value": i * 20},
            ]},
            {"field": "created_at", "operator": "in_last_days", "value": 30 + i * 10},
        ]})
    return rules


def bench_incremental(rounds: int) -> None:
    # Their first full refresh is not what is measured: mark them refreshed (empty) instead of
    # building 50 memberships, so the incremental path runs for each of them.
    now = timezone.now()
    for i, rules in enumerate(fifty_rules()):
        segment = _segment(f"bench: incremental {i:02d}", rules)
        Segment.objects.filter(pk=segment.pk).update(last_refreshed_at=now)
    ids = list(Contact.objects.order_by("?").values_list("pk", flat=True)[:rounds])
    times, changed = [], 0
    for contact_id in ids:
        Contact.objects.filter(pk=contact_id).update(job_title="Bench", updated_at=now)
        t0 = time.perf_counter()
        changed += len(refresh.refresh_segments_for_contacts(contact_ids=[contact_id]))
        times.append(time.perf_counter() - t0)
    print(f"3. incremental update of one contact across {Segment.objects.count()} "
          f"segments: median {ms(statistics.median(times))}, worst {ms(max(times))} of "
          f"{rounds} contacts ({changed} segment changes recorded)")


def cleanup() -> None:
    for segment in Segment.objects.filter(name__startswith="bench: "):
        services.delete_segment(segment=segment)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with schema_context(SCHEMA):
        print(f"contacts: {Contact.objects.count():,}")
        ensure_custom_values()
        try:
            bench_preview(args.rounds)
            bench_full_refresh()
            bench_incremental(args.rounds)
        finally:
            cleanup()


if __name__ == "__main__":
    main()
