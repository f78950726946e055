from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('imports', '0007_rollback_in_chunks'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='importchange',
            name='importchange_contact',
        ),
    ]
