"""Lead scores, computed set-based from the events.

Rules (per tenant, ScoreSettings): opened +open_points, clicked +click_points, replied
+reply_points; an event in the last `recent_days` counts `recent_factor` times; the total is
rounded to an integer. Opens of one message (same message_id, or no message_id) by one contact
count once per burst: an open counts only when the contact's previous open of that message is at
least an hour older (so a link scanner opening a message ten times in a minute gives one open).
Bands: hot from `hot_from`, warm from `warm_from`, else cold. An active manual override (no
expiry, or expiry in the future) replaces the computed score; its band follows the override.
Every change of score or band is recorded as a ScoreChange."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from engagement.models import ContactScore, ScoreBand, ScoreSettings

OPEN_BURST = "1 hour"

# {scope} picks the contacts: "e.contact_id = ANY(%(ids)s)" or "TRUE" (every contact that has a
# score or an event). Old values are read from the statement's snapshot (the pre-image), new
# ones from RETURNING, and their difference becomes ScoreChange rows, all in one statement.
_RECOMPUTE_SQL = """
WITH ev AS (
    SELECT e.contact_id, e.type, e.occurred_at,
           e.occurred_at - lag(e.occurred_at) OVER (
               PARTITION BY e.contact_id, e.type, e.message_id ORDER BY e.occurred_at, e.id
           ) AS gap
    FROM engagement_emailevent e
    WHERE {event_scope} AND e.type IN ('opened', 'clicked', 'replied')
), points AS (
    SELECT contact_id, round(sum(
        CASE type WHEN 'opened' THEN CASE WHEN gap IS NULL OR gap >= interval '{burst}'
                                          THEN %(open)s ELSE 0 END
                  WHEN 'clicked' THEN %(click)s ELSE %(reply)s END
        * CASE WHEN occurred_at >= %(recent_from)s THEN %(factor)s ELSE 1 END
    ))::int AS computed
    FROM ev GROUP BY contact_id
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
)
INSERT INTO engagement_scorechange
    (contact_id, old_score, new_score, old_band, new_band, reason, created_at)
SELECT up.contact_id, coalesce(o.score, 0), up.score, coalesce(o.band, 'cold'), up.band,
       CASE WHEN f.expired THEN 'override expired' ELSE %(reason)s END, %(now)s
FROM up LEFT JOIN old o USING (contact_id) JOIN fresh f USING (contact_id)
WHERE (up.score, up.band) IS DISTINCT FROM (coalesce(o.score, 0), coalesce(o.band, 'cold'))
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


def recompute_scores(*, contact_ids: list[int] | None, reason: str) -> int:
    """Recompute the scores of `contact_ids` (None: every contact of the tenant with events or
    a score) in one statement; clears expired overrides. Side effects: upserts ContactScore
    rows, inserts a ScoreChange (with `reason`) per changed score or band. Returns how many
    scores or bands changed."""
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
    params = {
        "ids": sorted(set(contact_ids or [])), "open": rules.open_points,
        "click": rules.click_points, "reply": rules.reply_points,
        "factor": rules.recent_factor, "recent_from": now - timezone.timedelta(
            days=rules.recent_days), "hot": rules.hot_from, "warm": rules.warm_from,
        "now": now, "reason": reason[:300],
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def expired_override_ids() -> list[int]:
    return list(
        ContactScore.objects.filter(override_until__lte=timezone.now())
        .values_list("contact_id", flat=True)
    )


@transaction.atomic
def set_score_override(
    *, contact, score: int, reason: str, until=None, actor=None
) -> ContactScore:
    """Pin `contact`'s score to `score` (with `reason`, until `until` or for good). Side
    effects: upserts its ContactScore, records a ScoreChange. `actor` is named in the reason."""
    reason = " ".join(str(reason or "").split())[:200]
    if not reason:
        raise ValidationError({"reason": ["Give a reason for the override."]})
    if until is not None and until <= timezone.now():
        raise ValidationError({"until": ["The override must end in the future."]})
    row, _ = ContactScore.objects.select_for_update().get_or_create(contact=contact)
    row.override_score, row.override_reason, row.override_until = int(score), reason, until
    row.save(update_fields=["override_score", "override_reason", "override_until"])
    who = f" by {actor.email}" if actor is not None else ""
    recompute_scores(contact_ids=[contact.pk], reason=f"override{who}: {reason}")
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
    return ContactScore.objects.get(contact=contact)
