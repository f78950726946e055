"""Rule fields over engagement: the lead score (``score``, ``score_band``) and email events
(``event``). Each compiles to EXISTS subqueries over engagement's tables, so a rule tree stays
one SQL query:

- ``score``: a contact without a ContactScore row has score 0. The number is turned into an
  interval of whole scores (scores are integers), then the condition is "has a score row in the
  interval" or, when 0 itself matches, "has no score row outside it" — true or false, never NULL.
- ``score_band``: no row is cold; likewise "has a row of a wanted band" or, when cold is wanted,
  "has no row of an unwanted band".
- ``event`` ``has_any`` / ``has_none`` with a value such as
  ``{"type": "opened", "campaign": 12, "in_last_days": 14}``: whether the contact has an email
  event of that type ("any": of any type), of that campaign (id, or name matched ignoring case:
  every campaign of that name), in that window (``in_last_days`` relative to the moment the
  rules are compiled; ``after`` / ``before`` calendar days, exclusive, like the date fields).
  The subquery follows the index emailevent_timeline_idx (contact, occurred_at desc, id desc).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.db.models import Exists, OuterRef, Q

from engagement.models import ContactScore, EmailEvent
from segments.rules.compiler import (
    _BadValue,
    _Context,
    _day,
    _days,
    _number,
    _pair,
    _start_of_day,
    _value_list,
)
from segments.rules.fields import ALWAYS, EVENT_KEYS, EVENT_TYPES, NEVER, SCORE_BANDS, FieldSpec

# ContactScore.score is a PostgreSQL integer: bounds beyond it are clamped (or match nothing).
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def _scores(condition: Q) -> Q:
    return Q(Exists(ContactScore.objects.filter(condition, contact=OuterRef("pk"))))


def _interval(operator: str, value: Any) -> tuple[int | None, int | None]:
    """The whole scores [low, high] (None: unbounded) that satisfy `operator value`."""
    if operator == "between":
        low, high = _pair(value, _number)
        return math.ceil(low), math.floor(high)
    number = _number(value)
    if operator in ("equals", "not_equals"):
        whole = number.is_integer()
        return (int(number), int(number)) if whole else (1, 0)  # (1, 0): no whole score
    return {
        "lt": (None, math.ceil(number) - 1), "lte": (None, math.floor(number)),
        "gt": (math.floor(number) + 1, None), "gte": (math.ceil(number), None),
    }[operator]


def compile_score(spec: FieldSpec, operator: str, value: Any, ctx: _Context) -> Q:
    low, high = _interval(operator, value)
    negate = operator == "not_equals"
    if (low is not None and low > INT_MAX) or (high is not None and high < INT_MIN) or (
            low is not None and high is not None and low > high):
        return ALWAYS if negate else NEVER  # no score can be in the interval
    low = None if low is not None and low <= INT_MIN else low
    high = None if high is not None and high >= INT_MAX else high
    inside = Q(pk__isnull=False)
    if low is not None:
        inside &= Q(score__gte=low)
    if high is not None:
        inside &= Q(score__lte=high)
    zero_inside = (low is None or low <= 0) and (high is None or high >= 0)
    if negate:
        # not_equals: a score row with exactly that score, or none (0) when it is 0.
        return ~_scores(inside) if not zero_inside else _scores(~inside)
    return ~_scores(~inside) if zero_inside else _scores(inside)


def compile_score_band(spec: FieldSpec, operator: str, value: Any, ctx: _Context) -> Q:
    def check(v: Any) -> str:
        if v not in SCORE_BANDS:
            raise _BadValue(f"{v!r} is not one of {', '.join(SCORE_BANDS)}.")
        return v

    if operator in ("in", "not_in"):
        chosen = set(_value_list(value, check))
    else:
        chosen = {check(value)}
    if operator in ("not_equals", "not_in"):
        chosen = set(SCORE_BANDS) - chosen
    if not chosen:
        return NEVER
    if chosen == set(SCORE_BANDS):
        return ALWAYS
    if "cold" in chosen:  # cold includes contacts without a score row
        return ~_scores(Q(band__in=sorted(set(SCORE_BANDS) - chosen)))
    return _scores(Q(band__in=sorted(chosen)))


def compile_event(spec: FieldSpec, operator: str, value: Any, ctx: _Context) -> Q:
    events = EmailEvent.objects.filter(_event_filter(value, ctx), contact=OuterRef("pk"))
    found = Q(Exists(events))
    return found if operator == "has_any" else ~found


def _event_filter(value: Any, ctx: _Context) -> Q:
    if not isinstance(value, dict):
        raise _BadValue('the value must be an object such as {"type": "opened", '
                        '"campaign": 12, "in_last_days": 14}.')
    unknown = sorted(str(k) for k in value if k not in EVENT_KEYS)
    if unknown:
        raise _BadValue(f"unknown key {unknown[0]!r} (use {', '.join(EVENT_KEYS)}).")
    kind = value.get("type")
    if kind not in EVENT_TYPES:
        raise _BadValue(f"type must be one of {', '.join(EVENT_TYPES)} (got {kind!r}).")
    q = Q() if kind == "any" else Q(type=kind)
    if value.get("campaign") is not None:
        q &= Q(campaign_id__in=_campaign_ids(value["campaign"]))
    if value.get("in_last_days") is not None:
        days = _keyed("in_last_days", _days, value["in_last_days"])
        q &= Q(occurred_at__gte=ctx.now - dt.timedelta(days=days))
    after = _keyed("after", _day, value["after"]) if value.get("after") is not None else None
    before = _keyed("before", _day, value["before"]) if value.get("before") is not None else None
    if after and before and before <= after:
        raise _BadValue("the before date must be later than the after date.")
    if after:
        q &= Q(occurred_at__gte=_start_of_day(after, 1))
    if before:
        q &= Q(occurred_at__lt=_start_of_day(before))
    return q


def _keyed(key: str, check, raw: Any):
    try:
        return check(raw)
    except _BadValue as exc:
        raise _BadValue(f"{key}: {str(exc).replace('the value', 'the value of ' + key)}") from None


def _campaign_ids(raw: Any) -> list[int]:
    """The campaign of an id, or every campaign of a name (ignoring case). One small query."""
    from segments.models import Campaign

    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise _BadValue("campaign must be a campaign id or a campaign name.")
    if isinstance(raw, int):
        if not Campaign.objects.filter(pk=raw).exists():
            raise _BadValue(f"no campaign with id {raw}.")
        return [raw]
    name = raw.strip()
    if not name or len(name) > 200 or "\x00" in name:
        raise _BadValue("campaign must be a campaign id or a campaign name.")
    ids = list(Campaign.objects.filter(name__iexact=name).order_by("pk")
               .values_list("pk", flat=True))
    if not ids:
        raise _BadValue(f"no campaign named {name!r}.")
    return ids


COMPILERS = {"score": compile_score, "score_band": compile_score_band, "event": compile_event}
