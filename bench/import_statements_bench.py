"""Where an import's time goes, statement by statement: runs one import of FILE into the
benchmark's tenant on ONE writer connection (so each statement's time is its own, not shared
with a second writer), prints the SQL statements by total time, then rolls the import back.

    .venv/bin/python bench/import_statements_bench.py bench/.data/import_1000000.csv
    .venv/bin/python bench/import_statements_bench.py bench/.data/import_100000.xlsx \
        --mapping bench/.data/mapping.json

Run bench/import_bench.py once first: it creates the tenant (bench_import, 1,000,000 contacts)
and the files. Domains are answered by the same loopback DNS server; the domain cache is left
as it is (warm after a benchmark run), so the DNS child's work is mostly absent here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penguinleads.settings")
os.environ["IMPORT_WRITERS"] = "1"  # read by the settings: before django.setup()

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from tests.dns_server import LoopbackDNSProcess, mail_host  # noqa: E402

CSV_MAPPING = {"email": "email", "first_name": "first_name", "last_name": "last_name",
               "company": "company", "plan": "custom:plan", "seats": "custom:seats"}


def _label(sql: str) -> str:
    text = re.sub(r"imports_(stage|verdicts)_\d+", r"imports_\1_N", " ".join(sql.split()))
    return text[:110]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("--mapping", help="a JSON mapping file (default: the CSV's columns)")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    mapping = args.mapping
    if mapping is None:
        mapping = str(ROOT / "bench" / ".data" / "csv_mapping.json")
        Path(mapping).write_text(json.dumps(CSV_MAPPING))

    seconds: dict[str, float] = defaultdict(float)
    calls: Counter[str] = Counter()

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            label = _label(sql)
            seconds[label] += time.perf_counter() - started
            calls[label] += 1

    with LoopbackDNSProcess(resolve=mail_host) as dns:
        settings.DNS_NAMESERVERS = [dns.address]  # read when the lookups start
        started = time.perf_counter()
        with connection.execute_wrapper(timed):
            call_command("import_contacts", args.file, "--tenant", "bench_import",
                         "--strategy", "update", "--mapping", mapping, "--json",
                         stdout=(out := _Lines()))
        total = time.perf_counter() - started
        summary = json.loads(out.lines[-1])
        print(f"import {summary['import_id']}: {total:.1f} s on one writer "
              f"(created {summary['created']:,}, updated {summary['updated']:,})")
        print(f"{'seconds':>8} {'calls':>5}  statement")
        for label, spent in sorted(seconds.items(), key=lambda item: -item[1])[:args.top]:
            print(f"{spent:8.2f} {calls[label]:5d}  {label}")
        call_command("rollback_import", str(summary["import_id"]), "--tenant", "bench_import",
                     "--json", stdout=_Lines())
        print("rolled back")


class _Lines:
    def __init__(self):
        self.lines: list[str] = []

    def write(self, text: str) -> None:
        self.lines.extend(line for line in text.splitlines() if line.strip())

    def flush(self) -> None:
        pass


if __name__ == "__main__":
    main()
