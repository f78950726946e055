"""Writes to static lists, their members and campaigns.

Membership changes are set-based: the contacts come as a SELECT of ids (`ids_sql` + `params`,
as `qs.order_by().values("pk").query.sql_with_params()` gives), and one INSERT … SELECT … ON
CONFLICT DO NOTHING or one DELETE does the work, whatever the number. Each operation leaves one
aggregated ListChange row (added, removed, size after) for the list analytics, bumps the list's
updated_at, and pushes one event to the tenant's open list pages.

Removals are also kept per contact, for its activity timeline (additions are the memberships
themselves): every DELETE of memberships here is one statement that also inserts a ListRemoval
row per removed membership (`_removal_sql`). Not recorded: memberships that go because their
contact is deleted (the trigger of migration 0001; the contact's removals go too) or because
their list is (delete_list; the list's removals go with it).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from penguinleads.realtime import push
from segments.models import (
    Campaign,
    CampaignStatus,
    CampaignTarget,
    ListChange,
    ListMembership,
    MembershipSource,
    StaticList,
)
from webhooks.services import emit

MAX_NAME_LENGTH = StaticList._meta.get_field("name").max_length
MAX_DESCRIPTION_LENGTH = 2000


class ListGone(Exception):
    """The list was deleted (perhaps a moment ago by someone else); str() is for the user."""

    def __init__(self, list_id: int | None = None):
        self.list_id = list_id
        super().__init__("This list no longer exists; it was deleted.")


# --- lists --------------------------------------------------------------------------------------


def clean_list_name(name: object) -> str:
    """The name as stored (trimmed, inner whitespace collapsed). Raises ValidationError."""
    if not isinstance(name, str):
        raise ValidationError("The list name must be text.", code="invalid")
    name = " ".join(name.split())
    if not name:
        raise ValidationError("A list needs a name.", code="required")
    if "\x00" in name:
        raise ValidationError("The name may not contain a NUL character.", code="invalid")
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"At most {MAX_NAME_LENGTH} characters (got {len(name)}).", code="max_length"
        )
    return name


def clean_description(text: object) -> str:
    text = "" if text is None else str(text).strip()
    if "\x00" in text:
        raise ValidationError("The description may not contain a NUL character.", code="invalid")
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise ValidationError(f"At most {MAX_DESCRIPTION_LENGTH} characters.", code="max_length")
    return text


def _check_name_free(name: str, *, exclude_pk: int | None = None) -> None:
    taken = StaticList.objects.filter(name__iexact=name, campaign_owned=False)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationError(f"A list named “{name}” already exists.", code="duplicate_name")


def _save_named(static_list: StaticList) -> StaticList:
    """Save; a concurrent list with the same name loses to the unique index, with our message."""
    try:
        with transaction.atomic():
            static_list.save()
    except IntegrityError:
        raise ValidationError(
            f"A list named “{static_list.name}” already exists.", code="duplicate_name"
        ) from None
    return static_list


def create_list(*, name: str, description: str = "", actor=None) -> StaticList:
    """Create an empty list. Side effects: inserts a StaticList. Raises ValidationError (empty,
    too long or taken name, case-insensitively)."""
    name = clean_list_name(name)
    _check_name_free(name)
    return _save_named(
        StaticList(name=name, description=clean_description(description), created_by=actor)
    )


def get_or_create_list(*, name: str, actor=None) -> StaticList:
    """The list named `name` (case-insensitively), created if missing. Side effects: may insert
    a StaticList. Raises ValidationError for an unusable name."""
    name = clean_list_name(name)
    found = StaticList.objects.filter(name__iexact=name, campaign_owned=False).first()
    if found is not None:
        return found
    try:
        return create_list(name=name, actor=actor)
    except ValidationError:  # created by someone else meanwhile
        found = StaticList.objects.filter(name__iexact=name, campaign_owned=False).first()
        if found is None:
            raise
        return found


def update_list(*, static_list: StaticList, name: str, description: str) -> StaticList:
    """Rename and/or describe a list. Side effects: updates the StaticList. Raises
    ValidationError."""
    name = clean_list_name(name)
    if not static_list.campaign_owned:
        _check_name_free(name, exclude_pk=static_list.pk)
    static_list.name, static_list.description = name, clean_description(description)
    return _save_named(static_list)


def set_list_archived(*, static_list: StaticList, archived: bool) -> StaticList:
    """Archive (hide from pickers; members stay) or unarchive a list. Side effects: sets
    archived_at."""
    static_list.archived_at = timezone.now() if archived else None
    static_list.save(update_fields=["archived_at", "updated_at"])
    return static_list


def delete_list(*, static_list: StaticList) -> int:
    """Delete a list, its memberships, analytics, removal history (ListRemoval; its members'
    removals are not recorded) and campaign targetings (contacts stay).
    Refused (ValidationError, code "in_use") while a dynamic segment's rules name it: the
    segment could no longer be worked out. Returns how many memberships went with it."""
    from segments.dynamic.services import segments_using_list

    users = segments_using_list(static_list.pk)
    if users:
        raise ValidationError(
            f"The segment “{users[0].name}” uses this list in its rules; change its rules "
            "first.", code="in_use")
    with transaction.atomic(), connection.cursor() as cursor:
        # Locked first: an add that is running finishes before, one that comes later finds
        # the list gone (ListGone) rather than leaving members of a deleted list.
        cursor.execute("SELECT 1 FROM segments_staticlist WHERE id = %s FOR UPDATE",
                       [static_list.pk])
        cursor.execute(
            "DELETE FROM segments_listmembership WHERE static_list_id = %s", [static_list.pk]
        )
        removed = cursor.rowcount
        # Not a removal of each member (not recorded): the list's removal history goes too,
        # in one statement rather than through Django's cascade.
        cursor.execute(
            "DELETE FROM segments_listremoval WHERE static_list_id = %s", [static_list.pk]
        )
        # The rest (analytics rows, campaign targetings) is small: Django's cascade.
        StaticList.objects.filter(pk=static_list.pk).delete()
    _push(static_list.pk, "deleted")
    return removed


def start_list_import(*, name: str, fileobj, filename: str, user):
    """"New list from a file": create the list, then upload the file as an import aimed at it
    with the strategy skip (contacts already here are just added, their details untouched).
    Side effects: a StaticList, the stored file and its ImportJob (see
    imports.services.create_import); the list goes again if the file is refused. Raises
    ValidationError (name) or imports.readers.FileRejected."""
    from imports import services as imports

    static_list = create_list(name=name, actor=user)
    try:
        job = imports.create_import(fileobj=fileobj, filename=filename, user=user)
    except Exception:
        delete_list(static_list=static_list)
        raise
    return imports.configure_import(job=job, strategy="skip", target_list=static_list, user=user)


def count_members(static_list: StaticList) -> int:
    return ListMembership.objects.filter(static_list=static_list).count()


# --- membership -----------------------------------------------------------------------------------


def _literal(value) -> str:
    return "NULL::bigint" if value is None else str(int(value))


def _clean_source(source: str) -> str:
    if source not in MembershipSource.values:
        raise ValueError(f"Unknown membership source {source!r}.")
    return source


def _lock_list(static_list: StaticList) -> None:
    """Serialise changes to one list (so size_after is exact) and refuse a deleted list."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM segments_staticlist WHERE id = %s FOR NO KEY UPDATE", [static_list.pk]
        )
        if cursor.fetchone() is None:
            raise ListGone(static_list.pk)


def _record(static_list: StaticList, *, added: int = 0, removed: int = 0, source: str,
            source_ref: int | None, actor) -> None:
    """One ListChange row for the operation and the list's "last updated"."""
    now = timezone.now()
    change = ListChange.objects.create(
        static_list_id=static_list.pk, added=added, removed=removed,
        size_after=count_members(static_list), source=source, source_ref=source_ref,
        actor=actor if getattr(actor, "pk", None) else None, at=now,
    )
    StaticList.objects.filter(pk=static_list.pk).update(updated_at=now)
    _push(static_list.pk, "members")
    emit(kind="list.membership_changed", payload={
        "list": {"id": static_list.pk, "name": static_list.name}, "added": added,
        "removed": removed, "size": change.size_after, "source": source})
    from segments.dynamic.tasks import on_list_changed

    on_list_changed(list_id=static_list.pk)


def _push(list_id: int, action: str) -> None:
    push(schema_name=connection.schema_name, topic="lists",
         event={"action": action, "list_id": list_id})


def add_contacts_to_list(
    *,
    static_list: StaticList,
    ids_sql: str,
    params: list,
    source: str,
    source_ref: int | None = None,
    actor=None,
    record: bool = True,
) -> int:
    """Add the contacts whose ids `ids_sql` selects (unknown ids are ignored) to the list.
    Idempotent: contacts already in it keep their original membership. Side effects: inserts
    ListMembership rows, one ListChange row when something was added (unless `record` is
    False: a caller working in chunks records the whole operation once, with
    record_list_change), bumps updated_at, pushes an event. Raises ListGone if the list was
    deleted. Returns how many were added."""
    source = _clean_source(source)
    actor_id = getattr(actor, "pk", None)
    with transaction.atomic():
        _lock_list(static_list)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""INSERT INTO segments_listmembership
                        (static_list_id, contact_id, added_at, source, source_ref, added_by_id)
                    SELECT {_literal(static_list.pk)}, c.id, now(), '{source}',
                           {_literal(source_ref)}, {_literal(actor_id)}
                    FROM contacts_contact c WHERE c.id IN ({ids_sql})
                    ORDER BY c.id
                    ON CONFLICT DO NOTHING""",
                params,
            )
            added = cursor.rowcount
        if added and record:
            _record(static_list, added=added, source=source, source_ref=source_ref, actor=actor)
    return added


def remove_contacts_from_list(
    *,
    static_list: StaticList,
    ids_sql: str,
    params: list,
    source: str,
    source_ref: int | None = None,
    actor=None,
    record: bool = True,
) -> int:
    """Remove the contacts whose ids `ids_sql` selects from the list (others are ignored).
    Side effects: deletes ListMembership rows and inserts one ListRemoval row per removed
    member (same statement, see _removal_sql; also with `record` False), one ListChange row when
    something was removed (unless `record` is False, as in add_contacts_to_list), bumps
    updated_at, pushes an event. Raises ListGone. Returns how many were removed."""
    source = _clean_source(source)
    with transaction.atomic():
        _lock_list(static_list)
        with connection.cursor() as cursor:
            cursor.execute(
                _removal_sql(
                    where=f"static_list_id = {_literal(static_list.pk)} "
                          f"AND contact_id IN ({ids_sql})",
                    source=source, source_ref=source_ref, actor_id=getattr(actor, "pk", None),
                ),
                params,
            )
            removed = cursor.rowcount
        if removed and record:
            _record(static_list, removed=removed, source=source, source_ref=source_ref,
                    actor=actor)
    return removed


def _removal_sql(*, where: str, source: str, source_ref: int | None, actor_id: int | None,
                 per_list: bool = False) -> str:
    """One statement that deletes the memberships `where` selects and records each removal
    (a ListRemoval row) for the contact's timeline. Its rowcount is the number removed; with
    `per_list` it returns (list id, removed) rows instead. `where` is SQL of the callers (ids
    as parameters); only ints and a checked source code are formatted in."""
    record = f"""INSERT INTO segments_listremoval (contact_id, removed_at, static_list_id,
                                                  added_at, source, source_ref, actor_id)
                 SELECT contact_id, now(), static_list_id, added_at,
                        '{_clean_source(source)}', {_literal(source_ref)}, {_literal(actor_id)}
                 FROM gone"""
    gone = f"""WITH gone AS (
                   DELETE FROM segments_listmembership WHERE {where}
                   RETURNING static_list_id, contact_id, added_at
               )"""
    if not per_list:
        return f"{gone} {record}"
    return f"""{gone}, recorded AS ({record} RETURNING static_list_id)
               SELECT static_list_id, count(*) FROM recorded GROUP BY static_list_id"""


def ids_of(contact_ids: list[int]) -> tuple[str, list]:
    """(ids_sql, params) for explicit contact ids."""
    return "SELECT unnest(%s::bigint[]) AS id", [list(contact_ids)]


def _record_per_list(rows: list[tuple[int, int]], *, column: str, source: str,
                     source_ref: int | None) -> int:
    lists = StaticList.objects.in_bulk([list_id for list_id, _n in rows])
    for list_id, count in rows:
        if list_id in lists:
            _record(lists[list_id], **{column: count}, source=source, source_ref=source_ref,
                    actor=None)
    return sum(count for _list_id, count in rows)


def remove_import_memberships(*, import_id: int, actor_id: int | None = None) -> int:
    """Rollback of an import: remove the memberships it added (source import, source_ref the
    import id), in every list. Side effects: deletes ListMembership rows and inserts a
    ListRemoval row for each (source import, by `actor_id`), one ListChange row per list
    touched. Returns how many memberships were removed."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _removal_sql(where="source = 'import' AND source_ref = %s",
                         source=MembershipSource.IMPORT, source_ref=int(import_id),
                         actor_id=actor_id, per_list=True),
            [int(import_id)],
        )
        rows = cursor.fetchall()
        return _record_per_list(rows, column="removed", source=MembershipSource.IMPORT,
                                source_ref=import_id)


def restore_memberships(
    *, pairs_sql: str, params: list, source: str = "restore", source_ref: int | None = None
) -> int:
    """Insert memberships from a SELECT of (contact_id, list_id) pairs, skipping lists and
    contacts that no longer exist and memberships already there (undo of a bulk delete).
    Side effects: inserts ListMembership rows, one ListChange row per list. Returns how many."""
    source = _clean_source(source)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""WITH ins AS (
                    INSERT INTO segments_listmembership
                        (static_list_id, contact_id, added_at, source, source_ref, added_by_id)
                    SELECT DISTINCT l.id, c.id, now(), '{source}', {_literal(source_ref)}, NULL::bigint
                    FROM ({pairs_sql}) AS p (contact_id, list_id)
                    JOIN segments_staticlist l ON l.id = p.list_id
                    JOIN contacts_contact c ON c.id = p.contact_id
                    ON CONFLICT DO NOTHING
                    RETURNING static_list_id
                )
                SELECT static_list_id, count(*) FROM ins GROUP BY static_list_id""",
            params,
        )
        rows = cursor.fetchall()
        return _record_per_list(rows, column="added", source=source, source_ref=source_ref)


def list_ids_sql(contact_id_expr: str) -> str:
    """SQL expression: the ids of the lists a contact is in, as a bigint[] (empty if none),
    e.g. list_ids_sql("c.id"). `contact_id_expr` is inserted as is: never user input."""
    return (
        "(SELECT coalesce(array_agg(m.static_list_id ORDER BY m.static_list_id), "
        "'{}'::bigint[]) FROM segments_listmembership m "
        f"WHERE m.contact_id = {contact_id_expr})"
    )


# --- campaigns ------------------------------------------------------------------------------------


def clean_campaign_name(name: object) -> str:
    try:
        return clean_list_name(name)
    except ValidationError as exc:
        raise ValidationError(str(exc.messages[0]).replace("list", "campaign"),
                              code=exc.code) from None


def create_campaign(*, name: str, actor=None) -> Campaign:
    """Create a draft campaign with no targets. Side effects: inserts a Campaign."""
    return Campaign.objects.create(name=clean_campaign_name(name), created_by=actor)


def update_campaign(*, campaign: Campaign, name: str, status: str) -> Campaign:
    """Rename a campaign and set its status. Side effects: updates the Campaign (and the name
    of its direct list)."""
    if status not in CampaignStatus.values:
        raise ValidationError(f"Unknown status {status!r}.", code="invalid")
    campaign.name, campaign.status = clean_campaign_name(name), status
    campaign.save(update_fields=["name", "status"])
    if campaign.direct_list_id:
        StaticList.objects.filter(pk=campaign.direct_list_id).update(
            name=_direct_list_name(campaign)[:MAX_NAME_LENGTH]
        )
    return campaign


def set_campaign_targets(*, campaign: Campaign, target_ids: list[int],
                         exclude_ids: list[int], target_segment_ids: list[int] | None = None,
                         exclude_segment_ids: list[int] | None = None) -> Campaign:
    """Replace the lists a campaign targets and excludes (its direct list stays targeted) and,
    when given (not None), the dynamic segments it targets and excludes; None leaves its
    segments as they are. Side effects: deletes/inserts CampaignTarget rows. Raises
    ValidationError when a list or segment is both targeted and excluded or does not exist."""
    both = set(target_ids) & set(exclude_ids)
    if both:
        raise ValidationError("A list can't be both a target and an exclusion.", code="invalid")
    wanted = {int(i): False for i in target_ids} | {int(i): True for i in exclude_ids}
    if campaign.direct_list_id:
        wanted[campaign.direct_list_id] = False
    found = set(StaticList.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    missing = sorted(set(wanted) - found)
    if missing:
        raise ValidationError(f"No list with id {missing[0]}; it may have been deleted.",
                              code="list_gone")
    segments = _wanted_segments(target_segment_ids, exclude_segment_ids)
    with transaction.atomic():
        targets = CampaignTarget.objects.filter(campaign=campaign)
        (targets if segments is not None else targets.filter(segment__isnull=True)).delete()
        CampaignTarget.objects.bulk_create(
            CampaignTarget(campaign=campaign, static_list_id=pk, exclude=exclude)
            for pk, exclude in wanted.items()
        )
        CampaignTarget.objects.bulk_create(
            CampaignTarget(campaign=campaign, segment_id=pk, exclude=exclude)
            for pk, exclude in (segments or {}).items()
        )
    return campaign


def _wanted_segments(target_ids: list[int] | None, exclude_ids: list[int] | None
                     ) -> dict[int, bool] | None:
    """{segment id: exclude?} for set_campaign_targets (None: leave the segments alone)."""
    from segments.models import Segment

    if target_ids is None and exclude_ids is None:
        return None
    target_ids, exclude_ids = list(target_ids or []), list(exclude_ids or [])
    if set(target_ids) & set(exclude_ids):
        raise ValidationError("A segment can't be both a target and an exclusion.",
                              code="invalid")
    wanted = {int(i): False for i in target_ids} | {int(i): True for i in exclude_ids}
    found = set(Segment.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    missing = sorted(set(wanted) - found)
    if missing:
        raise ValidationError(f"No segment with id {missing[0]}; it may have been deleted.",
                              code="segment_gone")
    return wanted


def _direct_list_name(campaign: Campaign) -> str:
    return f"{campaign.name} (added directly)"


def ensure_direct_list(*, campaign: Campaign) -> StaticList:
    """The campaign's own list of directly added contacts, created (and targeted) on first use.
    Side effects: may insert a StaticList and a CampaignTarget."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.direct_list_id is None:
            campaign.direct_list = StaticList.objects.create(
                name=_direct_list_name(campaign)[:MAX_NAME_LENGTH], campaign_owned=True,
                description=f"Contacts added to the campaign “{campaign.name}” directly.",
                created_by=campaign.created_by,
            )
            campaign.save(update_fields=["direct_list"])
        CampaignTarget.objects.update_or_create(
            campaign=campaign, static_list=campaign.direct_list, defaults={"exclude": False}
        )
    return campaign.direct_list


def add_contacts_to_campaign(
    *, campaign: Campaign, ids_sql: str, params: list, source: str, actor=None,
    record: bool = True,
) -> int:
    """"Add to campaign": add the contacts to the campaign's direct list (see
    ensure_direct_list). Side effects: as add_contacts_to_list. Returns how many were added."""
    direct = ensure_direct_list(campaign=campaign)
    return add_contacts_to_list(
        static_list=direct, ids_sql=ids_sql, params=params, source=source, actor=actor,
        record=record,
    )


def record_list_change(
    *, static_list: StaticList, added: int = 0, removed: int = 0, source: str,
    source_ref: int | None = None, actor=None,
) -> None:
    """Record one operation that added/removed members in chunks (with record=False): one
    ListChange row with the list's size after it, "last updated", a push. Raises ListGone."""
    source = _clean_source(source)
    with transaction.atomic():
        _lock_list(static_list)
        _record(static_list, added=added, removed=removed, source=source,
                source_ref=source_ref, actor=actor)


# --- removing the contacts of a file ------------------------------------------------------------


@dataclass
class FileRemoval:
    """What "remove the contacts of this file" did, for the page that reports it."""

    rows: int = 0
    removed: int = 0
    not_members: int = 0  # contacts of this workspace that were not in the list
    unknown: int = 0  # valid addresses of no contact here
    invalid: int = 0  # rows whose cell is not an email address
    email_column: str = ""


def remove_file_contacts(*, static_list: StaticList, fileobj, filename: str, actor=None
                         ) -> FileRemoval:
    """Remove from the list the contacts whose emails a file holds (CSV/TSV, XLSX or XLS; the
    email column is found as the import finds it). The file is streamed into a temporary table
    (memory flat), then one set-based removal. Side effects: see remove_contacts_from_list
    (source "csv"). Raises imports.readers.FileRejected for an unusable file or one without an
    email column, ListGone for a deleted list."""
    from imports.mapping import auto_map
    from imports.readers import FileRejected, iter_rows, sniff

    sniffed = sniff(fileobj, filename=filename)
    mapping = auto_map(sniffed.headers, sniffed.preview, custom_fields=[])
    column = next((int(k) for k, target in mapping.items() if target == "email"), None)
    if column is None:
        raise FileRejected("No column of email addresses was found in this file.")
    report = FileRemoval(email_column=sniffed.headers[column])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE removal_emails (email text) ON COMMIT DROP")
        fileobj.seek(0)
        with cursor.cursor.copy("COPY removal_emails (email) FROM STDIN") as copy:
            for _line, cells in iter_rows(fileobj, sniffed.settings):
                report.rows += 1
                email = _normalized_or_none(cells[column] if column < len(cells) else "")
                if email is None:
                    report.invalid += 1
                else:
                    copy.write_row((email,))
        cursor.execute(
            """SELECT count(DISTINCT e.email), count(DISTINCT c.id) FILTER (WHERE m.contact_id
                      IS NULL AND c.id IS NOT NULL)
               FROM removal_emails e
               LEFT JOIN contacts_contact c ON c.email_normalized = e.email
               LEFT JOIN segments_listmembership m
                      ON m.contact_id = c.id AND m.static_list_id = %s
               WHERE c.id IS NULL OR m.contact_id IS NULL""",
            [static_list.pk],
        )
        missing, report.not_members = cursor.fetchone()
        report.unknown = missing - report.not_members
        report.removed = remove_contacts_from_list(
            static_list=static_list, source="csv", actor=actor, params=[],
            ids_sql="SELECT c.id FROM contacts_contact c "
                    "JOIN removal_emails e ON e.email = c.email_normalized",
        )
    return report


def _normalized_or_none(raw: str) -> str | None:
    from contacts.emails import InvalidEmail, normalize_email

    try:
        return normalize_email(raw).normalized
    except InvalidEmail:
        return None
