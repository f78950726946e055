import django.db.models.deletion
from django.db import migrations, models

# Tags and history follow their contacts in the database itself, whoever deletes them and how,
# with one set-based statement per table from the DELETE's transition table (as segments and
# engagement do for their rows) instead of a deferred foreign-key check per deleted row.
_SQL = """
CREATE FUNCTION contacts_forget_deleted_contacts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM contacts_contacttag t USING deleted_contacts d WHERE t.contact_id = d.id;
    UPDATE contacts_contactchange h SET contact_id = NULL
        FROM deleted_contacts d WHERE h.contact_id = d.id;
    RETURN NULL;
END $$;
ALTER FUNCTION contacts_forget_deleted_contacts() SET search_path FROM CURRENT;
CREATE TRIGGER contacts_forget_deleted_contacts AFTER DELETE ON contacts_contact
    REFERENCING OLD TABLE AS deleted_contacts
    FOR EACH STATEMENT EXECUTE FUNCTION contacts_forget_deleted_contacts();
"""
_REVERSE_SQL = """
DROP TRIGGER contacts_forget_deleted_contacts ON contacts_contact;
DROP FUNCTION contacts_forget_deleted_contacts();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('contacts', '0007_search_index_on_expression'),
    ]

    operations = [
        migrations.RunSQL(_SQL, _REVERSE_SQL),
        migrations.AlterField(
            model_name='contactchange',
            name='contact',
            field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='changes', to='contacts.contact'),
        ),
        migrations.AlterField(
            model_name='contacttag',
            name='contact',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, to='contacts.contact'),
        ),
    ]
