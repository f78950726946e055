# Events, scores and score changes go with their contact in the database itself, whoever
# deletes it and how. Django's own delete cascades in Python, but set-based deletes
# (contacts.services.purge_contacts: bulk delete, import rollback) are one raw DELETE: without
# this, the (deferred) foreign keys failed at commit for any contact with engagement data. One
# set-based DELETE per table and statement, from the statement's transition table, as segments
# does for memberships (segments migration 0001). The function keeps this schema's search_path.

from django.db import migrations

_SQL = """
CREATE FUNCTION engagement_forget_deleted_contacts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM engagement_emailevent e USING deleted_contacts d WHERE e.contact_id = d.id;
    DELETE FROM engagement_scorechange s USING deleted_contacts d WHERE s.contact_id = d.id;
    DELETE FROM engagement_contactscore s USING deleted_contacts d WHERE s.contact_id = d.id;
    RETURN NULL;
END $$;
ALTER FUNCTION engagement_forget_deleted_contacts() SET search_path FROM CURRENT;
CREATE TRIGGER engagement_forget_deleted_contacts AFTER DELETE ON contacts_contact
    REFERENCING OLD TABLE AS deleted_contacts
    FOR EACH STATEMENT EXECUTE FUNCTION engagement_forget_deleted_contacts();
"""
_REVERSE_SQL = """
DROP TRIGGER engagement_forget_deleted_contacts ON contacts_contact;
DROP FUNCTION engagement_forget_deleted_contacts();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("engagement", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(_SQL, _REVERSE_SQL),
    ]
