from django.db import migrations, models

# Fewer indexes for every contact write to keep up (an import's UPDATE of 48,500 contacts:
# 2.05 -> 1.70 s), and no history rewrite on delete:
# - email_normalized gets the "C" collation (byte order: the order of the database's C.UTF-8),
#   so its unique index serves LIKE 'prefix%' and the email sort; Django's varchar_pattern_ops
#   index and (email_normalized, id) go.
# - deleting contacts no longer sets their history's contact_id to NULL (ContactChange.contact).
_SQL = """
DROP INDEX contact_email_sort_idx;
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT i.indexrelid::regclass AS name FROM pg_index i
             JOIN pg_opclass o ON o.oid = ANY (i.indclass::oid[])
             WHERE i.indrelid = 'contacts_contact'::regclass
               AND o.opcname = 'varchar_pattern_ops'
    LOOP
        EXECUTE 'DROP INDEX ' || r.name;
    END LOOP;
END $$;
ALTER TABLE contacts_contact ALTER COLUMN email_normalized TYPE varchar(254) COLLATE "C";
CREATE OR REPLACE FUNCTION contacts_forget_deleted_contacts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM contacts_contacttag t USING deleted_contacts d WHERE t.contact_id = d.id;
    RETURN NULL;
END $$;
ALTER FUNCTION contacts_forget_deleted_contacts() SET search_path FROM CURRENT;
"""

_REVERSE_SQL = """
CREATE OR REPLACE FUNCTION contacts_forget_deleted_contacts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM contacts_contacttag t USING deleted_contacts d WHERE t.contact_id = d.id;
    UPDATE contacts_contactchange h SET contact_id = NULL
        FROM deleted_contacts d WHERE h.contact_id = d.id;
    RETURN NULL;
END $$;
ALTER FUNCTION contacts_forget_deleted_contacts() SET search_path FROM CURRENT;
ALTER TABLE contacts_contact ALTER COLUMN email_normalized TYPE varchar(254) COLLATE "default";
CREATE INDEX contacts_contact_email_normalized_2505fbb3_like
    ON contacts_contact (email_normalized varchar_pattern_ops);
CREATE INDEX contact_email_sort_idx ON contacts_contact (email_normalized, id);
"""


class Migration(migrations.Migration):

    dependencies = [
        ("contacts", "0010_contact_tag_ids"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(_SQL, _REVERSE_SQL)],
            state_operations=[
                migrations.RemoveIndex(model_name="contact", name="contact_email_sort_idx"),
                migrations.AlterField(
                    model_name="contact", name="email_normalized",
                    field=models.CharField(db_collation="C", editable=False, max_length=254,
                                           unique=True),
                ),
                migrations.AlterField(
                    model_name="contactchange", name="contact",
                    field=models.ForeignKey(
                        db_constraint=False, db_index=False, null=True,
                        on_delete=models.deletion.DO_NOTHING, related_name="changes",
                        to="contacts.contact"),
                ),
            ],
        ),
    ]
