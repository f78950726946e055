import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """The search index's pending list may grow to 512 MB (was 64 MB): a million-row import
    appends ~210 MB to it, and at 64 MB three merges ran inside the import's write chunks
    (each such chunk 3 s longer). The import's follow-up job merges it in one pass. Only the
    index's storage parameter changes (ALTER INDEX), the index is not rebuilt."""

    dependencies = [
        ('contacts', '0011_leaner_contact_writes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.SeparateDatabaseAndState(
        database_operations=[migrations.RunSQL(
            "ALTER INDEX contact_search_idx SET (gin_pending_list_limit = 524288)",
            "ALTER INDEX contact_search_idx SET (gin_pending_list_limit = 65536)",
        )],
        state_operations=[
        migrations.RemoveIndex(
            model_name='contact',
            name='contact_search_idx',
        ),
        migrations.AddIndex(
            model_name='contact',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.search.SearchVector('email_normalized', django.db.models.functions.text.Replace(django.db.models.functions.text.Replace('email_normalized', models.Value('@'), models.Value(' ')), models.Value('.'), models.Value(' ')), 'first_name', 'last_name', 'company', config='simple'), gin_pending_list_limit=524288, name='contact_search_idx'),
        ),
    ])]
