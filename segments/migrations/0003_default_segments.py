"""Out-of-the-box segments "Hot leads", "Warm leads" and "Cold leads" (score_band equals …).

Runs once in every tenant schema: existing workspaces get them on the next migrate, new ones
when their schema is created (creating a tenant migrates its schema). A name already taken
(ignoring case) is left alone. Being a migration, it never runs again, so a default segment
the user deleted or renamed is not brought back by a later deploy.

A workspace without contacts gets them as refreshed (empty, which is exact), so incremental
updates keep them current from the first contact on; elsewhere the scheduled refresh
("Refresh dynamic segments", every 30 minutes) fills them like any new segment.
"""

from django.db import migrations
from django.db.models.functions import Lower
from django.utils import timezone

# Frozen here: later changes to the defaults must not change what this migration did.
DEFAULTS = (
    ("Hot leads", "hot"),
    ("Warm leads", "warm"),
    ("Cold leads", "cold"),
)
DESCRIPTION = ("Contacts whose lead score band is {band} (thresholds under Settings › Scoring "
               "& events). Created with the workspace; rename or delete it freely.")


def create_default_segments(apps, schema_editor):
    if schema_editor.connection.schema_name == "public":
        return  # segments live in tenant schemas only
    Segment = apps.get_model("segments", "Segment")
    Contact = apps.get_model("contacts", "Contact")
    taken = set(Segment.objects.annotate(lowered=Lower("name")).values_list("lowered", flat=True))
    empty = not Contact.objects.exists()
    now = timezone.now()
    for name, band in DEFAULTS:
        if name.lower() in taken:
            continue
        Segment.objects.create(
            name=name, description=DESCRIPTION.format(band=band),
            rules={"op": "and", "rules": [
                {"field": "score_band", "operator": "equals", "value": band}]},
            exclude={"op": "and", "rules": []},
            member_count=0, last_refreshed_at=now if empty else None,
        )


class Migration(migrations.Migration):

    dependencies = [
        ("contacts", "0006_unsendable_index"),
        ("engagement", "0001_initial"),
        ("segments", "0002_segments"),
    ]

    operations = [
        migrations.RunPython(create_default_segments, migrations.RunPython.noop),
    ]
