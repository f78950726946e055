"""Segment rules: the public JSON shape, its checking, and its compilation to one SQL filter.

A rule tree is ``{"op": "and"|"or", "rules": [<condition or group>, …]}``; a condition is
``{"field": "...", "operator": "...", "value": ...}``. ``compile_rules`` turns a tree into a
``Q`` over ``Contact`` (no Python filtering of rows) or raises ``RuleError`` naming the rule.

Semantics (the property test in tests/test_segment_rules.py checks SQL against a plain Python
evaluation of the same rules):
- Text comparisons ignore case; ``contains`` and friends take the value literally (``%``, ``_``,
  quotes and regex characters are plain characters). A missing text value is the empty string.
- A missing number, date or yes/no value (a custom field the contact has no value for) matches
  only ``is_empty``; every other operator is false for it, including ``not_equals``.
- Dates are calendar days in the site's time zone; ``in_last_days`` / ``more_than_days_ago``
  are relative to the moment the rules are compiled, so they re-evaluate over time.
- Every compiled condition is true or false, never NULL, so groups and exclusions combine
  with plain boolean logic.
- ``list`` and ``segment`` test membership: of static lists, and of other dynamic segments as
  materialised at their last refresh (SegmentMembership), so compiling never recurses into
  another segment's rules. A segment may not refer to itself, directly or through others
  (``check_no_cycle``, used when a segment is saved).

Public tokens (also used by the API, the ``segment_count`` command and the builder UI):

=====================================  ==========================================================
field                                  operators (value)
=====================================  ==========================================================
``email`` ``first_name`` ``last_name``  text: ``equals`` ``not_equals`` ``contains``
``company`` ``job_title`` ``phone``    ``not_contains`` ``starts_with`` ``ends_with`` (text);
``website`` ``city`` ``country``       ``is_empty`` ``is_not_empty`` (no value); ``in``
``source`` ``validation_reason``       ``not_in`` (list of ≤ 10,000 texts)
``email_domain``                       as text (the part after ``@``)
``status`` ``validation_status``       ``equals`` ``not_equals`` (a choice); ``in`` ``not_in``
``created_at`` ``updated_at``          ``equals`` ``before`` ``after`` (``YYYY-MM-DD``);
                                       ``between`` (``[low, high]``); ``in_last_days``
                                       ``more_than_days_ago`` (days); ``is_empty`` ``is_not_empty``
``custom.<key>`` (text)                as text
``custom.<key>`` (number)              ``equals`` ``not_equals`` ``lt`` ``lte`` ``gt`` ``gte``
                                       (number); ``between`` (``[low, high]``); ``is_empty``
                                       ``is_not_empty``
``custom.<key>`` (date)                as ``created_at``
``custom.<key>`` (yes/no)              ``equals`` (``true``/``false``); ``is_empty``
                                       ``is_not_empty``
``tags``                               ``has_any`` ``has_all`` ``has_none`` (list of tag names);
                                       ``is_empty`` ``is_not_empty``
``list``                               ``in`` ``not_in`` (list ids, or one id)
``segment``                            ``in`` ``not_in`` (segment ids, or one id)
=====================================  ==========================================================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Exists,
    Expression,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, Coalesce
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    IEndsWith,
    IExact,
    IsNull,
    IStartsWith,
    LessThan,
    LessThanOrEqual,
)
from django.utils import timezone

from contacts.models import (
    ContactStatus,
    ContactTag,
    CustomField,
    CustomFieldType,
    Tag,
    ValidationStatus,
)

# Conditions known to be true / false for every contact. Not Q() (Django drops an empty Q from
# an OR) nor pk__in=[] (a query whose filter is empty cannot be turned into SQL at all).
ALWAYS = Q(pk__isnull=False)
NEVER = Q(pk__isnull=True)

MAX_DEPTH = 8
MAX_CONDITIONS = 200
MAX_VALUES = 10_000
MAX_DAYS = 36_500

TEXT_OPERATORS = (
    "equals", "not_equals", "contains", "not_contains", "starts_with", "ends_with", "is_empty",
    "is_not_empty", "in", "not_in",
)
NUMBER_OPERATORS = (
    "equals", "not_equals", "lt", "lte", "gt", "gte", "between", "is_empty", "is_not_empty",
)
DATE_OPERATORS = (
    "equals", "before", "after", "between", "in_last_days", "more_than_days_ago", "is_empty",
    "is_not_empty",
)
BOOLEAN_OPERATORS = ("equals", "is_empty", "is_not_empty")
CHOICE_OPERATORS = ("equals", "not_equals", "in", "not_in")
TAG_OPERATORS = ("has_any", "has_all", "has_none", "is_empty", "is_not_empty")
LIST_OPERATORS = ("in", "not_in")
SEGMENT_OPERATORS = ("in", "not_in")

# Contact columns by public token. "email" compares the normalised (lower-case) address.
TEXT_FIELDS = {
    "email": "email_normalized", "first_name": "first_name", "last_name": "last_name",
    "company": "company", "job_title": "job_title", "phone": "phone", "website": "website",
    "city": "city", "country": "country", "validation_reason": "validation_reason",
    "source": "source",
}
CHOICE_FIELDS = {
    "status": [c for c, _ in ContactStatus.choices],
    "validation_status": [c for c, _ in ValidationStatus.choices],
}
DATE_FIELDS = {"created_at": "created_at", "updated_at": "updated_at"}


class RuleError(ValueError):
    """A rule tree that cannot be compiled; ``path`` locates the rule (``rules[1].rules[0]``)."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path or 'rules'}: {message}")


@dataclass(frozen=True)
class FieldSpec:
    token: str
    kind: str  # text | number | date | boolean | choice | tags | list | segment
    operators: tuple[str, ...]
    choices: tuple[str, ...] = ()


def field_specs(custom_fields: list[CustomField] | None = None) -> dict[str, FieldSpec]:
    """Every field a rule can name, with its operators (what the builder UI offers)."""
    specs = {t: FieldSpec(t, "text", TEXT_OPERATORS) for t in TEXT_FIELDS}
    specs["email_domain"] = FieldSpec("email_domain", "text", TEXT_OPERATORS)
    for token, choices in CHOICE_FIELDS.items():
        specs[token] = FieldSpec(token, "choice", CHOICE_OPERATORS, tuple(choices))
    for token in DATE_FIELDS:
        specs[token] = FieldSpec(token, "date", DATE_OPERATORS)
    specs["tags"] = FieldSpec("tags", "tags", TAG_OPERATORS)
    specs["list"] = FieldSpec("list", "list", LIST_OPERATORS)
    specs["segment"] = FieldSpec("segment", "segment", SEGMENT_OPERATORS)
    kinds = {
        CustomFieldType.TEXT: ("text", TEXT_OPERATORS),
        CustomFieldType.NUMBER: ("number", NUMBER_OPERATORS),
        CustomFieldType.DATE: ("date", DATE_OPERATORS),
        CustomFieldType.BOOLEAN: ("boolean", BOOLEAN_OPERATORS),
    }
    if custom_fields is None:
        custom_fields = list(CustomField.objects.all())
    for field in custom_fields:
        kind, operators = kinds[field.field_type]
        specs[f"custom.{field.key}"] = FieldSpec(f"custom.{field.key}", kind, operators)
    return specs


# --- compiling ----------------------------------------------------------------------------------


class _UpperAnyOf(Expression):
    """``UPPER(lhs) = ANY(upper of each value)``: a case-insensitive IN whose values travel as
    one array parameter, so 10,000 values are one bind, not 10,000 placeholders."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, lhs, values: list[str]):
        super().__init__()
        self.lhs = lhs
        self.values = values

    def get_source_expressions(self):
        return [self.lhs]

    def set_source_expressions(self, exprs):
        (self.lhs,) = exprs

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.lhs)
        return (
            f"UPPER(({sql})::text) = ANY (SELECT UPPER(v) FROM unnest(%s::text[]) AS v)",
            [*params, self.values],
        )


class _JsonbTypeof(Func):
    function = "jsonb_typeof"
    output_field = CharField()


def _json_type(key: str) -> Coalesce:
    """The JSON type of custom field `key` ('number', 'string', …; 'missing' without one)."""
    return Coalesce(_JsonbTypeof(KeyTransform(key, "custom_fields")), Value("missing"),
                    output_field=CharField())


@dataclass
class _Context:
    specs: dict[str, FieldSpec]
    now: dt.datetime
    conditions: int = 0


def compile_rules(
    tree: Any, *, exclude: Any = None, now: dt.datetime | None = None,
    custom_fields: list[CustomField] | None = None,
) -> Q:
    """Return the filter of contacts matching `tree` and not matching `exclude` (same shape).
    Raises RuleError for an unknown field or operator, a value of the wrong type, a bad date,
    too deep or too large a tree. Reads custom field definitions; writes nothing."""
    ctx = _Context(field_specs(custom_fields), now or timezone.now())
    q = _group(tree, "rules", 1, ctx, root=True)
    if exclude is not None and not (isinstance(exclude, dict) and not exclude.get("rules")):
        q &= ~_group(exclude, "exclude", 1, ctx, root=True)
    return q


def _group(node: Any, path: str, depth: int, ctx: _Context, *, root: bool = False) -> Q:
    if not isinstance(node, dict) or "rules" not in node:
        raise RuleError(path, 'A group must be {"op": "and"|"or", "rules": [...]}.')
    op = node.get("op", "and")
    if op not in ("and", "or"):
        raise RuleError(path, f'Unknown group operator {op!r}; use "and" or "or".')
    if depth > MAX_DEPTH:
        raise RuleError(path, f"Groups are nested too deeply (at most {MAX_DEPTH} levels).")
    rules = node["rules"]
    if not isinstance(rules, list):
        raise RuleError(path, '"rules" must be a list.')
    if not rules:
        if root:
            return Q()  # an empty tree matches every contact
        raise RuleError(path, "This group is empty; add a condition or remove the group.")
    parts = []
    for index, child in enumerate(rules):
        child_path = f"{path}[{index}]"
        if isinstance(child, dict) and "rules" in child:
            parts.append(_group(child, f"{child_path}.rules", depth + 1, ctx))
        else:
            parts.append(_condition(child, child_path, ctx))
    combined = parts[0]
    for part in parts[1:]:
        combined = (combined & part) if op == "and" else (combined | part)
    return combined


def _condition(node: Any, path: str, ctx: _Context) -> Q:
    if not isinstance(node, dict):
        raise RuleError(path, "A condition must be an object with field, operator and value.")
    ctx.conditions += 1
    if ctx.conditions > MAX_CONDITIONS:
        raise RuleError(path, f"Too many conditions (at most {MAX_CONDITIONS}).")
    token, operator = node.get("field"), node.get("operator")
    spec = ctx.specs.get(token) if isinstance(token, str) else None
    if spec is None:
        raise RuleError(path, f"Unknown field {token!r}.")
    if operator not in spec.operators:
        raise RuleError(
            path, f"{token}: unknown operator {operator!r} for a {spec.kind} field "
            f"(use one of: {', '.join(spec.operators)})."
        )
    compiler = _COMPILERS[spec.kind]
    try:
        return compiler(spec, operator, node.get("value"), ctx)
    except _BadValue as exc:
        raise RuleError(path, f"{token} {operator}: {exc}") from None


class _BadValue(ValueError):
    pass


def _text_lhs(token: str):
    if token == "email_domain":
        return Func(F("email_normalized"), Value("@"), Value(2), function="split_part",
                    output_field=CharField())
    if token.startswith("custom."):
        return Coalesce(KeyTextTransform(token[7:], "custom_fields"), Value(""),
                        output_field=CharField())
    return F(TEXT_FIELDS[token])


def _text_value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _BadValue("the value must be text.")
    text = str(value)
    if "\x00" in text:
        raise _BadValue("the value contains a NUL character.")
    if len(text) > 1000:
        raise _BadValue("the value is longer than 1,000 characters.")
    return text


def _value_list(value: Any, item: Callable[[Any], Any]) -> list:
    if not isinstance(value, list) or not value:
        raise _BadValue("the value must be a non-empty list.")
    if len(value) > MAX_VALUES:
        raise _BadValue(f"at most {MAX_VALUES:,} values (got {len(value):,}).")
    return [item(v) for v in value]


def _compile_text(spec: FieldSpec, operator: str, value: Any, ctx: _Context) -> Q:
    lhs = _text_lhs(spec.token)
    if operator in ("is_empty", "is_not_empty"):
        empty = Q(Exact(lhs, ""))
        return empty if operator == "is_empty" else ~empty
    if operator in ("in", "not_in"):
        found = Q(_UpperAnyOf(lhs, _value_list(value, _text_value)))
        return found if operator == "in" else ~found
    text = _text_value(value)
    lookups = {
        "equals": IExact, "not_equals": IExact, "contains": IContains, "not_contains": IContains,
        "starts_with": IStartsWith, "ends_with": IEndsWith,
    }
    q = Q(lookups[operator](lhs, text))
    if operator in ("equals", "not_equals") and spec.token in TEXT_FIELDS:
        # Same meaning, better plans: the exact-case test lets the planner size the condition
        # from the column's statistics (it has none for UPPER(column)) and choose, e.g., a
        # hash join for a tag condition beside it rather than a probe per row.
        q = Q(Exact(lhs, text)) | q
    return ~q if operator.startswith("not_") else q


def _compile_choice(spec: FieldSpec, operator: str, value: Any, ctx: _Context) -> Q:
    def check(v: Any) -> str:
        if v not in spec.choices:
            raise _BadValue(f"{v!r} is not one of {', '.join(spec.choices)}.")
        return v

    column = spec.token
    if operator in ("in", "not_in"):
        q = Q(**{f"{column}__in": _value_list(value, check)})
        return q if operator == "in" else ~q
    q = Q(**{column: check(value)})
    return q if operator == "equals" else ~q


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise _BadValue("the value must be a number.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _BadValue(f"{value!r} is not a number.") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise _BadValue("the value must be a finite number.")
    return number


def _pair(value: Any, item: Callable[[Any], Any]) -> tuple[Any, Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise _BadValue("between takes a list of two values [low, high].")
    low, high = item(value[0]), item(value[1])
    if low > high:
        raise _BadValue("the first value of between must not be greater than the second.")
    return low, high


def _present(lhs) -> Q:
    return Q(IsNull(lhs, False))


def _compile_number(spec: FieldSpec, operator: str, value: Any, ctx: _Context) -> Q:
    key = spec.token[7:]
    lhs = Case(
        When(Q(Exact(_json_type(key), "number")),
             then=Cast(KeyTextTransform(key, "custom_fields"), FloatField())),
        default=None, output_field=FloatField(),
    )
    if operator in ("is_empty", "is_not_empty"):
        return ~_present(lhs) if operator == "is_empty" else _present(lhs)
    if operator == "between":
        low, high = _pair(value, _number)
        return _present(lhs) & Q(GreaterThanOrEqual(lhs, low)) & Q(LessThanOrEqual(lhs, high))
    number = _number(value)
    lookups = {"equals": Exact, "lt": LessThan, "lte": LessThanOrEqual, "gt": GreaterThan,
               "gte": GreaterThanOrEqual}
    if operator == "not_equals":
        return _present(lhs) & ~Q(Exact(lhs, number))
    return _present(lhs) & Q(lookups[operator](lhs, number))


def _day(value: Any) -> dt.date:
    if not isinstance(value, str):
        raise _BadValue("the value must be a date written YYYY-MM-DD.")
    text = value.strip()
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise _BadValue(f"{value!r} is not a date (use YYYY-MM-DD).") from None


def _days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _BadValue("the value must be a whole number of days.")
    try:
        days = int(value)
    except ValueError:
        raise _BadValue(f"{value!r} is not a whole number of days.") from None
    if not 0 <= days <= MAX_DAYS:
        raise _BadValue(f"the number of days must be between 0 and {MAX_DAYS:,}.")
    return days


def _compile_date(spec: FieldSpec, operator: str, value: Any, ctx: _Context) -> Q:
    if spec.token.startswith("custom."):
        return _custom_date(spec.token[7:], operator, value, ctx)
    column = DATE_FIELDS[spec.token]
    if operator in ("is_empty", "is_not_empty"):
        # Always set on a contact. (Not a bare Q(): Django drops an empty Q from an OR.)
        return NEVER if operator == "is_empty" else ALWAYS
    start = _start_of_day
    if operator in ("in_last_days", "more_than_days_ago"):
        moment = ctx.now - dt.timedelta(days=_days(value))
        return Q(**{f"{column}__gte" if operator == "in_last_days" else f"{column}__lt": moment})
    if operator == "between":
        low, high = _pair(value, _day)
        return Q(**{f"{column}__gte": start(low), f"{column}__lt": start(high, 1)})
    day = _day(value)
    if operator == "before":
        return Q(**{f"{column}__lt": start(day)})
    if operator == "after":
        return Q(**{f"{column}__gte": start(day, 1)})
    return Q(**{f"{column}__gte": start(day), f"{column}__lt": start(day, 1)})  # equals


def _start_of_day(day: dt.date, plus_days: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=plus_days), dt.time.min))


def _custom_date(key: str, operator: str, value: Any, ctx: _Context) -> Q:
    # Stored as ISO "YYYY-MM-DD" text, which sorts like the dates themselves.
    lhs = Case(
        When(Q(Exact(_json_type(key), "string")), then=KeyTextTransform(key, "custom_fields")),
        default=None, output_field=CharField(),
    )
    if operator in ("is_empty", "is_not_empty"):
        return ~_present(lhs) if operator == "is_empty" else _present(lhs)
    today = timezone.localdate(ctx.now)
    if operator == "in_last_days":
        low, high = today - dt.timedelta(days=_days(value)), today
    elif operator == "more_than_days_ago":
        return _present(lhs) & Q(LessThan(lhs, (today - dt.timedelta(days=_days(value))).isoformat()))
    elif operator == "between":
        low, high = _pair(value, _day)
    else:
        day = _day(value)
        if operator == "before":
            return _present(lhs) & Q(LessThan(lhs, day.isoformat()))
        if operator == "after":
            return _present(lhs) & Q(GreaterThan(lhs, day.isoformat()))
        low = high = day
    return (_present(lhs) & Q(GreaterThanOrEqual(lhs, low.isoformat()))
            & Q(LessThanOrEqual(lhs, high.isoformat())))


def _compile_boolean(spec: FieldSpec, operator: str, value: Any, ctx: _Context) -> Q:
    key = spec.token[7:]
    is_bool = Q(Exact(_json_type(key), "boolean"))
    if operator in ("is_empty", "is_not_empty"):
        return ~is_bool if operator == "is_empty" else is_bool
    if not isinstance(value, bool):
        raise _BadValue("the value must be true or false.")
    text = Case(When(is_bool, then=KeyTextTransform(key, "custom_fields")), default=Value(""),
                output_field=CharField())
    return Q(Exact(text, "true" if value else "false"))


def _tag_names(value: Any) -> list[str]:
    return list(dict.fromkeys(" ".join(n.split()) for n in _value_list(value, _text_value)))


def _compile_tags(spec: FieldSpec, operator: str, value: Any, ctx: _Context) -> Q:
    tagged = ContactTag.objects.filter(contact=OuterRef("pk"))
    if operator in ("is_empty", "is_not_empty"):
        q = Q(Exists(tagged))
        return ~q if operator == "is_empty" else q
    # Names become tag ids here (one small query): with literal ids the planner uses the
    # statistics of contacttag.tag_id and sizes a common tag right (a join on the name it
    # cannot, and then probes hundreds of thousands of contacts one by one).
    ids = _tag_ids(_tag_names(value))  # one id (or None: no such tag) per name
    if operator == "has_all":
        if None in ids:
            return NEVER  # a tag nobody has: no contact has them all
        q = Q()
        for tag_id in dict.fromkeys(ids):
            q &= Q(Exists(tagged.filter(tag_id=tag_id)))
        return q
    found = sorted({tag_id for tag_id in ids if tag_id is not None})
    q = Q(Exists(tagged.filter(tag_id__in=found))) if found else NEVER
    return ~q if operator == "has_none" else q


def _tag_ids(names: list[str]) -> list[int | None]:
    """The id of the tag of each name (names match case-insensitively, as tags are unique),
    None where there is no such tag. One query whatever the number of names."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT (SELECT t.id FROM {Tag._meta.db_table} t WHERE UPPER(t.name) = UPPER(v))
                FROM unnest(%s::text[]) WITH ORDINALITY AS u(v, n) ORDER BY n""",
            [names],
        )
        return [row[0] for row in cursor.fetchall()]


def _compile_list(spec: FieldSpec, operator: str, value: Any, ctx: _Context) -> Q:
    from segments.models import ListMembership, StaticList

    def list_id(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise _BadValue("the value must be list ids (whole numbers).")
        return v

    ids = _value_list(value if isinstance(value, list) else [value], list_id)
    missing = set(ids) - set(StaticList.objects.filter(pk__in=ids).values_list("pk", flat=True))
    if missing:
        raise _BadValue(f"no list with id {', '.join(map(str, sorted(missing)))}.")
    q = Q(Exists(ListMembership.objects.filter(contact=OuterRef("pk"), static_list_id__in=ids)))
    return q if operator == "in" else ~q


def _segment_ids(value: Any) -> list[int]:
    def segment_id(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise _BadValue("the value must be segment ids (whole numbers).")
        return v

    return _value_list(value if isinstance(value, list) else [value], segment_id)


def _compile_segment(spec: FieldSpec, operator: str, value: Any, ctx: _Context) -> Q:
    """Membership as materialised at the segment's last refresh: no recursion at query time."""
    from segments.models import Segment, SegmentMembership

    ids = _segment_ids(value)
    missing = set(ids) - set(Segment.objects.filter(pk__in=ids).values_list("pk", flat=True))
    if missing:
        raise _BadValue(f"no segment with id {', '.join(map(str, sorted(missing)))}.")
    q = Q(Exists(SegmentMembership.objects.filter(contact=OuterRef("pk"), segment_id__in=ids)))
    return q if operator == "in" else ~q


# --- segments referring to segments ------------------------------------------------------------


def segment_conditions(tree: Any, path: str = "rules") -> list[tuple[str, list[int]]]:
    """(rule path, segment ids) of every well-formed ``segment`` condition in `tree`; anything
    malformed is left to compile_rules to refuse."""
    found: list[tuple[str, list[int]]] = []
    if not isinstance(tree, dict) or not isinstance(tree.get("rules"), list):
        return found
    for index, child in enumerate(tree["rules"]):
        child_path = f"{path}[{index}]"
        if isinstance(child, dict) and "rules" in child:
            found += segment_conditions(child, f"{child_path}.rules")
        elif isinstance(child, dict) and child.get("field") == "segment":
            try:
                found.append((child_path, _segment_ids(child.get("value"))))
            except _BadValue:
                continue
    return found


def referenced_lists(tree: Any) -> set[int]:
    """The ids of the static lists `tree` names in ``list`` conditions (well-formed ones)."""
    found: set[int] = set()
    if not isinstance(tree, dict) or not isinstance(tree.get("rules"), list):
        return found
    for child in tree["rules"]:
        if isinstance(child, dict) and "rules" in child:
            found |= referenced_lists(child)
        elif isinstance(child, dict) and child.get("field") == "list":
            value = child.get("value")
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, int) and not isinstance(item, bool):
                    found.add(item)
    return found


def referenced_segments(tree: Any) -> set[int]:
    """The ids of the segments `tree` names directly (not those they name in turn)."""
    return {pk for _, ids in segment_conditions(tree) for pk in ids}


def check_no_cycle(*, segment_id: int | None, rules: Any, exclude: Any = None) -> None:
    """Refuse rules through which segment `segment_id` would (transitively) refer to itself:
    RuleError naming the rule, e.g. ``rules[0]: segment 12 (“VIP”) refers back to this
    segment.`` A new segment (no id yet) cannot be referred to, so only its own id is checked.
    Reads the saved rules of the segments reachable from `rules`; writes nothing."""
    from segments.models import Segment

    if segment_id is None:
        return
    graph = {pk: referenced_segments(r) | referenced_segments(x)
             for pk, r, x in Segment.objects.values_list("pk", "rules", "exclude")}
    names = dict(Segment.objects.values_list("pk", "name"))
    conditions = segment_conditions(rules) + segment_conditions(exclude or {}, "exclude")
    for path, ids in conditions:
        for pk in ids:
            if pk == segment_id:
                raise RuleError(path, "a segment cannot refer to itself.")
            if _reaches(graph, pk, segment_id):
                raise RuleError(path, f"segment {pk} (“{names.get(pk, '?')}”) refers back to "
                                      "this segment.")


def _reaches(graph: dict[int, set[int]], start: int, goal: int) -> bool:
    seen, stack = set(), [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(graph.get(node, ()))
    return False


def dependency_order(graph: dict[int, set[int]]) -> list[int]:
    """Segment ids so that each comes after the segments it refers to (ties by id). Ids in a
    cycle (refused at save, so only from hand-edited data) come last, in id order."""
    order: list[int] = []
    placed: set[int] = set()
    pending = sorted(graph)
    while pending:
        ready = [pk for pk in pending if not (graph[pk] & set(graph)) - placed]
        if not ready:
            order += pending
            break
        order += ready
        placed.update(ready)
        pending = [pk for pk in pending if pk not in placed]
    return order


_COMPILERS = {
    "text": _compile_text,
    "choice": _compile_choice,
    "number": _compile_number,
    "date": _compile_date,
    "boolean": _compile_boolean,
    "tags": _compile_tags,
    "list": _compile_list,
    "segment": _compile_segment,
}
