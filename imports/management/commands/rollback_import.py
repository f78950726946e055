import json

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from imports import services
from imports.models import ImportJob, ImportStatus


class Command(BaseCommand):
    help = "Roll back an import: delete what it created, restore what it updated."

    def add_arguments(self, parser):
        parser.add_argument("import_id", type=int)
        parser.add_argument("--tenant", required=True, help="schema name")
        parser.add_argument("--force", action="store_true",
                            help="also roll back contacts changed after the import")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, import_id: int, tenant: str, force: bool, **options):
        with schema_context(tenant):
            job = ImportJob.objects.filter(pk=import_id).first()
            if job is None:
                raise CommandError(f"No import #{import_id} in tenant {tenant!r}.")
            try:
                job = services.rollback_import(job=job, user=None, force=force, inline=True)
            except services.ImportStateError as exc:
                raise CommandError(str(exc)) from None
        report = {"import_id": job.pk, "status": job.status, **job.rollback_report}
        if options["json"]:
            self.stdout.write(json.dumps(report))
        elif job.status == ImportStatus.ROLLED_BACK:
            self.stdout.write(
                f"Import #{job.pk} rolled back: {report.get('deleted', 0):,} contacts deleted, "
                f"{report.get('restored', 0):,} restored, {report.get('untagged', 0):,} tags removed."
            )
        if job.status != ImportStatus.ROLLED_BACK:
            raise CommandError(
                f"{report.get('conflicts', 0):,} contacts changed after the import "
                f"(e.g. {', '.join(report.get('sample', [])[:5])}); use --force to roll them "
                "back too."
            )
