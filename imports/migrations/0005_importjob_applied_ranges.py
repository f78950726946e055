"""Chunks of an import may be written by several connections at once and commit in any order:
the job keeps the [low, high) line ranges it has written instead of one high-water line."""

from django.db import migrations, models


def ranges_from_line(apps, schema_editor):
    ImportJob = apps.get_model("imports", "ImportJob")
    for job in ImportJob.objects.filter(applied_until_line__gt=0):
        job.applied_ranges = [[0, job.applied_until_line]]
        job.save(update_fields=["applied_ranges"])


class Migration(migrations.Migration):

    dependencies = [
        ("imports", "0004_importjob_target_list"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="applied_ranges",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(ranges_from_line, migrations.RunPython.noop),
        migrations.RemoveField(model_name="importjob", name="applied_until_line"),
    ]
