"""Benchmark: email events through POST /api/v1/events/batch (whole Django stack, in-process,
API key) into the tenant `bench` (seeded with `seed_demo --tenant bench --contacts 1000000`;
reused), then the nightly re-aging of every score of that tenant, and a re-aging that changes
many scores (a week at once, rolled back).

    .venv/bin/python bench/events_bench.py [--batches 20] [--contacts 200000] [--no-reage]
                                           [--stored 10000000]

--stored N first tops the tenant's stored events up to N (default 10,000,000) with set-based
INSERT…SELECT in chunks of 1,000,000 (events over ALL contacts, up to 20 messages per contact, the
last 180 days, same type mix), then recomputes every score once; later runs reuse them.

Each batch is 5,000 new events (sent 40 %, opened 40 %, clicked 15 %, replied 5 %) for random
contacts among the first --contacts; scores of the touched contacts are recomputed in the same
transaction, as in production. Prints events/s per batch (median, min, max) and overall, the
events stored, and the re-aging time and number of scores. Query logging is off.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penguinleads.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from engagement.models import ContactScore, EmailEvent  # noqa: E402
from engagement.scoring import recompute_scores  # noqa: E402
from engagement.tasks import reage_scores  # noqa: E402
from penguinleads.api.keys import create_api_key, revoke_api_key  # noqa: E402
from penguinleads.tenants.models import Tenant  # noqa: E402

SCHEMA = "bench"
BATCH = 5000
URL = "/api/v1/events/batch"
KINDS = ["sent"] * 8 + ["opened"] * 8 + ["clicked"] * 3 + ["replied"]


def batch_of(emails: list[str], run: str, number: int) -> dict:
    now = timezone.now()
    events = []
    for i in range(BATCH):
        email = random.choice(emails)
        events.append({
            "event_id": f"{run}-{number}-{i}", "type": random.choice(KINDS), "email": email,
            "occurred_at": (now - timezone.timedelta(minutes=random.randint(0, 90 * 24 * 60)))
            .isoformat(),
            "campaign": f"Bench campaign {number % 5}", "message_id": f"{run}-{email}",
            "subject": "Quick question", "preview": "Hi there, I wanted to follow up on…",
        })
    return {"events": events}


def ingest(client: Client, emails: list[str], batches: int) -> None:
    if batches <= 0:
        return
    run = uuid.uuid4().hex[:8]
    rates, started = [], time.perf_counter()
    for number in range(batches):
        body = batch_of(emails, run, number)
        t0 = time.perf_counter()
        response = client.post(URL, body, content_type="application/json")
        elapsed = time.perf_counter() - t0
        assert response.status_code == 200, response.content[:300]
        assert response.json()["counts"]["accepted"] == BATCH, response.json()["counts"]
        rates.append(BATCH / elapsed)
    total = time.perf_counter() - started
    print(f"ingestion: {batches} batches of {BATCH:,}: events/s per request median "
          f"{statistics.median(rates):,.0f}, min {min(rates):,.0f}, max {max(rates):,.0f}; "
          f"overall {batches * BATCH / total:,.0f} events/s (incl. building the bodies)")


SEED_CHUNK = 1_000_000
# Seeded event n goes to the contact at position n mod contacts (by id); round k = n div
# contacts picks its message (k mod 20) and, with the position, its type.
SEED_SQL = """
WITH c AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS pos FROM contacts_contact),
     camp AS (SELECT array_agg(id ORDER BY id) AS ids FROM segments_campaign
              WHERE name LIKE 'Bench campaign %%')
INSERT INTO engagement_emailevent
    (event_id, contact_id, campaign_id, type, occurred_at, received_at, url, subject, preview,
     message_id, bounce_type)
SELECT 'seed-' || n, c.id, camp.ids[1 + n %% 5],
       (ARRAY['sent','sent','sent','sent','sent','sent','sent','sent','opened','opened',
              'opened','opened','opened','opened','opened','opened','clicked','clicked',
              'clicked','replied'])[1 + ((n / %(contacts)s) * 7 + n * 3) %% 20],
       now() - (((n * 104729) %% 15552000) || ' seconds')::interval, now(), '',
       'Quick question', 'Hi there, I wanted to follow up on…', 'seed-' || c.id || '-' || (n / %(contacts)s) %% 20,
       ''
FROM generate_series(%(start)s::bigint, %(stop)s::bigint - 1) AS n
JOIN c ON c.pos = n %% %(contacts)s, camp
ON CONFLICT (event_id) DO NOTHING
"""


def seed_events(target: int) -> None:
    """Top the stored events up to `target` (set-based, chunked), then score everyone once."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM engagement_emailevent")
        stored = cursor.fetchone()[0]
    if stored >= target:
        return
    from segments.models import Campaign

    for number in range(5):
        Campaign.objects.get_or_create(name=f"Bench campaign {number}")
    contacts = tenant_contacts()
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(substr(event_id, 6)::bigint) + 1, 0) "
                       "FROM engagement_emailevent WHERE event_id LIKE 'seed-%%'")
        start = cursor.fetchone()[0]
    started = time.perf_counter()
    while stored < target:
        size = min(SEED_CHUNK, target - stored)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(SEED_SQL, {"start": start, "stop": start + size,
                                      "contacts": contacts})
            stored += cursor.rowcount
        start += size
        print(f"  seeded {stored:,} events ({time.perf_counter() - started:.0f} s)", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE engagement_emailevent")
    t0 = time.perf_counter()
    with transaction.atomic():
        changed = recompute_scores(contact_ids=None, reason="bench seed")
    print(f"seed: {stored:,} events; first scoring of the tenant {time.perf_counter() - t0:.1f} s "
          f"({changed:,} scores)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--no-reage", action="store_true")
    parser.add_argument("--stored", type=int, default=10_000_000)
    args = parser.parse_args()
    tenant = Tenant.objects.get(schema_name=SCHEMA)
    call_command("migrate_schemas", "engagement", schema_name=SCHEMA, verbosity=0)
    host = tenant.domains.get(is_primary=True).domain
    with schema_context(SCHEMA):
        seed_events(args.stored)
        with connection.cursor() as cursor:
            cursor.execute("SELECT email_normalized FROM contacts_contact ORDER BY id LIMIT %s",
                           [args.contacts])
            emails = [row[0] for row in cursor.fetchall()]
        api_key, key = create_api_key(name="events bench")
    print(f"tenant {SCHEMA}: sending to {len(emails):,} contacts")
    client = Client(HTTP_HOST=host, HTTP_AUTHORIZATION=f"Bearer {key}")
    try:
        ingest(client, emails, args.batches)
    finally:
        with schema_context(SCHEMA):
            revoke_api_key(api_key=api_key)
    with schema_context(SCHEMA):
        print(f"stored events: {EmailEvent.objects.count():,}; "
              f"contacts in the tenant: {tenant_contacts():,}")
        if not args.no_reage:
            t0 = time.perf_counter()
            changed = reage_scores(SCHEMA)
            print(f"nightly re-aging: {time.perf_counter() - t0:.1f} s over the whole tenant, "
                  f"{ContactScore.objects.count():,} scores, {changed:,} changed")
            reage_with_many_changes()


class _RolledBack(Exception):
    pass


def reage_with_many_changes() -> None:
    """A re-aging that changes many scores: the recent window shrinks by a week (as if a week
    of nights had passed at once), timed, then rolled back so the tenant is as before."""
    from engagement.scoring import score_settings

    t0 = time.perf_counter()
    try:
        with transaction.atomic():
            rules = score_settings()
            rules.recent_days -= 7
            rules.save()
            changed = recompute_scores(contact_ids=None, reason="bench: a week older")
            elapsed = time.perf_counter() - t0
            raise _RolledBack
    except _RolledBack:
        pass
    print(f"re-aging a week at once: {elapsed:.1f} s over {ContactScore.objects.count():,} "
          f"scores, {changed:,} scores or bands changed (rolled back)")


def tenant_contacts() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM contacts_contact")
        return cursor.fetchone()[0]


if __name__ == "__main__":
    main()
