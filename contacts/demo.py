"""Realistic demo contacts generated inside PostgreSQL (set-based: one INSERT … SELECT over
generate_series per chunk), so a million rows take seconds, not hours."""

from __future__ import annotations

from django.db import connection, transaction

FIRST = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy "
    "Matthew Betty Anthony Sandra Mark Ashley Donald Emily Steven Kimberly Andrew Donna Paul "
    "Michelle Joshua Carol Kenneth Amanda Kevin Melissa Brian Deborah George Stephanie "
    "Timothy Rebecca Ronald Laura Jason Helen Edward Sharon Jeffrey Cynthia Ryan Kathleen "
    "Jacob Amy Gary Angela Nicholas Anna Eric Ruth Jonathan Brenda Stephen Pamela Larry "
    "Nicole Justin Katherine Scott Samantha Brandon Christine Benjamin Emma Samuel Catherine "
    "Gregory Debra Alexander Rachel Patrick Carolyn Frank Janet Raymond Maria Jack Olivia "
    "Dennis Heather Jerry Diane Tyler Julie Aaron Joyce Jose Victoria Adam Kelly Nathan "
    "Lauren Henry Christina Zachary Joan Douglas Evelyn Peter Judith Kyle Andrea Noah Hannah "
    "Ethan Megan Jeremy Cheryl Walter Jacqueline Christian Martha Keith Madison Roger Teresa "
    "Sofia Mateo Lucia Hugo Chloe Lea Louis Jana Lukas Mia Elias Sara Ahmed Fatima Wei Mei "
    "Hiroshi Yuki Priya Arjun Olga Ivan Ines Joao Aisha Kwame"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter "
    "Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris "
    "Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly "
    "Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray "
    "Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez "
    "Muller Schmidt Schneider Fischer Weber Dubois Laurent Rossi Russo Ferrari Silva Santos "
    "Kowalski Novak Tanaka Suzuki Chen Wang Singh Kumar Ivanov Jensen Hansen Larsen Berg"
).split()
COMPANIES = [
    ("Acme Corp", "acme.com"), ("Globex", "globex.com"), ("Initech", "initech.com"),
    ("Umbrella Health", "umbrellahealth.com"), ("Stark Industries", "stark.io"),
    ("Wayne Enterprises", "wayne.co"), ("Hooli", "hooli.xyz"), ("Pied Piper", "piedpiper.com"),
    ("Vandelay Industries", "vandelay.com"), ("Soylent", "soylent.io"),
    ("Cyberdyne Systems", "cyberdyne.ai"), ("Tyrell Corp", "tyrell.com"),
    ("Wonka Foods", "wonka.com"), ("Gringotts Bank", "gringotts.co.uk"),
    ("Oceanic Airlines", "oceanic.aero"), ("Monarch Solutions", "monarch.dev"),
    ("Northwind Traders", "northwind.com"), ("Contoso", "contoso.com"),
    ("Fabrikam", "fabrikam.com"), ("Tailspin Toys", "tailspin.com"),
    ("Blue Yonder Airlines", "blueyonder.com"), ("Litware", "litware.io"),
    ("Adventure Works", "adventure-works.com"), ("Proseware", "proseware.com"),
    ("Woodgrove Bank", "woodgrove.bank"), ("Alpine Ski House", "alpineskihouse.com"),
    ("Coho Winery", "cohowinery.com"), ("Lamna Healthcare", "lamna.health"),
    ("Trey Research", "treyresearch.net"), ("Wide World Importers", "wideworld.com"),
    ("Margie's Travel", "margiestravel.com"), ("Fourth Coffee", "fourthcoffee.com"),
    ("Graphic Design Institute", "gdi.edu"), ("Humongous Insurance", "humongous.com"),
    ("Lucerne Publishing", "lucernepublishing.com"), ("Nod Publishers", "nodpublishers.com"),
    ("Relecloud", "relecloud.com"), ("School of Fine Art", "fineart.school"),
    ("Southridge Video", "southridgevideo.com"), ("VanArsdel", "vanarsdel.com"),
]
TITLES = (
    "CEO|CTO|CFO|COO|VP Sales|VP Marketing|Head of Growth|Marketing Manager|Sales Manager|"
    "Account Executive|SDR|BDR|Product Manager|Engineering Manager|Software Engineer|"
    "Data Analyst|Founder|Co-founder|Operations Manager|HR Director|Recruiter|"
    "Customer Success Manager|Office Manager|Procurement Lead|Designer|Consultant"
).split("|")
PLACES = [
    ("New York", "United States"), ("San Francisco", "United States"), ("Austin", "United States"),
    ("Chicago", "United States"), ("Seattle", "United States"), ("Boston", "United States"),
    ("Toronto", "Canada"), ("Vancouver", "Canada"), ("Mexico City", "Mexico"),
    ("São Paulo", "Brazil"), ("Buenos Aires", "Argentina"), ("London", "United Kingdom"),
    ("Manchester", "United Kingdom"), ("Dublin", "Ireland"), ("Paris", "France"),
    ("Lyon", "France"), ("Berlin", "Germany"), ("München", "Germany"), ("Amsterdam", "Netherlands"),
    ("Madrid", "Spain"), ("Barcelona", "Spain"), ("Lisbon", "Portugal"), ("Milan", "Italy"),
    ("Stockholm", "Sweden"), ("Copenhagen", "Denmark"), ("Warsaw", "Poland"), ("Zürich", "Switzerland"),
    ("Tokyo", "Japan"), ("Singapore", "Singapore"), ("Sydney", "Australia"), ("Bangalore", "India"),
    ("Dubai", "United Arab Emirates"), ("Cape Town", "South Africa"), ("Lagos", "Nigeria"),
]
TAGS = ["customer", "prospect", "newsletter", "vip", "webinar-2026", "partner"]

_INSERT = """
WITH gen AS (
    SELECT n,
           (%(first)s::text[])[1 + (n * 7) %% %(nfirst)s] AS fn,
           (%(last)s::text[])[1 + (n * 13 + n / 7) %% %(nlast)s] AS ln,
           1 + (n * 31 + n / 11) %% %(ncomp)s AS ci,
           1 + (n * 17) %% %(nplace)s AS pi
    FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS n
), src AS (
    SELECT gen.*, lower(fn || '.' || ln || n::text || '@' || (%(domains)s::text[])[ci]) AS em,
           nextval(pg_get_serial_sequence('contacts_contact', 'id')) AS id
    FROM gen
)
INSERT INTO contacts_contact (
    id, email, email_normalized, first_name, last_name, company, job_title, phone, website,
    city, country, custom_fields, status, validation_status, validation_reason, source,
    created_at, updated_at, tag_ids)
SELECT id, em, em, fn, ln, (%(companies)s::text[])[ci],
       (%(titles)s::text[])[1 + (n * 3) %% %(ntitles)s],
       '+1 555 ' || lpad(((n * 7919) %% 10000000)::text, 7, '0'),
       'https://' || (%(domains)s::text[])[ci],
       (%(cities)s::text[])[pi], (%(countries)s::text[])[pi],
       '{}'::jsonb,
       CASE WHEN n %% 50 = 0 THEN 'unsubscribed' WHEN n %% 97 = 0 THEN 'bounced' ELSE 'active' END,
       CASE WHEN n %% 97 = 0 THEN 'invalid' WHEN n %% 23 = 0 THEN 'risky' ELSE 'valid' END,
       CASE WHEN n %% 97 = 0 THEN 'no_such_domain' WHEN n %% 23 = 0 THEN 'role_account' ELSE '' END,
       'demo',
       now() - ((n * 7919) %% 63072000) * interval '1 second',
       now() - ((n * 7919) %% 63072000) * interval '1 second' / 2,
       -- The tag _TAG gives it, written here already: the database then finds each contact's
       -- copy of its tags right and does not rewrite the row (contacts.models.Contact.tag_ids).
       CASE WHEN id %% 3 <> 0 THEN ARRAY[(%(tag_ids)s::bigint[])[1 + (id / 3) %% %(ntags)s]] END
FROM src
{skip_existing}
"""
_SKIP_BY_CONFLICT = "ON CONFLICT (email_normalized) DO NOTHING"
# Without the unique index (bulk mode) the generated emails are unique among themselves (they
# carry n); only the rows that were there before need checking.
_SKIP_BY_ANTI_JOIN = """WHERE NOT EXISTS (
    SELECT 1 FROM contacts_contact e WHERE e.id <= %(after_id)s AND e.email_normalized = src.em)"""

_TAG = """
INSERT INTO contacts_contacttag (contact_id, tag_id, added_at)
SELECT c.id, (%(tag_ids)s::bigint[])[1 + (c.id / 3) %% %(ntags)s], c.created_at
FROM contacts_contact c
WHERE c.id > %(after_id)s AND c.id %% 3 <> 0
ON CONFLICT DO NOTHING
"""


def seed_contacts(*, count: int, chunk: int = 250_000, progress=None) -> int:
    """Insert `count` demo contacts into the current tenant schema; returns how many were new.

    Side effects: inserts Contact rows (source 'demo'), the demo Tag rows and ContactTag
    links for two contacts in three; runs ANALYZE so the planner sees the new size."""
    from contacts.services import ensure_tags

    tag_ids = [t.pk for t in ensure_tags(TAGS)]
    params = {
        "first": FIRST, "nfirst": len(FIRST), "last": LAST, "nlast": len(LAST),
        "companies": [c for c, _d in COMPANIES], "domains": [d for _c, d in COMPANIES],
        "ncomp": len(COMPANIES), "titles": TITLES, "ntitles": len(TITLES),
        "cities": [c for c, _k in PLACES], "countries": [k for _c, k in PLACES],
        "nplace": len(PLACES), "tag_ids": tag_ids, "ntags": len(tag_ids),
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0), count(*) FROM contacts_contact")
        after_id, existing = cursor.fetchone()
        # A big load into a small table is much faster as "drop secondary indexes, insert,
        # build them again" (one sorted build instead of a million incremental updates). It
        # runs in one transaction, so readers wait rather than see a table without indexes.
        rebuild = count >= 100_000 and count >= 2 * existing
        with transaction.atomic():
            # Django's foreign keys are deferred; checking them per statement lets the index
            # builds below run in the same transaction.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            dropped = _drop_secondary_indexes(cursor) if rebuild else []
            skip = _SKIP_BY_ANTI_JOIN if rebuild else _SKIP_BY_CONFLICT
            insert = _INSERT.replace("{skip_existing}", skip)
            params["after_id"] = after_id
            created = _insert_chunks(cursor, insert, params, after_id + 1, count, chunk, progress)
            cursor.execute(_TAG, {**params, "after_id": after_id})
            for definition in dropped:
                cursor.execute(definition)
        # VACUUM, not only ANALYZE: it sets the visibility map, without which deep pages cannot
        # use index-only scans until autovacuum gets round to the table.
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
        cursor.execute(f"{command} contacts_contact")
        cursor.execute(f"{command} contacts_contacttag")
    return created


def _insert_chunks(cursor, insert, params, start, count, chunk, progress) -> int:
    created = 0
    while created < count:
        size = min(chunk, count - created)
        cursor.execute(insert, {**params, "start": start, "stop": start + size - 1})
        inserted = max(cursor.rowcount, 0)
        created += inserted
        start += size
        if progress:
            progress(created)
        if inserted == 0:
            break
    return created


def _drop_secondary_indexes(cursor) -> list[str]:
    """Drop the secondary indexes and the unique email constraint of the contact tables;
    return the statements that create them again."""
    cursor.execute(
        """
        SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = 'contacts_contact'::regclass AND contype = 'u'
        """
    )
    constraints = cursor.fetchall()
    for name, _definition in constraints:
        cursor.execute(f'ALTER TABLE contacts_contact DROP CONSTRAINT "{name}"')
    cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid
        WHERE n.nspname = current_schema()
          AND t.relname IN ('contacts_contact', 'contacts_contacttag')
          AND c.oid IS NULL
        """
    )
    found = cursor.fetchall()
    for name, _definition in found:
        cursor.execute(f"DROP INDEX {name}")
    restore = [
        f'ALTER TABLE contacts_contact ADD CONSTRAINT "{name}" {definition}'
        for name, definition in constraints
    ]
    return restore + [definition for _name, definition in found]
