import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("imports", "0003_exportjob"),
        ("segments", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="target_list",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                related_name="+", to="segments.staticlist",
            ),
        ),
    ]
