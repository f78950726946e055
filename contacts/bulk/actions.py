"""The bulk actions themselves: checking their options (`prepare`) and applying one chunk of
locked contact ids (`apply`), set-based, with the contacts' history in the same statements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection

from contacts.bulk.hooks import snapshot_before_delete
from contacts.models import BulkKind, BulkOperation, ContactStatus, Tag
from contacts.services import clean_tag_names, ensure_tags, purge_contacts

PAST_TENSE = {
    BulkKind.ADD_TO_LIST: "added to the list",
    BulkKind.REMOVE_FROM_LIST: "removed from the list",
    BulkKind.ADD_TO_CAMPAIGN: "added to the campaign",
    BulkKind.ADD_TAGS: "tagged",
    BulkKind.REMOVE_TAGS: "untagged",
    BulkKind.CHANGE_STATUS: "changed",
    BulkKind.DELETE: "deleted",
}
ALREADY = {
    BulkKind.ADD_TO_LIST: "in the list",
    BulkKind.REMOVE_FROM_LIST: "not in the list",
    BulkKind.ADD_TO_CAMPAIGN: "in the campaign",
    BulkKind.ADD_TAGS: "had these tags",
    BulkKind.REMOVE_TAGS: "without these tags",
    BulkKind.CHANGE_STATUS: "had this status",
    BulkKind.DELETE: "gone",
}
LIST_GONE = "That list no longer exists; it may have been deleted."
CAMPAIGN_GONE = "That campaign no longer exists or has finished."


# --- options ----------------------------------------------------------------------------------


def prepare(*, kind: str, options: dict[str, Any], user) -> dict[str, Any]:
    """The checked parameters of an action from the form's `options`. Side effects: creates
    the new list ("add to a new list") or the new tags ("add tags"). Raises ValidationError."""
    return PREPARE[kind](options, user)


def _prepare_add_to_list(options: dict[str, Any], user) -> dict[str, Any]:
    from segments import services as lists

    name = str(options.get("new_list") or "").strip()
    if name:
        static_list = lists.get_or_create_list(name=name, actor=user)
    else:
        static_list = _static_list(options.get("list_id"))
    return {"list_id": static_list.pk, "list_name": static_list.name}


def _prepare_remove_from_list(options: dict[str, Any], user) -> dict[str, Any]:
    static_list = _static_list(options.get("list_id"))
    return {"list_id": static_list.pk, "list_name": static_list.name}


def _static_list(value: Any):
    from segments.models import StaticList

    if value in (None, ""):
        raise ValidationError("Choose a list.")
    if not str(value).isdigit():
        raise ValidationError(LIST_GONE)
    static_list = StaticList.objects.filter(pk=int(value), campaign_owned=False).first()
    if static_list is None:
        raise ValidationError(LIST_GONE)
    return static_list


def _prepare_add_to_campaign(options: dict[str, Any], user) -> dict[str, Any]:
    from segments.selectors import open_campaigns

    value = options.get("campaign_id")
    if value in (None, ""):
        raise ValidationError("Choose a campaign.")
    campaign = open_campaigns().filter(pk=int(value)).first() if str(value).isdigit() else None
    if campaign is None:
        raise ValidationError(CAMPAIGN_GONE)
    return {"campaign_id": campaign.pk, "campaign_name": campaign.name}


def _prepare_tags(options: dict[str, Any], user, *, create: bool) -> dict[str, Any]:
    names = clean_tag_names(options.get("tags") or "")
    if not names:
        raise ValidationError("Enter at least one tag.")
    if create:
        tags = ensure_tags(names)
    else:
        wanted = {n.lower() for n in names}
        tags = [t for t in Tag.objects.all() if t.name.lower() in wanted]
        if not tags:
            raise ValidationError("No contact has these tags; nothing to remove.")
    return {"tag_ids": [t.pk for t in tags], "tag_names": [t.name for t in tags]}


def _prepare_status(options: dict[str, Any], user) -> dict[str, Any]:
    status = options.get("status")
    if status not in ContactStatus.values:
        raise ValidationError("Choose a status.")
    return {"status": status}


PREPARE: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]] = {
    BulkKind.ADD_TO_LIST: _prepare_add_to_list,
    BulkKind.REMOVE_FROM_LIST: _prepare_remove_from_list,
    BulkKind.ADD_TO_CAMPAIGN: _prepare_add_to_campaign,
    BulkKind.ADD_TAGS: lambda options, user: _prepare_tags(options, user, create=True),
    BulkKind.REMOVE_TAGS: lambda options, user: _prepare_tags(options, user, create=False),
    BulkKind.CHANGE_STATUS: _prepare_status,
    BulkKind.DELETE: lambda options, user: {},
}


# --- one chunk --------------------------------------------------------------------------------


MEMBERSHIP_KINDS = (BulkKind.ADD_TO_LIST, BulkKind.REMOVE_FROM_LIST, BulkKind.ADD_TO_CAMPAIGN)


def apply(op: BulkOperation, ids: list[int]) -> int:
    """Apply an action that changes contacts to `ids` (existing contacts, locked by the
    caller, inside its transaction). Returns how many contacts it changed. Raises
    BulkStopped."""
    return APPLY[op.kind](op, ids)


def _ids_sql(ids: list[int]) -> tuple[str, list]:
    return "SELECT unnest(%s::bigint[]) AS id", [ids]


def _list_or_stop(op: BulkOperation):
    from segments.models import StaticList

    static_list = StaticList.objects.filter(pk=op.params["list_id"]).first()
    if static_list is None:
        raise _list_deleted(op)
    return static_list


def _list_deleted(op: BulkOperation) -> Exception:
    from contacts.bulk.services import BulkStopped

    return BulkStopped(
        f"The list “{op.params.get('list_name', '')}” was deleted while this action ran; "
        f"{op.changed:,} contacts were done before that."
    )


def apply_to_range(op: BulkOperation, ids_sql: str, params: list) -> int:
    """Apply a membership action (MEMBERSHIP_KINDS) to the contacts `ids_sql` selects — a
    chunk of the selection as an id range, so no ids travel through Python. Returns how many
    memberships changed. Raises BulkStopped."""
    return APPLY_TO_RANGE[op.kind](op, ids_sql, params)


def _add_to_list(op: BulkOperation, ids_sql: str, params: list) -> int:
    return _membership(op, ids_sql, params, "add_contacts_to_list")


def _remove_from_list(op: BulkOperation, ids_sql: str, params: list) -> int:
    return _membership(op, ids_sql, params, "remove_contacts_from_list")


def _membership(op: BulkOperation, ids_sql: str, params: list, function: str) -> int:
    from segments import services as lists

    static_list = _list_or_stop(op)
    try:
        return getattr(lists, function)(
            static_list=static_list, ids_sql=ids_sql, params=params, source="bulk",
            source_ref=op.pk, actor=op.created_by, record=False,
        )
    except lists.ListGone:  # deleted between our look and the write
        raise _list_deleted(op) from None


def _add_to_campaign(op: BulkOperation, ids_sql: str, params: list) -> int:
    from contacts.bulk.services import BulkStopped
    from segments import services as lists
    from segments.models import Campaign

    campaign = Campaign.objects.filter(pk=op.params["campaign_id"]).first()
    if campaign is None:
        raise BulkStopped(CAMPAIGN_GONE)
    return lists.add_contacts_to_campaign(
        campaign=campaign, ids_sql=ids_sql, params=params, source="bulk",
        actor=op.created_by, record=False,
    )


def record_membership_change(op: BulkOperation) -> None:
    """Membership actions write their chunks unrecorded: the list's analytics get the whole
    operation as one change when it ends (or stops part-way)."""
    from segments import services as lists
    from segments.models import Campaign, StaticList

    if not op.changed or op.kind not in MEMBERSHIP_KINDS:
        return
    if op.kind == BulkKind.ADD_TO_CAMPAIGN:
        campaign = Campaign.objects.filter(pk=op.params["campaign_id"]).first()
        static_list = campaign.direct_list if campaign else None
    else:
        static_list = StaticList.objects.filter(pk=op.params["list_id"]).first()
    if static_list is None:
        return  # deleted: nothing left to record on
    counts = {"removed" if op.kind == BulkKind.REMOVE_FROM_LIST else "added": op.changed}
    try:
        lists.record_list_change(static_list=static_list, source="bulk", source_ref=op.pk,
                                 actor=op.created_by, **counts)
    except lists.ListGone:
        pass


# Tag names of a contact as it was at the start of the statement, sorted as the UI does.
_TAG_NAMES = """coalesce((SELECT jsonb_agg(g.name ORDER BY lower(g.name))
    FROM contacts_contacttag ct JOIN contacts_tag g ON g.id = ct.tag_id
    WHERE ct.contact_id = {id}{extra}), '[]'::jsonb)"""
_TOUCH_AND_RECORD = """
    touched AS (
        UPDATE contacts_contact c SET updated_at = now(), updated_by_id = %(actor)s
        FROM per WHERE c.id = per.contact_id RETURNING c.id, c.email
    ), history AS (
        INSERT INTO contacts_contactchange
            (contact_id, contact_email, action, changes, actor_id, source, created_at)
        SELECT t.id, t.email, 'updated',
               jsonb_build_object('tags', jsonb_build_array({old}, {new})),
               %(actor)s, %(source)s, now()
        FROM touched t JOIN per ON per.contact_id = t.id
    )
    SELECT count(*) FROM touched"""


def _tag_statement(op: BulkOperation, ids: list[int], write: str, new: str) -> int:
    old = _TAG_NAMES.format(id="t.id", extra="")
    sql = f"WITH changed AS ({write}), per AS (SELECT contact_id, array_agg(tag_id) tag_ids " \
          f"FROM changed GROUP BY contact_id), " + _TOUCH_AND_RECORD.format(old=old, new=new)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": ids, "tags": op.params["tag_ids"],
                             "actor": op.created_by_id, "source": f"bulk:{op.pk}"})
        return cursor.fetchone()[0]


def _add_tags(op: BulkOperation, ids: list[int]) -> int:
    write = """INSERT INTO contacts_contacttag (contact_id, tag_id, added_at)
        SELECT c, t, now() FROM unnest(%(ids)s::bigint[]) c
        CROSS JOIN unnest(%(tags)s::bigint[]) t
        JOIN contacts_tag g ON g.id = t
        ORDER BY c, t
        ON CONFLICT (contact_id, tag_id) DO NOTHING RETURNING contact_id, tag_id"""
    new = """(SELECT jsonb_agg(n ORDER BY lower(n)) FROM (
        SELECT g.name n FROM contacts_contacttag ct JOIN contacts_tag g ON g.id = ct.tag_id
        WHERE ct.contact_id = t.id
        UNION SELECT g.name FROM contacts_tag g WHERE g.id = ANY(per.tag_ids)) x)"""
    return _tag_statement(op, ids, write, new)


def _remove_tags(op: BulkOperation, ids: list[int]) -> int:
    write = """DELETE FROM contacts_contacttag
        WHERE contact_id = ANY(%(ids)s::bigint[]) AND tag_id = ANY(%(tags)s::bigint[])
        RETURNING contact_id, tag_id"""
    new = _TAG_NAMES.format(id="t.id", extra=" AND NOT ct.tag_id = ANY(per.tag_ids)")
    return _tag_statement(op, ids, write, new)


def _change_status(op: BulkOperation, ids: list[int]) -> int:
    sql = """WITH old AS (
            SELECT id, status FROM contacts_contact
            WHERE id = ANY(%(ids)s::bigint[]) AND status <> %(status)s
        ), changed AS (
            UPDATE contacts_contact c
            SET status = %(status)s, updated_at = now(), updated_by_id = %(actor)s
            FROM old WHERE c.id = old.id RETURNING c.id, c.email, old.status AS before
        ), history AS (
            INSERT INTO contacts_contactchange
                (contact_id, contact_email, action, changes, actor_id, source, created_at)
            SELECT id, email, 'updated',
                   jsonb_build_object('status', jsonb_build_array(before, %(status)s::text)),
                   %(actor)s, %(source)s, now()
            FROM changed
        )
        SELECT count(*) FROM changed"""
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": ids, "status": op.params["status"],
                             "actor": op.created_by_id, "source": f"bulk:{op.pk}"})
        return cursor.fetchone()[0]


def _delete(op: BulkOperation, ids: list[int]) -> int:
    from segments.services import list_ids_sql

    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO contacts_deletedcontactsnapshot
                    (operation_id, contact_id, email_normalized, data, tag_ids, list_ids)
                SELECT %s, c.id, c.email_normalized, to_jsonb(c),
                       ARRAY(SELECT ct.tag_id FROM contacts_contacttag ct
                             WHERE ct.contact_id = c.id ORDER BY ct.tag_id),
                       {list_ids_sql("c.id")}
                FROM contacts_contact c WHERE c.id = ANY(%s::bigint[])
                ON CONFLICT (operation_id, contact_id) DO NOTHING""",
            [op.pk, ids],
        )
    # Other apps' data of these contacts (engagement events, scores) goes with them: let
    # them keep a copy for the undo first.
    snapshot_before_delete(operation_id=op.pk, contact_ids=ids)
    sql, params = _ids_sql(ids)
    return purge_contacts(ids_sql=sql, params=params, actor_id=op.created_by_id,
                          source=f"bulk:{op.pk}")


APPLY_TO_RANGE: dict[str, Callable[[BulkOperation, str, list], int]] = {
    BulkKind.ADD_TO_LIST: _add_to_list,
    BulkKind.REMOVE_FROM_LIST: _remove_from_list,
    BulkKind.ADD_TO_CAMPAIGN: _add_to_campaign,
}
APPLY: dict[str, Callable[[BulkOperation, list[int]], int]] = {
    BulkKind.ADD_TAGS: _add_tags,
    BulkKind.REMOVE_TAGS: _remove_tags,
    BulkKind.CHANGE_STATUS: _change_status,
    BulkKind.DELETE: _delete,
}
