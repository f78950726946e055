import json
import time
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from imports import services
from imports.mapping import MappingError, mapping_from_preset
from imports.models import ImportStatus, MappingPreset, Strategy
from imports.readers import FileRejected
from penguinleads.tenants.models import Tenant


class Command(BaseCommand):
    help = "Import contacts from a CSV/TSV/XLSX/XLS file into a tenant (runs in this process)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--tenant", required=True, help="schema name")
        parser.add_argument(
            "--mapping", nargs="+", default=["auto"],
            help="auto | preset NAME | FILE.json ({\"header\": \"target\"})",
        )
        parser.add_argument("--strategy", choices=Strategy.values, default=Strategy.UPDATE)
        parser.add_argument("--tags", default="", help="comma-separated tags for every row")
        parser.add_argument("--skip-undeliverable", action="store_true")
        parser.add_argument("--list", default="", metavar="NAME",
                            help="add the imported and matched rows to this list (created if "
                            "missing)")
        parser.add_argument("--json", action="store_true", help="last line: a JSON summary")

    def handle(self, *args, **options):
        if not Tenant.objects.filter(schema_name=options["tenant"]).exclude(
            schema_name="public"
        ).exists():
            raise CommandError(f"No tenant with schema {options['tenant']!r}.")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No file at {path}.")
        started = time.perf_counter()
        with schema_context(options["tenant"]):
            job = self._import(path, options)
        summary = {
            "import_id": job.pk, "status": job.status,
            **{k: v for k, v in services.import_progress(job).items()
               if k in services.PROGRESS_FIELDS},
            "error": job.error, "seconds": round(time.perf_counter() - started, 2),
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(
                f"Import #{job.pk}: {job.get_status_display()} — created {job.created:,}, "
                f"updated {job.updated:,}, unchanged {job.unchanged:,}, skipped {job.skipped:,}, "
                f"invalid {job.invalid:,}, duplicates in file {job.duplicates_in_file:,} "
                f"({summary['seconds']} s)."
            )
        if job.status != ImportStatus.FINISHED:
            raise CommandError(job.error or f"The import ended as {job.status}.")

    def _import(self, path: Path, options):
        try:
            with path.open("rb") as handle:
                job = services.create_import(
                    fileobj=File(handle, name=path.name), filename=path.name, user=None
                )
            services.configure_import(
                job=job, mapping=self._mapping(job, options["mapping"]),
                strategy=options["strategy"], tags=options["tags"].split(","),
                skip_undeliverable=options["skip_undeliverable"],
                new_list_name=options["list"],
            )
            services.analyse_import(job=job, inline=True)
            if job.status != ImportStatus.READY:
                return job
            return services.start_import(job=job, user=None, inline=True)
        except (FileRejected, MappingError, services.ImportStateError) as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:  # an unusable --list name
            raise CommandError(" ".join(exc.messages)) from None

    def _mapping(self, job, words: list[str]) -> dict | None:
        if words == ["auto"]:
            return None
        if words[0] == "preset" and len(words) == 2:
            preset = MappingPreset.objects.filter(name=words[1]).first()
            if preset is None:
                raise CommandError(f"No mapping preset named {words[1]!r}.")
            return mapping_from_preset(preset, job.headers)
        if len(words) == 1 and words[0].endswith(".json"):
            by_header = json.loads(Path(words[0]).read_text())
            index = {header: str(i) for i, header in enumerate(job.headers)}
            unknown = sorted(set(by_header) - set(index))
            if unknown:
                raise CommandError(f"Columns not in the file: {', '.join(unknown)}.")
            return {index[header]: target for header, target in by_header.items()}
        raise CommandError("--mapping takes: auto | preset NAME | FILE.json")
