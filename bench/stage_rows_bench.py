"""Staging rows in Python, without the database: how long reading a CSV and turning its rows into
staged rows (imports.staging.stage_row: email check, text limits, custom values, tags) takes per
100,000 rows. This is the per-row work each of the two reading processes of an import does
before COPY.

    .venv/bin/python bench/stage_rows_bench.py [--rows 100000] [--repeat 3]

The rows are those of bench/import_bench.py's file (email, first/last name, company, a text and
a number custom column; 2% invalid emails).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penguinleads.settings")

import django  # noqa: E402

django.setup()

from imports import readers  # noqa: E402
from imports.staging import ColumnPlan, stage_row  # noqa: E402


def make_csv(rows: int) -> bytes:
    lines = ["email,first_name,last_name,company,plan,seats"]
    for n in range(rows):
        email = f"user{n}@lead{n % 5000 + 1}-mail.com"
        if n % 50 == 7:
            email = email.replace("@", "-at-")
        lines.append(f"{email},Ann,Rossi,Company {n % 9000},{('free', 'pro', 'team')[n % 3]},"
                     f"{n % 250}")
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = make_csv(args.rows)
    settings = readers.sniff(io.BytesIO(data), filename="bench.csv").settings
    plan = ColumnPlan(0, None, [(1, "first_name"), (2, "last_name"), (3, "company")],
                      [(4, "plan", "text"), (5, "seats", "number")], [],
                      ["email", "first_name", "last_name", "company", "plan", "seats"], [])
    for _ in range(args.repeat):
        started = time.perf_counter()
        read = list(readers.iter_rows(io.BytesIO(data), settings))
        reading = time.perf_counter() - started
        started = time.perf_counter()
        staged = [stage_row(plan, line, cells) for line, cells in read]
        staging = time.perf_counter() - started
        refused = sum(row[-4] == "invalid" for row in staged)
        print(f"{args.rows:,} rows: reading {reading:.2f} s, staging {staging:.2f} s "
              f"({staging / args.rows * 1e6:.1f} µs per row; {refused:,} refused)")


if __name__ == "__main__":
    main()
