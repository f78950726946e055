from django.core.management.base import BaseCommand, CommandError

from segments.dynamic import refresh
from segments.management.commands._tenant import tenant_schema
from segments.models import Segment


class Command(BaseCommand):
    help = ("Recompute the members of every segment of a tenant (dependencies first), or of one; "
            "prints entered / left / size per segment.")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="schema name")
        parser.add_argument("--segment", type=int, help="only this segment id")

    def handle(self, *args, tenant: str, segment: int | None, **options):
        with tenant_schema(tenant):
            if segment is not None:
                found = Segment.objects.filter(pk=segment).first()
                if found is None:
                    raise CommandError(f"No segment #{segment} in tenant {tenant!r}.")
                segments = [found]
            else:
                segments = refresh.ordered_segments()
            failed = 0
            for item in segments:
                done = refresh.refresh_segment(segment=item)
                if done is None:
                    failed += 1
                    self.stderr.write(f"#{item.pk} {item.name}: {item.refresh_error}")
                    continue
                self.stdout.write(f"#{item.pk} {item.name}: entered {done.entered:,}, "
                                  f"left {done.left:,}, size {done.size_after:,} "
                                  f"({done.duration_ms:,} ms)")
        if failed:
            raise CommandError(f"{failed} segment(s) could not be refreshed.")
