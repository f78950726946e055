"""Contact pages sorted and filtered by lead score, at 1,000,000 contacts.

    .venv/bin/python bench/scores_bench.py --build [--from-schema bench] [--schema scratch_scores]
    .venv/bin/python bench/scores_bench.py [--schema scratch_scores] [--explain] [--rounds 3]
    .venv/bin/python bench/scores_bench.py --drop [--schema scratch_scores]

--build copies the contacts (and tags) of --from-schema (only read) into a scratch schema that
is no tenant, and gives 60 % of them a synthetic score (exponential, mean 12: ~1.5 % hot, ~17 %
warm, the rest cold, some 0). The run times contacts.selectors.page_of_contacts (count, ids,
rows) and the API's keyset (contacts.selectors.score_keyset) for score sorts with and without
filters, next to the plain ORDER BY coalesce(score, 0) they replace, and prints the best of
--rounds in ms; --explain adds the plan of each page query. --drop removes the scratch schema.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penguinleads.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.db.models.functions import Coalesce  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from contacts.models import Contact  # noqa: E402
from contacts.selectors import filter_contacts, page_of_contacts, score_keyset  # noqa: E402

PAGES = [
    ("-score, page 1", {}, "-score", 1),
    ("score, page 1", {}, "score", 1),
    ("-score, page 200", {}, "-score", 200),
    ("-score, page 9,000", {}, "-score", 9000),
    ("-score, page 19,000 (unscored half)", {}, "-score", 19000),
    ("-created, page 9,000 (for comparison)", {}, "-created", 9000),
    ("-score, band hot", {"score_band": "hot"}, "-score", 1),
    ("-score, band cold", {"score_band": "cold"}, "-score", 1),
    ("score, band hot", {"score_band": "hot"}, "score", 1),
    ("-score, status bounced", {"status": "bounced"}, "-score", 1),
    ("-score, search 'anna'", {"search": "anna"}, "-score", 1),
    ("-created, band warm", {"score_band": "warm"}, "-created", 1),
]


def build(source: str, schema: str) -> None:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cursor.execute(f"CREATE SCHEMA {schema}")
        for table in ("contacts_contact", "contacts_tag", "contacts_contacttag",
                      "engagement_contactscore"):
            cursor.execute(f"CREATE TABLE {schema}.{table} "
                           f"(LIKE {source}.{table} INCLUDING ALL)")
        cursor.execute(
            "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) "
            "FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = 'contacts_contact' AND is_generated = 'NEVER'", [source])
        columns = cursor.fetchone()[0]
        cursor.execute(f"INSERT INTO {schema}.contacts_contact ({columns}) "
                       f"SELECT {columns} FROM {source}.contacts_contact")
        for table in ("contacts_tag", "contacts_contacttag"):
            cursor.execute(f"INSERT INTO {schema}.{table} SELECT * FROM {source}.{table}")
        cursor.execute(f"""
            INSERT INTO {schema}.engagement_contactscore (contact_id, computed_score, score, band,
                computed_at, override_score, override_reason, override_until)
            SELECT id, s, s, CASE WHEN s >= 50 THEN 'hot' WHEN s >= 20 THEN 'warm'
                                  ELSE 'cold' END, now(), NULL, '', NULL
            FROM (SELECT id, floor(-ln(1 - random()) * 12)::int AS s
                  FROM {schema}.contacts_contact WHERE id %% 10 < 6) x""", [])
        cursor.execute(f"ANALYZE {schema}.contacts_contact; "
                       f"ANALYZE {schema}.engagement_contactscore; "
                       f"ANALYZE {schema}.contacts_contacttag")
    print(f"built {schema} from {source} in {time.perf_counter() - started:.0f} s")


def best_ms(fn, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


def explain(fn) -> None:
    with CaptureQueriesContext(connection) as queries:
        fn()
    for query in queries.captured_queries:
        sql = query["sql"]
        if "ORDER BY" in sql and "LIMIT" in sql:
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {sql}")
                print("\n".join(f"      {row[0]}" for row in cursor.fetchall()))


def run(schema: str, rounds: int, show_plans: bool) -> None:
    connection.set_schema(schema)
    print(f"{Contact.objects.count():,} contacts in {schema}; best of {rounds}, ms")
    for label, filters, sort, number in PAGES:
        qs = filter_contacts(Contact.objects.all(), **filters)

        def page(qs=qs, sort=sort, number=number):
            return page_of_contacts(qs, sort=sort, number=number, page_size=50)

        print(f"  table  {label:42s} {best_ms(page, rounds):8.1f}")
        if show_plans:
            explain(page)
    everyone = Contact.objects.all()
    first = score_keyset(everyone, descending=True, after=None, limit=51)
    after = (first[-1][1], first[-1][0])
    for label, fn in [
        ("keyset -score, first page", lambda: score_keyset(
            everyone, descending=True, after=None, limit=51)),
        ("keyset -score, next page", lambda: score_keyset(
            everyone, descending=True, after=after, limit=51)),
        ("keyset -score, after (3, 500000)", lambda: score_keyset(
            everyone, descending=True, after=(3, 500_000), limit=51)),
        ("keyset -score, after (0, 500000)", lambda: score_keyset(
            everyone, descending=True, after=(0, 500_000), limit=51)),
        ("plain ORDER BY coalesce(score, 0) DESC, page 1", lambda: list(
            everyone.annotate(s=Coalesce("lead_score__score", 0)).order_by("-s", "-id")
            .values_list("pk", flat=True)[:51])),
    ]:
        print(f"  ids    {label:42s} {best_ms(fn, rounds):8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schema", default="scratch_scores")
    parser.add_argument("--from-schema", default="bench")
    parser.add_argument("--build", action="store_true")
    parser.add_argument("--drop", action="store_true")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not args.schema.startswith("scratch_"):
        parser.error("--schema must be a scratch schema named scratch_…, never a tenant's")
    if args.drop:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {args.schema} CASCADE")
        print(f"dropped {args.schema}")
        return
    if args.build:
        build(args.from_schema, args.schema)
    run(args.schema, args.rounds, args.explain)


if __name__ == "__main__":
    main()
