"""The staging helper: reads the second part of a big CSV or XLSX file into the job's staging
table while the import's own process reads the first (see imports.staging.load_stage).

    python -m imports.stage_part --schema SCHEMA --job ID --start BYTE --first-line N
        [--prologue BYTES]

--prologue: the file is an XLSX; BYTE is an offset in its worksheet's unpacked XML, and the
first BYTES of that XML (the document's start, before the first row) are parsed first.

Its last line on stdout is JSON: {"rows": <data rows staged>, "peak_mb": <its peak memory>}.
Exit status 2 when the part cannot be read (the import then reads the whole file itself and
tells the user what is wrong), 1 on any other error.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--job", type=int, required=True)
    parser.add_argument("--start", type=int, required=True)
    parser.add_argument("--first-line", type=int, required=True)
    parser.add_argument("--prologue", type=int, default=None)
    args = parser.parse_args(argv)
    if not args.schema or args.schema == "public":
        parser.error("--schema must name a tenant's schema")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penguinleads.settings")
    import django

    django.setup()
    from django_tenants.utils import schema_context

    from contacts.models import CustomField
    from imports.models import ImportJob
    from imports.readers import FileRejected
    from imports.staging import load_part, plan_columns

    with schema_context(args.schema):
        job = ImportJob.objects.get(pk=args.job)
        plan = plan_columns(job, {f.key: f for f in CustomField.objects.all()})
        try:
            rows = load_part(job, plan, start=args.start, first_line=args.first_line,
                             prologue=args.prologue)
        except FileRejected as exc:
            print(json.dumps({"error": str(exc)}))
            return 2
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps({"rows": rows, "peak_mb": peak_mb}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
