"""Contact table benchmark at 1,000,000 contacts.

    .venv/bin/python bench/contacts_bench.py [--contacts N] [--reseed] [--rounds 20]

Creates (once) a tenant `bench` at bench.localhost, fills it with N demo contacts through the same
code as `manage.py seed_demo` (timed when it runs), then renders contact-table pages through the
full Django stack (middleware, tenant routing, auth, template) and prints the median, min and max
server time of each over `--rounds` requests. Re-runs reuse the seeded data.
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

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from contacts.demo import seed_contacts  # noqa: E402
from contacts.models import Contact  # noqa: E402
from penguinleads.accounts.models import Role, User  # noqa: E402
from penguinleads.tenants.models import Tenant  # noqa: E402
from penguinleads.tenants.services import create_tenant, ensure_public_tenant  # noqa: E402

SCHEMA, HOST = "bench", "bench.localhost"
OWNER = ("owner@bench.example.com", "bench-pass-123")


def ensure_tenant() -> None:
    ensure_public_tenant(domain=settings.PUBLIC_DOMAIN)
    if not Tenant.objects.filter(schema_name=SCHEMA).exists():
        create_tenant(
            schema_name=SCHEMA, domain=HOST, name="Bench",
            owner_email=OWNER[0], owner_password=OWNER[1],
        )


def ensure_contacts(count: int, reseed: bool) -> None:
    with schema_context(SCHEMA):
        have = Contact.objects.count()
        if have == count and not reseed:
            print(f"reusing {have:,} contacts in tenant {SCHEMA}")
            return
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE contacts_contact, contacts_contacttag, contacts_contactchange CASCADE")
        started = time.perf_counter()
        created = seed_contacts(count=count)
        elapsed = time.perf_counter() - started
        print(f"seed_demo: {created:,} contacts in {elapsed:.1f} s ({created / elapsed:,.0f} rows/s)")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE contacts_contact")
            cursor.execute("VACUUM ANALYZE contacts_contacttag")


def timed_pages(rounds: int) -> None:
    with schema_context(SCHEMA):
        user = User.objects.filter(email=OWNER[0]).first() or User.objects.create_user(
            OWNER[0], OWNER[1], role=Role.OWNER
        )
        client = Client(HTTP_HOST=HOST)
        client.force_login(user)
        middle = Contact.objects.order_by("-id").values_list("id", flat=True).first() // 2
        sample = (
            Contact.objects.filter(id__gte=middle)
            .order_by("id")
            .values_list("email_normalized", flat=True)
            .first()
        )
    prefix = sample.split("@")[0][:-2]
    cases = [
        ("first page", "/contacts/"),
        (f"search email prefix '{prefix}'", f"/contacts/?q={prefix}"),
        ("search words 'james acme'", "/contacts/?q=james+acme"),
        ("tag filter 'vip'", "/contacts/?tag=vip"),
        ("page 500 sorted by company", "/contacts/?sort=company&page=500"),
        ("page 10000 sorted by company", "/contacts/?sort=company&page=10000"),
    ]
    print(f"\ncontact table, server time over {rounds} requests (ms): median / min / max")
    for label, url in cases:
        client.get(url)  # warm caches once
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        print(
            f"  {label:<36} {statistics.median(times):7.1f} {min(times):7.1f} {max(times):7.1f}"
            f"   rows shown: {response.content.count(b'data-contact-id')}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    ensure_tenant()
    ensure_contacts(args.contacts, args.reseed)
    timed_pages(args.rounds)


if __name__ == "__main__":
    main()
