"""Export benchmark on the `bench` tenant (1,000,000 contacts, seeded by bench/contacts_bench.py).

    .venv/bin/python bench/export_bench.py [--csv-rows all] [--xlsx-rows 100000]

Each export runs in a child process, through the same service a background export job runs
(imports.exports.services.run_export: query, write, store in the default storage), and prints
its wall time, rows per second and the child's peak resident memory (getrusage ru_maxrss, which
includes the ~70 MB of the loaded Django process itself). The stored files and job rows are
deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "bench"


def child(file_format: str, rows: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penguinleads.settings")
    import resource
    import time

    import django

    django.setup()
    from django.core.files.storage import default_storage
    from django_tenants.utils import schema_context

    from contacts.models import Contact
    from imports.exports.columns import default_column_keys
    from imports.exports.services import run_export
    from imports.models import ExportJob

    with schema_context(SCHEMA):
        if rows == "all":
            source = {"kind": "all", "label": "bench: all"}
        else:  # a selection: the first N contacts by id
            ids = list(Contact.objects.order_by("id").values_list("id", flat=True)[: int(rows)])
            source = {"kind": "ids", "ids": ids, "label": f"bench: {len(ids)}"}
        job = ExportJob.objects.create(source=source, label=source["label"],
                                       file_format=file_format, columns=default_column_keys())
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        run_export(job)
        seconds = time.perf_counter() - started
        job.refresh_from_db()
        print(json.dumps({
            "format": file_format, "status": job.status, "error": job.error,
            "rows": job.written_rows, "columns": len(job.columns), "seconds": round(seconds, 2),
            "rows_per_s": round(job.written_rows / seconds), "size_mb": round(job.size / 1e6, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "rss_before_mb": round(base / 1024),
        }))
        if job.file:
            default_storage.delete(job.file)
        job.delete()


def run(file_format: str, rows: str) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", file_format, rows],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv-rows", default="all")
    parser.add_argument("--xlsx-rows", default="100000")
    parser.add_argument("--child", nargs=2, metavar=("FORMAT", "ROWS"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    for file_format, rows, target in (("csv", args.csv_rows, "≤ 15 s, ≤ 200 MB"),
                                      ("xlsx", args.xlsx_rows, "≤ 15 s")):
        r = run(file_format, rows)
        print(f"{file_format.upper():5} {r['rows']:>9,} contacts × {r['columns']} columns: "
              f"{r['seconds']:6.2f} s, {r['rows_per_s']:>9,} rows/s, {r['size_mb']} MB file, "
              f"peak RSS {r['peak_rss_mb']} MB (before export {r['rss_before_mb']} MB) "
              f"[{r['status']}{': ' + r['error'] if r['error'] else ''}] target {target}")


if __name__ == "__main__":
    main()
