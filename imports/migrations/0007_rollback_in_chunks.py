"""A rollback runs in chunks of contact ids, on several connections, each chunk committed with
its counts: the job keeps how many chunks were planned and the id ranges undone so far."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("imports", "0006_leaner_history_writes"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="rollback_chunks",
            field=models.IntegerField(default=0),
        ),
        migrations.AddField(
            model_name="importjob",
            name="rollback_ranges",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
