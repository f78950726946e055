from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from penguinleads.api.keys import create_api_key
from penguinleads.tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Create an API key for a tenant and print it (once: only its hash is stored). "
        "The key alone goes to stdout, so `KEY=$(manage.py create_api_key …)` works."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="schema name of the tenant, e.g. acme")
        parser.add_argument("--name", required=True, help="what the key is for, e.g. 'CRM sync'")

    def handle(self, *args, tenant, name, **options):
        workspace = Tenant.objects.filter(schema_name=tenant).exclude(schema_name="public").first()
        if workspace is None:
            raise CommandError(f"No tenant with schema {tenant!r}.")
        try:
            with schema_context(workspace.schema_name):
                api_key, key = create_api_key(name=name)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(key)
        self.stderr.write(
            f"Created API key {api_key.name!r} ({api_key.prefix}) for tenant {tenant}. "
            "Store it now: it cannot be shown again."
        )
