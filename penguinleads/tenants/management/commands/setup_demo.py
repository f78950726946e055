from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context

from penguinleads.tenants.models import Tenant
from penguinleads.tenants.services import create_tenant, ensure_public_tenant

DEMO_SCHEMA = "demo"
DEMO_DOMAIN = "demo.localhost"
DEMO_OWNER = ("demo@example.com", "penguin-demo")
SUPPORT_ADMIN = ("support@example.com", "penguin-support")


class Command(BaseCommand):
    help = (
        "Idempotent first-run set-up for development: migrate all schemas, create the public "
        "tenant, a support login for the public admin and the demo tenant with demo contacts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=300)

    def handle(self, *args, contacts: int, **options):
        from penguinleads.accounts.models import User

        call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
        ensure_public_tenant(domain=settings.PUBLIC_DOMAIN)
        # Tenants created earlier may lack migrations added since.
        if Tenant.objects.exclude(schema_name="public").exists():
            call_command("migrate_schemas", tenant=True, interactive=False, verbosity=0)
        self._support_admin()
        if not Tenant.objects.filter(schema_name=DEMO_SCHEMA).exists():
            self.stdout.write("Creating the demo workspace…")
            create_tenant(
                schema_name=DEMO_SCHEMA, domain=DEMO_DOMAIN, name="Demo Co",
                owner_email=DEMO_OWNER[0], owner_password=DEMO_OWNER[1],
            )
            with schema_context(DEMO_SCHEMA):
                User.objects.filter(email=DEMO_OWNER[0]).update(full_name="Dana Demo")
            call_command("seed_demo", tenant=DEMO_SCHEMA, contacts=contacts)
        self.stdout.write(self.style.SUCCESS("Ready."))

    def _support_admin(self) -> None:
        from penguinleads.accounts.models import User

        with schema_context("public"):
            if not User.objects.filter(email=SUPPORT_ADMIN[0]).exists():
                User.objects.create_superuser(SUPPORT_ADMIN[0], SUPPORT_ADMIN[1])
