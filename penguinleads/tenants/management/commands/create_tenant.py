import secrets

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from penguinleads.tenants.services import create_tenant


class Command(BaseCommand):
    help = "Create a tenant (workspace): its schema, its domain and its owner."

    def add_arguments(self, parser):
        parser.add_argument("schema", help="schema name, e.g. acme")
        parser.add_argument("--domain", required=True, help="host that serves it, e.g. acme.localhost")
        parser.add_argument("--name", required=True, help="display name")
        parser.add_argument("--owner-email", required=True)
        parser.add_argument("--owner-password", help="generated and printed when omitted")

    def handle(self, *args, schema, domain, name, owner_email, owner_password, **options):
        password = owner_password or secrets.token_urlsafe(12)
        try:
            create_tenant(
                schema_name=schema, domain=domain.lower(), name=name,
                owner_email=owner_email, owner_password=password,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(self.style.SUCCESS(f"Created tenant {schema} at http://{domain.lower()}/"))
        self.stdout.write(f"Owner: {owner_email}")
        if not owner_password:
            self.stdout.write(f"Password (shown once): {password}")
