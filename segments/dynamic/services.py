"""Writes to dynamic segments, and rule previews.

A segment is a rule tree (segments.rules public shape) plus an exclusion tree. Saving checks
both with compile_rules (a bad rule → ValidationError carrying the RuleError message, which
names the rule) and refuses a segment that would refer to itself through others. Membership
is materialised by segments.dynamic.refresh; create/update ask for a refresh in the background
(after commit), `refresh_now` does it in the caller.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from contacts.models import Contact
from penguinleads.realtime import push
from segments.models import CampaignTarget, Segment, SegmentRefresh
from segments.rules import (
    RuleError,
    check_no_cycle,
    compile_rules,
    referenced_lists,
    referenced_segments,
)
from segments.services import clean_description, clean_list_name

PREVIEW_MAX_ROWS = 100


def clean_segment_name(name: object) -> str:
    """The name as stored (trimmed, inner whitespace collapsed). Raises ValidationError."""
    try:
        return clean_list_name(name)
    except ValidationError as exc:
        raise ValidationError(str(exc.messages[0]).replace("list", "segment"),
                              code=exc.code) from None


def clean_tree(tree: Any) -> Any:
    """`tree` as stored: None or {} → the empty tree {"op": "and", "rules": []} (as rules it
    matches every contact, as an exclusion nobody); anything else is left to compile_rules."""
    if tree is None or tree == {}:
        return {"op": "and", "rules": []}
    return tree


def _require_condition(rules: Any) -> None:
    if isinstance(rules, dict) and rules.get("rules") == []:
        raise ValidationError("rules: A segment needs at least one condition.",
                              code="invalid_rules")


def check_rules(*, rules: Any, exclude: Any = None, segment_id: int | None = None):
    """Compile `rules` minus `exclude` and refuse a cycle through `segment_id`. Returns the Q.
    Raises ValidationError(code="invalid_rules") whose message is the RuleError's (it names the
    rule, e.g. ``rules[1].rules[0]: Unknown field 'emial'.``). Reads only."""
    try:
        q = compile_rules(rules, exclude=exclude)
        check_no_cycle(segment_id=segment_id, rules=rules, exclude=exclude)
    except RuleError as exc:
        raise ValidationError(str(exc), code="invalid_rules") from None
    return q


def _check_name_free(name: str, *, exclude_pk: int | None = None) -> None:
    taken = Segment.objects.filter(name__iexact=name)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationError(f"A segment named “{name}” already exists.", code="duplicate_name")


def _save(segment: Segment) -> Segment:
    try:
        with transaction.atomic():
            segment.save()
    except IntegrityError:
        raise ValidationError(
            f"A segment named “{segment.name}” already exists.", code="duplicate_name"
        ) from None
    return segment


def _push(segment_id: int, action: str) -> None:
    push(schema_name=connection.schema_name, topic="segments",
         event={"action": action, "segment_id": segment_id})


def create_segment(*, name: str, description: str = "", rules: Any, exclude: Any = None,
                   actor=None) -> Segment:
    """Create a segment and ask for its first refresh (a django-q2 job after commit; members
    appear when it ran). Side effects: inserts a Segment, enqueues a task, pushes "segments".
    Raises ValidationError (name: empty/too long/taken; rules: code "invalid_rules")."""
    name = clean_segment_name(name)
    rules, exclude = clean_tree(rules), clean_tree(exclude)
    check_rules(rules=rules, exclude=exclude)
    _require_condition(rules)
    _check_name_free(name)
    segment = _save(Segment(
        name=name, description=clean_description(description), rules=rules, exclude=exclude,
        created_by=actor if getattr(actor, "pk", None) else None,
    ))
    request_refresh(segment=segment)
    _push(segment.pk, "created")
    return segment


def update_segment(*, segment: Segment, name: str, description: str, rules: Any,
                   exclude: Any) -> Segment:
    """Rename/describe a segment and replace its rules; when the rules changed, ask for a
    refresh (after commit). Side effects: updates the Segment, may enqueue a task, pushes.
    Raises ValidationError as create_segment, also for a rule that makes a cycle."""
    name = clean_segment_name(name)
    rules, exclude = clean_tree(rules), clean_tree(exclude)
    check_rules(rules=rules, exclude=exclude, segment_id=segment.pk)
    _require_condition(rules)
    _check_name_free(name, exclude_pk=segment.pk)
    changed = (rules, exclude) != (segment.rules, segment.exclude)
    segment.name, segment.description = name, clean_description(description)
    segment.rules, segment.exclude = rules, exclude
    _save(segment)
    if changed:
        request_refresh(segment=segment)
    _push(segment.pk, "updated")
    return segment


def segments_using(segment: Segment) -> list[Segment]:
    """Other segments whose rules or exclusions name `segment` directly."""
    return [s for s in Segment.objects.exclude(pk=segment.pk)
            if segment.pk in referenced_segments(s.rules) | referenced_segments(s.exclude)]


def segments_using_list(list_id: int) -> list[Segment]:
    """The segments whose rules or exclusions name static list `list_id`."""
    return [s for s in Segment.objects.all()
            if list_id in referenced_lists(s.rules) | referenced_lists(s.exclude)]


def delete_segment(*, segment: Segment) -> int:
    """Delete a segment with its memberships and refresh history (contacts stay). Refused
    (ValidationError, code "in_use") while a campaign targets or excludes it or another
    segment's rules name it: removing it would silently change who they reach. Returns how
    many memberships went. Side effects: deletes rows, pushes "segments"."""
    campaigns = sorted({t.campaign.name for t in CampaignTarget.objects.filter(
        segment=segment).select_related("campaign")})
    if campaigns:
        raise ValidationError(
            f"The campaign “{campaigns[0]}” uses this segment; remove it from the campaign's "
            "audience first.", code="in_use")
    users = segments_using(segment)
    if users:
        raise ValidationError(
            f"The segment “{users[0].name}” refers to this segment in its rules; change it "
            "first.", code="in_use")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM segments_segment WHERE id = %s FOR UPDATE", [segment.pk])
        cursor.execute("DELETE FROM segments_segmentmembership WHERE segment_id = %s",
                       [segment.pk])
        removed = cursor.rowcount
        SegmentRefresh.objects.filter(segment_id=segment.pk).delete()
        Segment.objects.filter(pk=segment.pk).delete()
    _push(segment.pk, "deleted")
    return removed


def count_rules(*, rules: Any, exclude: Any = None) -> int:
    """The exact number of contacts matching `rules` and not `exclude`: one SQL count.
    Raises ValidationError(code="invalid_rules"). Reads only."""
    q = check_rules(rules=clean_tree(rules), exclude=clean_tree(exclude))
    return Contact.objects.filter(q).order_by().count()


def preview_rules(*, rules: Any, exclude: Any = None, limit: int = 10
                  ) -> tuple[int, list[Contact]]:
    """(exact count, the newest `limit` matching contacts — at most PREVIEW_MAX_ROWS) for the
    live preview. Raises ValidationError(code="invalid_rules"). Reads only."""
    q = check_rules(rules=clean_tree(rules), exclude=clean_tree(exclude))
    matching = Contact.objects.filter(q)
    count = matching.order_by().count()
    limit = max(0, min(int(limit), PREVIEW_MAX_ROWS))
    rows = list(matching.order_by("-id")[:limit]) if count and limit else []
    return count, rows


def request_refresh(*, segment: Segment) -> None:
    """Enqueue a full refresh of `segment` (django-q2, after commit). Side effects: a task."""
    from segments.dynamic.tasks import enqueue

    enqueue("segments.dynamic.tasks.refresh_segment_task", segment.pk)


def refresh_now(*, segment: Segment) -> SegmentRefresh:
    """Refresh `segment` in this process (see segments.dynamic.refresh.refresh_segment)."""
    from segments.dynamic.refresh import refresh_segment

    return refresh_segment(segment=segment)
