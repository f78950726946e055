"""Lead scores, computed set-based from the events.

Rules (per tenant, ScoreSettings): opened +open_points, clicked +click_points, replied
+reply_points; an event in the last `recent_days` counts `recent_factor` times; the total is
rounded to an integer. Opens of one message (same message_id, or no message_id) by one contact
count once per burst: an open counts only when the contact's previous open of that message is at
least an hour older (so a link scanner opening a message ten times in a minute gives one open).
Bands: hot from `hot_from`, warm from `warm_from`, else cold. An active manual override (no
expiry, or expiry in the future) replaces the computed score; its band follows the override.
Every change of score or band is recorded as a ScoreChange, every band change as a
score.band_changed webhook event; open contact tables get the new scores live.
score_breakdown explains a contact's computed score with the same rules (one query)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from contacts.changes import contacts_changed
from engagement.models import ContactScore, EventType, ScoreBand, ScoreSettings
from penguinleads.realtime import push
from webhooks.services import listening_endpoints, send_recorded

OPEN_BURST = "1 hour"
BAND_CHANGED = "score.band_changed"  # outbound webhook kind
MAX_SCORE = 1_000_000  # for overrides; computed scores are far below
LIVE_CHUNK = 500  # contacts per live "scores" push to open contact tables
LIVE_MAX = 5000  # a recompute of more contacts (the nightly one) pushes nothing

# The rules, in one place for the recompute and the breakdown so the two never disagree: per
# scoring event, whether it counts (an open counts unless the contact opened the same message
# less than OPEN_BURST before), whether it is recent, and its value (weight × recency factor).
_RATED_EVENTS = """
ev AS (
    SELECT e.contact_id, e.type, e.occurred_at,
           e.occurred_at - lag(e.occurred_at) OVER (
               PARTITION BY e.contact_id, e.type, e.message_id ORDER BY e.occurred_at, e.id
           ) AS gap
    FROM engagement_emailevent e
    WHERE {event_scope} AND e.type IN ('opened', 'clicked', 'replied')
), rated AS (
    SELECT contact_id, type, occurred_at >= %(recent_from)s AS recent,
           type <> 'opened' OR gap IS NULL OR gap >= interval '{burst}' AS counts,
           CASE type WHEN 'opened' THEN %(open)s WHEN 'clicked' THEN %(click)s
                     ELSE %(reply)s END
           * CASE WHEN occurred_at >= %(recent_from)s THEN %(factor)s ELSE 1 END AS value
    FROM ev
)"""

# {scope} picks the contacts: "e.contact_id = ANY(%(ids)s)" or "TRUE" (every contact that has a
# score or an event). Old values are read from the statement's snapshot (the pre-image), new
# ones from RETURNING, and their difference becomes ScoreChange rows, all in one statement; a
# band change also becomes a score.band_changed delivery per listening endpoint (%(endpoints)s,
# none: that part does not run). Its one result row: how many changed, the new (id, score,
# band) of the changed contacts when %(live)s, and the ids of the deliveries recorded.
_RECOMPUTE_SQL = """
WITH """ + _RATED_EVENTS + """, points AS (
    SELECT contact_id, round(sum(CASE WHEN counts THEN value ELSE 0 END))::int AS computed
    FROM rated GROUP BY contact_id
), targets AS (
    SELECT id AS contact_id FROM contacts_contact WHERE {contact_scope}
), old AS (
    SELECT s.* FROM engagement_contactscore s JOIN targets t USING (contact_id)
), fresh AS (
    SELECT t.contact_id, coalesce(p.computed, 0) AS computed,
           CASE WHEN o.override_score IS NOT NULL
                     AND (o.override_until IS NULL OR o.override_until > %(now)s)
                THEN o.override_score ELSE coalesce(p.computed, 0) END AS effective,
           o.override_score IS NOT NULL AND o.override_until <= %(now)s AS expired
    FROM targets t LEFT JOIN points p USING (contact_id) LEFT JOIN old o USING (contact_id)
    WHERE p.contact_id IS NOT NULL OR o.contact_id IS NOT NULL
), up AS (
    INSERT INTO engagement_contactscore AS s
        (contact_id, computed_score, score, band, computed_at, override_score,
         override_reason, override_until)
    SELECT contact_id, computed, effective,
           CASE WHEN effective >= %(hot)s THEN 'hot' WHEN effective >= %(warm)s THEN 'warm'
                ELSE 'cold' END,
           %(now)s, NULL, '', NULL
    FROM fresh
    ON CONFLICT (contact_id) DO UPDATE SET
        computed_score = EXCLUDED.computed_score, score = EXCLUDED.score,
        band = EXCLUDED.band, computed_at = EXCLUDED.computed_at,
        override_score = CASE WHEN s.override_until <= %(now)s THEN NULL
                              ELSE s.override_score END,
        override_reason = CASE WHEN s.override_until <= %(now)s THEN ''
                               ELSE s.override_reason END,
        override_until = CASE WHEN s.override_until <= %(now)s THEN NULL
                              ELSE s.override_until END
    WHERE (s.computed_score, s.score, s.band) IS DISTINCT FROM
          (EXCLUDED.computed_score, EXCLUDED.score, EXCLUDED.band)
       OR s.override_until <= %(now)s
    RETURNING s.contact_id, s.score, s.band
), changes AS (
    INSERT INTO engagement_scorechange
        (contact_id, old_score, new_score, old_band, new_band, reason, created_at)
    SELECT up.contact_id, coalesce(o.score, 0), up.score, coalesce(o.band, 'cold'), up.band,
           CASE WHEN f.expired THEN 'override expired' ELSE %(reason)s END, %(now)s
    FROM up LEFT JOIN old o USING (contact_id) JOIN fresh f USING (contact_id)
    WHERE (up.score, up.band) IS DISTINCT FROM (coalesce(o.score, 0), coalesce(o.band, 'cold'))
    RETURNING contact_id, old_band, new_band, new_score
), recorded AS (
    INSERT INTO webhooks_delivery
        (endpoint_id, kind, payload, event_id, status, attempts, next_attempt_at, last_error,
         last_response_excerpt, created_at)
    SELECT e.id, %(kind)s,
           jsonb_build_object('contact', jsonb_build_object('id', c.id, 'email', c.email),
                              'from', ch.old_band, 'to', ch.new_band, 'score', ch.new_score),
           gen_random_uuid(), 'pending', 0, %(now)s, '', '', %(now)s
    FROM changes ch JOIN contacts_contact c ON c.id = ch.contact_id
         CROSS JOIN unnest(%(endpoints)s::bigint[]) AS e(id)
    WHERE cardinality(%(endpoints)s::bigint[]) > 0 AND ch.old_band <> ch.new_band
    RETURNING id
)
SELECT (SELECT count(*) FROM changes),
       (SELECT coalesce(jsonb_agg(jsonb_build_array(contact_id, new_score, new_band)
                                  ORDER BY contact_id), '[]')
        FROM changes WHERE %(live)s),
       (SELECT coalesce(array_agg(id ORDER BY id), '{{}}') FROM recorded)
"""

# The breakdown of one contact's computed score by event type, from the same rated events.
_BREAKDOWN_SQL = """
WITH """ + _RATED_EVENTS + """
SELECT type, count(*), count(*) FILTER (WHERE counts),
       count(*) FILTER (WHERE counts AND recent),
       coalesce(sum(value) FILTER (WHERE counts AND recent), 0),
       coalesce(sum(value) FILTER (WHERE counts AND NOT recent), 0),
       round(sum(sum(CASE WHEN counts THEN value ELSE 0 END)) OVER ())::int
FROM rated GROUP BY type
"""


def score_settings() -> ScoreSettings:
    """The tenant's scoring rules (an unsaved default row when it has none)."""
    return ScoreSettings.objects.order_by("pk").first() or ScoreSettings()


def band_for(score: int, rules: ScoreSettings) -> str:
    if score >= rules.hot_from:
        return ScoreBand.HOT
    if score >= rules.warm_from:
        return ScoreBand.WARM
    return ScoreBand.COLD


def _rule_params(rules: ScoreSettings, now) -> dict[str, Any]:
    return {
        "open": rules.open_points, "click": rules.click_points, "reply": rules.reply_points,
        "factor": rules.recent_factor,
        "recent_from": now - timezone.timedelta(days=rules.recent_days),
    }


def recompute_scores(*, contact_ids: list[int] | None, reason: str) -> int:
    """Recompute the scores of `contact_ids` (None: every contact of the tenant with events or
    a score) in one statement; clears expired overrides. Side effects: upserts ContactScore
    rows, inserts a ScoreChange (with `reason`) per changed score or band, records a
    score.band_changed webhook delivery per band change and listening endpoint (sent after
    commit) and, for up to LIVE_MAX named contacts, pushes their new scores to open contact
    tables (after commit). Returns how many scores or bands changed."""
    if contact_ids is not None and not contact_ids:
        return 0
    rules = score_settings()
    now = timezone.now()
    if contact_ids is None:
        event_scope, contact_scope = "TRUE", "TRUE"
    else:
        event_scope = "e.contact_id = ANY(%(ids)s)"
        contact_scope = "id = ANY(%(ids)s)"
    sql = _RECOMPUTE_SQL.format(
        event_scope=event_scope, contact_scope=contact_scope, burst=OPEN_BURST
    )
    ids = sorted(set(contact_ids or []))
    params = {
        **_rule_params(rules, now), "ids": ids, "hot": rules.hot_from, "warm": rules.warm_from,
        "now": now, "reason": reason[:300],
        "live": contact_ids is not None and len(ids) <= LIVE_MAX,
        "kind": BAND_CHANGED, "endpoints": listening_endpoints(BAND_CHANGED),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        changed, live, delivery_ids = cursor.fetchone()
    # Django reads jsonb from a raw cursor as text.
    _push_scores(json.loads(live) if isinstance(live, str) else live)
    send_recorded(delivery_ids)
    return changed


def _push_scores(rows: list[list]) -> None:
    """Tell open contact tables of this tenant the new [score, band] of changed contacts, by
    id, LIVE_CHUNK contacts per message."""
    for start in range(0, len(rows), LIVE_CHUNK):
        chunk = rows[start : start + LIVE_CHUNK]
        push(schema_name=connection.schema_name, topic="contacts", event={
            "action": "scores", "scores": {str(pk): [score, band] for pk, score, band in chunk},
        })


@dataclass
class BreakdownLine:
    """Points of one event type: `events` stored, `counted` after folding repeated opens,
    of which `recent` in the recency window (weighted) and `older`."""

    type: str
    label: str
    events: int = 0
    counted: int = 0
    recent: int = 0
    recent_points: float = 0.0
    older_points: float = 0.0

    @property
    def older(self) -> int:
        return self.counted - self.recent

    @property
    def points(self) -> float:
        return self.recent_points + self.older_points


@dataclass
class ScoreBreakdown:
    lines: list[BreakdownLine]
    total: int  # equals the computed score (recomputed now)
    rules: ScoreSettings = field(repr=False)


SCORING_TYPES = ((EventType.OPENED, "Opens"), (EventType.CLICKED, "Clicks"),
                 (EventType.REPLIED, "Replies"))


def score_breakdown(*, contact_id: int) -> ScoreBreakdown:
    """Which events give `contact_id` how many points, per event type, as of now: one query
    over the same rules as recompute_scores. No side effects."""
    rules = score_settings()
    sql = _BREAKDOWN_SQL.format(event_scope="e.contact_id = ANY(%(ids)s)", burst=OPEN_BURST)
    with connection.cursor() as cursor:
        cursor.execute(sql, {**_rule_params(rules, timezone.now()), "ids": [contact_id]})
        rows = cursor.fetchall()
    lines = {kind: BreakdownLine(type=kind, label=label) for kind, label in SCORING_TYPES}
    for kind, events, counted, recent, recent_points, older_points, _total in rows:
        lines[kind] = BreakdownLine(type=kind, label=lines[kind].label, events=events,
                                    counted=counted, recent=recent,
                                    recent_points=float(recent_points),
                                    older_points=float(older_points))
    total = rows[0][-1] if rows else 0  # the same on every row: a window over all of them
    return ScoreBreakdown(lines=list(lines.values()), total=total, rules=rules)


def expired_override_ids() -> list[int]:
    return list(
        ContactScore.objects.filter(override_until__lte=timezone.now())
        .values_list("contact_id", flat=True)
    )


@transaction.atomic
def set_score_override(
    *, contact, score: int, reason: str, until=None, actor=None
) -> ContactScore:
    """Pin `contact`'s score to `score` (0…MAX_SCORE, with `reason`, until `until` or for
    good). Side effects: upserts its ContactScore, records a ScoreChange (and what
    recompute_scores does on a change). `actor` is named in the reason. Raises
    ValidationError ({field: [message]}) for a bad score, a missing reason or a past expiry."""
    reason = " ".join(str(reason or "").split())[:200]
    errors: dict[str, list[str]] = {}
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= MAX_SCORE:
        errors["score"] = [f"The score must be a whole number from 0 to {MAX_SCORE:,}."]
    if not reason:
        errors["reason"] = ["Give a reason for the override."]
    if until is not None and until <= timezone.now():
        errors["until"] = ["The override must end in the future."]
    if errors:
        raise ValidationError(errors)
    row, _ = ContactScore.objects.select_for_update().get_or_create(contact=contact)
    row.override_score, row.override_reason, row.override_until = score, reason, until
    row.save(update_fields=["override_score", "override_reason", "override_until"])
    who = f" by {actor.email}" if actor is not None else ""
    recompute_scores(contact_ids=[contact.pk], reason=f"override{who}: {reason}")
    contacts_changed(contact_ids=[contact.pk])  # segments on score / score_band
    row.refresh_from_db()
    return row


@transaction.atomic
def clear_score_override(*, contact, actor=None) -> ContactScore | None:
    """Remove `contact`'s override: its score returns to the computed one. Side effects:
    updates its ContactScore, records a ScoreChange when the score or band changes."""
    updated = ContactScore.objects.filter(contact=contact).update(
        override_score=None, override_reason="", override_until=None
    )
    if not updated:
        return None
    who = f" by {actor.email}" if actor is not None else ""
    recompute_scores(contact_ids=[contact.pk], reason=f"override removed{who}")
    contacts_changed(contact_ids=[contact.pk])  # segments on score / score_band
    return ContactScore.objects.get(contact=contact)
