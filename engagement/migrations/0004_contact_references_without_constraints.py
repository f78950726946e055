# The contact references lose their database constraints (see EmailEvent.contact); migration
# 0002's trigger keeps removing the rows with their contacts.
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('contacts', '0008_contact_references_without_constraints'),
        ('engagement', '0003_deleted_engagement_snapshots'),
    ]

    operations = [
        migrations.AlterField(
            model_name='contactscore',
            name='contact',
            field=models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='lead_score', serialize=False, to='contacts.contact'),
        ),
        migrations.AlterField(
            model_name='emailevent',
            name='contact',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='email_events', to='contacts.contact'),
        ),
        migrations.AlterField(
            model_name='scorechange',
            name='contact',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='score_changes', to='contacts.contact'),
        ),
    ]
