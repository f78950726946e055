from django.contrib.postgres.fields import ArrayField
from django.db import migrations, models

# Contact.tag_ids mirrors the contact's ContactTag rows, kept by the database itself:
# - after each statement that inserts, deletes or updates tags (or truncates them), the touched
#   contacts get their arrays recomputed from ContactTag, set-based, from the statement's
#   transition table; contacts whose array is already right are not rewritten;
# - any other write of the column (a Django save of an instance read before its tags changed,
#   a hand-written UPDATE) is ignored: outside these triggers the old value is kept.
_REFRESH = """
CREATE FUNCTION contacts_refresh_tag_ids_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE contacts_contact c SET tag_ids = a.tag_ids
    FROM (SELECT d.contact_id,
                 array_agg(t.tag_id ORDER BY t.tag_id)
                     FILTER (WHERE t.tag_id IS NOT NULL) AS tag_ids
          FROM (SELECT DISTINCT contact_id FROM {table}) d
          LEFT JOIN contacts_contacttag t ON t.contact_id = d.contact_id
          GROUP BY d.contact_id) a
    WHERE c.id = a.contact_id AND c.tag_ids IS DISTINCT FROM a.tag_ids;
    RETURN NULL;
END $$;
ALTER FUNCTION contacts_refresh_tag_ids_{table}() SET search_path FROM CURRENT;
"""
_SQL = """-- The tags of the contacts there are now (before the guard below is in place).
UPDATE contacts_contact c SET tag_ids = a.tag_ids
FROM (SELECT contact_id, array_agg(tag_id ORDER BY tag_id) AS tag_ids
      FROM contacts_contacttag GROUP BY contact_id) a
WHERE c.id = a.contact_id;
""" + _REFRESH.format(table="added_tags") + _REFRESH.format(table="removed_tags") + """
CREATE TRIGGER contacts_tags_added AFTER INSERT ON contacts_contacttag
    REFERENCING NEW TABLE AS added_tags
    FOR EACH STATEMENT EXECUTE FUNCTION contacts_refresh_tag_ids_added_tags();
CREATE TRIGGER contacts_tags_removed AFTER DELETE ON contacts_contacttag
    REFERENCING OLD TABLE AS removed_tags
    FOR EACH STATEMENT EXECUTE FUNCTION contacts_refresh_tag_ids_removed_tags();
-- An UPDATE may move a tag from one contact to another: both sides are recomputed.
CREATE TRIGGER contacts_tags_moved_to AFTER UPDATE ON contacts_contacttag
    REFERENCING NEW TABLE AS added_tags
    FOR EACH STATEMENT EXECUTE FUNCTION contacts_refresh_tag_ids_added_tags();
CREATE TRIGGER contacts_tags_moved_from AFTER UPDATE ON contacts_contacttag
    REFERENCING OLD TABLE AS removed_tags
    FOR EACH STATEMENT EXECUTE FUNCTION contacts_refresh_tag_ids_removed_tags();

CREATE FUNCTION contacts_forget_truncated_tags() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE contacts_contact SET tag_ids = NULL WHERE tag_ids IS NOT NULL;
    RETURN NULL;
END $$;
ALTER FUNCTION contacts_forget_truncated_tags() SET search_path FROM CURRENT;
CREATE TRIGGER contacts_forget_truncated_tags AFTER TRUNCATE ON contacts_contacttag
    FOR EACH STATEMENT EXECUTE FUNCTION contacts_forget_truncated_tags();

-- Only the triggers above (which run nested: trigger depth 2 and more) write the column. The
-- trigger fires only for UPDATEs that name tag_ids, so the imports' bulk UPDATEs pay nothing.
CREATE FUNCTION contacts_keep_tag_ids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() < 2 THEN
        NEW.tag_ids := OLD.tag_ids;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER contacts_keep_tag_ids BEFORE UPDATE OF tag_ids ON contacts_contact
    FOR EACH ROW WHEN (NEW.tag_ids IS DISTINCT FROM OLD.tag_ids) EXECUTE FUNCTION contacts_keep_tag_ids();
"""
_REVERSE_SQL = """
DROP TRIGGER contacts_tags_added ON contacts_contacttag;
DROP TRIGGER contacts_tags_removed ON contacts_contacttag;
DROP TRIGGER contacts_tags_moved_to ON contacts_contacttag;
DROP TRIGGER contacts_tags_moved_from ON contacts_contacttag;
DROP TRIGGER contacts_forget_truncated_tags ON contacts_contacttag;
DROP TRIGGER contacts_keep_tag_ids ON contacts_contact;
DROP FUNCTION contacts_refresh_tag_ids_added_tags();
DROP FUNCTION contacts_refresh_tag_ids_removed_tags();
DROP FUNCTION contacts_forget_truncated_tags();
DROP FUNCTION contacts_keep_tag_ids();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('contacts', '0009_leaner_history_writes'),
    ]

    operations = [
        migrations.AddField(
            model_name='contact',
            name='tag_ids',
            field=ArrayField(base_field=models.BigIntegerField(), editable=False, null=True, size=None),
        ),
        migrations.RunSQL(_SQL, _REVERSE_SQL),
    ]
