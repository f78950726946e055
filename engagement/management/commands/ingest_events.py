"""ingest_events FILE.jsonl --tenant SCHEMA [--json]: backfill email events, one JSON object a
line, in batches of 5,000 (each its own transaction), reading the file as a stream."""

from __future__ import annotations

import json
from collections import Counter

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_tenant_model, schema_context

from engagement.services import MAX_BATCH, ingest_events


class Command(BaseCommand):
    help = "Ingest email events from a JSONL file (one event per line) into a workspace."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--tenant", required=True, help="schema name of the workspace")
        parser.add_argument("--json", action="store_true", help="print a JSON summary")

    def handle(self, *args, file: str, tenant: str, json: bool = False, **options):
        if tenant == "public" or not get_tenant_model().objects.filter(
                schema_name=tenant).exists():
            raise CommandError(f"No workspace with the schema {tenant!r}.")
        try:
            handle = open(file, encoding="utf-8", errors="replace")  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        counts: Counter = Counter()
        errors: list[dict] = []
        with handle, schema_context(tenant):
            for line_numbers, batch in _batches(handle):
                for number, result in zip(line_numbers, ingest_events(
                        events=batch, source="events:command"), strict=True):
                    counts[result.status] += 1
                    if result.errors and len(errors) < 100:
                        errors.append({"line": number, "event_id": result.event_id,
                                       "errors": result.errors})
        self._report(counts, errors, as_json=json)

    def _report(self, counts: Counter, errors: list[dict], *, as_json: bool) -> None:
        summary = {"accepted": counts["accepted"], "duplicate": counts["duplicate"],
                   "rejected": counts["error"], "errors": errors}
        if as_json:
            self.stdout.write(json_dumps(summary))
            return
        self.stdout.write(f"{summary['accepted']:,} accepted, {summary['duplicate']:,} "
                          f"duplicate, {summary['rejected']:,} rejected.")
        for error in errors:
            self.stdout.write(f"line {error['line']}: {error['errors']}")


def json_dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False)


def _batches(handle):
    """(line numbers, events) of at most MAX_BATCH non-blank lines at a time."""
    numbers, batch = [], []
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            item = "not JSON"  # not an object: reported as such for this line
        numbers.append(number)
        batch.append(item)
        if len(batch) == MAX_BATCH:
            yield numbers, batch
            numbers, batch = [], []
    if batch:
        yield numbers, batch
