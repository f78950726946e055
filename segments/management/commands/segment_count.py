import json
import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from segments.dynamic import services
from segments.management.commands._tenant import tenant_schema


def _read(path: str):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CommandError(f"{path} is not JSON: {exc}.") from None


class Command(BaseCommand):
    help = ("Print how many contacts match a rule tree (the public JSON shape of segment rules). "
            "A bad rule exits with code 2 and its message on stderr.")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="schema name")
        parser.add_argument("--rules", required=True, help="JSON file with the rule tree")
        parser.add_argument("--exclude", help="JSON file with an exclusion tree")

    def handle(self, *args, tenant: str, rules: str, exclude: str | None, **options):
        tree = _read(rules)
        excluded = _read(exclude) if exclude else None
        with tenant_schema(tenant):
            try:
                count = services.count_rules(rules=tree, exclude=excluded)
            except ValidationError as exc:
                self.stderr.write(exc.messages[0])
                sys.exit(2)
        self.stdout.write(str(count))
