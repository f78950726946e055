"""Static lists and campaign audiences at 1,000,000 contacts.

    .venv/bin/python bench/lists_bench.py [--rounds 20]

Uses the tenant `bench` seeded by bench/contacts_bench.py (run that first; this script does not
seed). Prints:
  1. "select all matching" + add to a list for every contact: filter_contacts() → its SQL →
     segments.services.add_contacts_to_list, into a fresh list (one INSERT … SELECT);
  2. the list page of that list (1M members): server time through the full Django stack
     (middleware, tenant routing, auth, template), median / min / max over --rounds requests;
  3. the exact audience count of a campaign targeting 3 lists of 300,000 contacts each
     (overlapping) minus a 10,000-contact exclusion list, and its preview page.
The 300k lists and the campaign are made once and reused; the 1M list is made again each run.
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

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from contacts.models import Contact  # noqa: E402
from contacts.selectors import filter_contacts  # noqa: E402
from penguinleads.accounts.models import User  # noqa: E402
from segments import selectors, services  # noqa: E402
from segments.models import Campaign, StaticList  # noqa: E402

SCHEMA, HOST = "bench", "bench.localhost"
OWNER = "owner@bench.example.com"
ALL_LIST = "bench: everyone"
# (name, offset, size) over contacts in id order: three 300k lists overlapping by 100k.
TARGETS = [("bench: 300k A", 0, 300_000), ("bench: 300k B", 200_000, 300_000),
           ("bench: 300k C", 400_000, 300_000)]
EXCLUDED = ("bench: 10k suppressed", 250_000, 10_000)


def _ids_window(offset: int, size: int) -> tuple[str, list]:
    return ("SELECT id FROM contacts_contact ORDER BY id OFFSET %s LIMIT %s", [offset, size])


def _vacuum() -> None:
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE segments_listmembership")


def add_everyone() -> StaticList:
    """Time 1: select all matching + add to list."""
    old = StaticList.objects.filter(name=ALL_LIST).first()
    if old is not None:
        services.delete_list(static_list=old)
    static_list = services.create_list(name=ALL_LIST)
    started = time.perf_counter()
    with transaction.atomic():
        sql, params = filter_contacts().order_by().values("pk").query.sql_with_params()
        added = services.add_contacts_to_list(
            static_list=static_list, ids_sql=sql, params=list(params), source="bulk"
        )
    elapsed = time.perf_counter() - started
    print(f"select all matching + add to list: {added:,} contacts in {elapsed:.2f} s "
          f"({added / elapsed:,.0f} rows/s), committed")
    started = time.perf_counter()
    _vacuum()
    print(f"  (VACUUM ANALYZE of the memberships afterwards, as autovacuum would: "
          f"{time.perf_counter() - started:.1f} s; not counted)")
    return static_list


def ensure_campaign() -> Campaign:
    made = False
    lists = []
    for name, offset, size in [*TARGETS, EXCLUDED]:
        static_list = StaticList.objects.filter(name=name).first()
        if static_list is None:
            static_list = services.create_list(name=name)
            sql, params = _ids_window(offset, size)
            services.add_contacts_to_list(static_list=static_list, ids_sql=sql, params=params,
                                          source="bulk")
            made = True
        lists.append(static_list)
    campaign = Campaign.objects.filter(name="bench campaign").first()
    if campaign is None:
        campaign = services.create_campaign(name="bench campaign")
    services.set_campaign_targets(campaign=campaign, target_ids=[lst.pk for lst in lists[:3]],
                                  exclude_ids=[lists[3].pk])
    if made:
        _vacuum()
    return campaign


def _timed(label: str, rounds: int, run) -> None:
    run()  # warm caches once
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - started) * 1000)
    print(f"  {label:<44} {statistics.median(times):7.1f} {min(times):7.1f} "
          f"{max(times):7.1f}   {result}")


def timed_reads(everyone: StaticList, campaign: Campaign, rounds: int) -> None:
    client = Client(HTTP_HOST=HOST)
    client.force_login(User.objects.get(email=OWNER))

    def page(url: str):
        def run():
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            return f"rows shown: {response.content.count(b'data-contact-id')}"
        return run

    print(f"\nserver time over {rounds} runs (ms): median / min / max")
    _timed(f"list page, {services.count_members(everyone):,} members", rounds,
           page(f"/lists/{everyone.pk}/"))
    _timed("list page, search 'james acme'", rounds, page(f"/lists/{everyone.pk}/?q=james+acme"))
    _timed("audience count, 3 x 300k lists - 10k", rounds,
           lambda: f"audience: {selectors.count_audience(campaign):,}")
    _timed("campaign page (count + first 50)", rounds, page(f"/campaigns/{campaign.pk}/"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with schema_context(SCHEMA):
        total = Contact.objects.count()
        if total < 700_000:
            sys.exit(f"tenant {SCHEMA} has {total:,} contacts; run bench/contacts_bench.py first")
        print(f"tenant {SCHEMA}: {total:,} contacts")
        campaign = ensure_campaign()
        everyone = add_everyone()
        timed_reads(everyone, campaign, args.rounds)


if __name__ == "__main__":
    main()
