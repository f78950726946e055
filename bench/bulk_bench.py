"""Bulk actions at 1,000,000 contacts, through the path a marketer's click takes.

    .venv/bin/python bench/bulk_bench.py [--kinds add_to_list,add_tags]

On the `bench` tenant (seeded by bench/contacts_bench.py): "Select all N matching" with no
filter, then each action as the background job runs it (contacts.bulk.services:
start_bulk_operation records the operation, run_bulk_operation does the chunks — here called
in this process instead of a worker, so the time is the job's own). Prints the wall time of
each; what the actions wrote is removed afterwards (list deleted, tag removed).
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
from django_tenants.utils import schema_context  # noqa: E402

from contacts.bulk.selection import Selection  # noqa: E402
from contacts.bulk.services import run_bulk_operation, start_bulk_operation  # noqa: E402
from contacts.models import Contact, ContactChange, Tag  # noqa: E402
from penguinleads.accounts.models import User  # noqa: E402
from segments import services as lists  # noqa: E402
from segments.models import StaticList  # noqa: E402

SCHEMA = "bench"
OWNER = "owner@bench.example.com"
LIST_NAME = "bench: bulk select all"
TAG = "bench-bulk"


def _clean() -> None:
    for static_list in StaticList.objects.filter(name=LIST_NAME):
        lists.delete_list(static_list=static_list)
    tag = Tag.objects.filter(name=TAG).first()
    if tag is not None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM contacts_contacttag WHERE tag_id = %s", [tag.pk])
        tag.delete()
    ContactChange.objects.filter(source__startswith="bulk:").delete()


def run(kind: str, options: dict, user) -> None:
    selection = Selection(all_matching=True, filters={})
    started = time.perf_counter()
    # inline_limit 0: always the job path; the job itself runs here rather than in a worker.
    op = start_bulk_operation(kind=kind, selection=selection, options=options, user=user,
                              inline_limit=0)
    run_bulk_operation(op)
    elapsed = time.perf_counter() - started
    op.refresh_from_db()
    print(f"  select all + {kind:<12} {op.processed:>9,} contacts in {elapsed:6.2f} s "
          f"({op.processed / elapsed:,.0f}/s), changed {op.changed:,}, failed {op.failed:,}, "
          f"status {op.status}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    # add_tags rewrites every contact row (updated_at, history): it leaves the table twice
    # its size until VACUUM FULL, which slows every later benchmark; run it on purpose only.
    parser.add_argument("--kinds", default="add_to_list")
    args = parser.parse_args()
    with schema_context(SCHEMA):
        total = Contact.objects.count()
        if total < 700_000:
            sys.exit(f"tenant {SCHEMA} has {total:,} contacts; run bench/contacts_bench.py first")
        user = User.objects.get(email=OWNER)
        print(f"tenant {SCHEMA}: {total:,} contacts")
        _clean()
        options = {"add_to_list": {"new_list": LIST_NAME}, "add_tags": {"tags": TAG}}
        try:
            for kind in args.kinds.split(","):
                run(kind, options[kind], user)
        finally:
            _clean()


if __name__ == "__main__":
    main()
