"""Export a tenant's contacts to a file (or stdout), in this process, without a job record."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from imports.exports.columns import default_column_keys
from imports.exports.services import ExportError, write_export
from imports.models import ExportFormat
from penguinleads.tenants.models import Tenant


class Command(BaseCommand):
    help = "Export contacts of a tenant as CSV, XLSX, JSON or JSON Lines."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="schema name")
        parser.add_argument("--format", choices=ExportFormat.values, default=ExportFormat.CSV)
        parser.add_argument("--list", default="", metavar="NAME", help="only this static list")
        parser.add_argument("--search", default="", help="only contacts matching this search")
        parser.add_argument("--columns", default="",
                            help="comma-separated, e.g. email,first_name,tags,custom.plan "
                            "(default: standard fields, tags, status and custom fields)")
        parser.add_argument("-o", "--output", required=True, metavar="FILE",
                            help="file to write, or - for stdout")

    def handle(self, *args, **options):
        if not Tenant.objects.filter(schema_name=options["tenant"]).exclude(
            schema_name="public"
        ).exists():
            raise CommandError(f"No tenant with schema {options['tenant']!r}.")
        with schema_context(options["tenant"]):
            source = _source(options)
            columns = [c.strip() for c in options["columns"].split(",") if c.strip()]
            columns = columns or default_column_keys()
            count = self._write(options["output"], source, columns, options["format"])
        self.stderr.write(f"Exported {count:,} contact{'s' if count != 1 else ''}.")

    def _write(self, output: str, source: dict, columns: list[str], file_format: str) -> int:
        try:
            if output == "-":
                count = write_export(out=sys.stdout.buffer, source=source, columns=columns,
                                     file_format=file_format)
                sys.stdout.buffer.flush()
                return count
            path = Path(output)
            partial = path.with_name(path.name + ".part")
            with partial.open("wb") as out:
                count = write_export(out=out, source=source, columns=columns,
                                     file_format=file_format)
            partial.replace(path)  # a failed export leaves no half-written FILE
            return count
        except ExportError as exc:
            if output != "-":
                Path(output + ".part").unlink(missing_ok=True)
            raise CommandError(str(exc)) from None


def _source(options) -> dict:
    list_id = None
    if options["list"]:
        from segments.selectors import visible_lists

        found = visible_lists().filter(name__iexact=options["list"].strip()).first()
        if found is None:
            raise CommandError(f"No list named {options['list']!r}.")
        list_id = found.pk
    if options["search"]:
        source = {"kind": "filter", "filters": {"search": options["search"]}}
        if list_id:
            source["list_id"] = list_id
        return source
    return {"kind": "list", "list_id": list_id} if list_id else {"kind": "all"}
