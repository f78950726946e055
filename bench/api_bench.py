"""Benchmark: batch upsert of 1,000 contacts through the API (whole Django stack, in-process).

    .venv/bin/python bench/api_bench.py [--rounds 10] [--profile]

Uses (and creates on first run) the tenant schema `bench_api` at bench-api.localhost, empties
its contacts, makes a fresh API key, then times POST /api/v1/contacts/batch with Django's test
Client (middleware, authentication, JSON parsing, service, rendering: everything but the socket):

  (a) 1,000 new contacts per request;
  (b) the same 1,000 existing contacts, each with changed fields.

Prints median / min / max wall time per request. Query logging is off (as with DEBUG off in
production). --profile prints where one request of each kind spends its time.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penguinleads.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from penguinleads.api.keys import create_api_key, revoke_api_key  # noqa: E402
from penguinleads.tenants.models import Tenant  # noqa: E402
from penguinleads.tenants.services import create_tenant, ensure_public_tenant  # noqa: E402

SCHEMA = "bench_api"
DOMAIN = "bench-api.localhost"  # host names may not contain "_"
BATCH = 1000
URL = "/api/v1/contacts/batch"


def ensure_tenant() -> Tenant:
    ensure_public_tenant(domain=settings.PUBLIC_DOMAIN)
    tenant = Tenant.objects.filter(schema_name=SCHEMA).first()
    if tenant is None:
        print(f"creating tenant {SCHEMA} (runs the tenant migrations once)…")
        tenant = create_tenant(
            schema_name=SCHEMA, domain=DOMAIN, name="API bench", owner_email="owner@bench.example"
        )
    return tenant


def empty_contacts() -> None:
    with schema_context(SCHEMA), connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE contacts_contacttag, contacts_contactchange, contacts_contact, contacts_tag CASCADE"
        )


def items(round_no: int, *, new: bool, change: int = 0) -> list[dict]:
    """1,000 contacts as an integrator sends them: a handful of fields and a tag."""
    prefix = f"new{round_no}" if new else "base"
    return [
        {
            "email": f"{prefix}-{i}@bench{i % 50}.example.com",
            "first_name": f"First{i}",
            "last_name": f"Last{i}",
            "company": f"Company {i % 200} v{change}",
            "job_title": "Head of Growth" if change % 2 else "CTO",
            "city": "Berlin",
            "country": "DE",
            "tags": ["api-bench"],
        }
        for i in range(BATCH)
    ]


def post(client: Client, payload: list[dict], expect: str) -> float:
    body = json.dumps({"contacts": payload})
    start = time.perf_counter()
    response = client.post(URL, body, content_type="application/json")
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        sys.exit(f"batch failed: HTTP {response.status_code}: {response.content[:500]!r}")
    counts = response.json()["counts"]
    if counts[expect] != len(payload):
        sys.exit(f"expected {len(payload)} {expect}, got {counts}")
    return elapsed


def report(label: str, times: list[float]) -> None:
    ms = [t * 1000 for t in times]
    print(
        f"{label:<42} median {statistics.median(ms):7.1f} ms   min {min(ms):7.1f} ms   "
        f"max {max(ms):7.1f} ms   ({len(ms)} rounds, {BATCH / statistics.median(times):,.0f} "
        "contacts/s)"
    )


def profile(client: Client, payload: list[dict], expect: str, label: str) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    post(client, payload, expect)
    profiler.disable()
    print(f"\n--- profile: {label} (cumulative, top 25) ---")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    settings.DEBUG = False  # no query log: measure what production runs

    ensure_tenant()
    empty_contacts()
    with schema_context(SCHEMA):
        api_key, key = create_api_key(name="api bench")
    client = Client(HTTP_HOST=DOMAIN, HTTP_AUTHORIZATION=f"Bearer {key}")
    try:
        post(client, items(-1, new=True)[:10], "created")  # warm-up, not timed
        post(client, items(0, new=False), "created")  # the contacts (b) updates

        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"POST {URL}, {BATCH} contacts per request, tenant {SCHEMA}")
        print(f"load average before: {load} ({os.cpu_count()} CPUs; other work skews figures)")
        new = [post(client, items(r, new=True), "created") for r in range(args.rounds)]
        report("(a) 1,000 new contacts", new)
        existing = [
            post(client, items(0, new=False, change=r + 1), "updated") for r in range(args.rounds)
        ]
        report("(b) 1,000 existing contacts, changed", existing)
        if args.profile:
            profile(client, items(args.rounds, new=True), "created", "(a) new")
            profile(client, items(0, new=False, change=99), "updated", "(b) existing, changed")
    finally:
        with schema_context(SCHEMA):
            revoke_api_key(api_key=api_key)


if __name__ == "__main__":
    main()
