"""Compiling a rule tree to one Q over Contact (Django expressions: no Python filtering of
rows). The semantics are in the package docstring (segments/rules/__init__.py)."""

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
from django.db.models.functions import Cast, Coalesce, Upper
from django.db.models.lookups import (
    Contains,
    EndsWith,
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
    StartsWith,
)
from django.utils import timezone

from contacts.models import CustomField, Tag
from segments.rules.fields import (
    ALWAYS,
    DATE_FIELDS,
    MAX_CONDITIONS,
    MAX_DAYS,
    MAX_DEPTH,
    MAX_VALUES,
    NEVER,
    TEXT_FIELDS,
    FieldSpec,
    RuleError,
    field_specs,
)


class _UpperAnyOf(Expression):
    """``UPPER(lhs) = ANY(upper of each value)``, a case-insensitive IN. Up to
    `INLINE_VALUES` values are written as ``ARRAY[UPPER(v1), …]``, which the planner folds into
    one constant (hashed from 9 values on); a longer list travels as one array parameter
    upper-cased by a subquery (a hashed subplan), so 10,000 values are one bind, not 10,000
    placeholders. The empty string is tested before anything is upper-cased: most contacts
    leave most custom fields empty, and the test spares them the upper-casing and the lookup."""

    conditional = True
    output_field = BooleanField()
    INLINE_VALUES = 64

    def __init__(self, lhs, values: list[str], *, plain_column: bool = False):
        super().__init__()
        self.lhs = lhs
        self.values = values
        self.plain_column = plain_column  # a column (not an expression): _Upper's fast path

    def get_source_expressions(self):
        return [self.lhs]

    def set_source_expressions(self, exprs):
        (self.lhs,) = exprs

    def as_sql(self, compiler, connection):
        lhs, lhs_params = compiler.compile(self.lhs)
        upper, upper_params = compiler.compile(
            _Upper(self.lhs) if self.plain_column else Func(self.lhs, function="UPPER"))
        if len(self.values) <= self.INLINE_VALUES:
            values_sql = "(ARRAY[" + ", ".join(["UPPER(%s::text)"] * len(self.values)) + "])"
            values_params = list(self.values)
        else:
            values_sql = "(SELECT UPPER(v) FROM unnest(%s::text[]) AS v)"
            values_params = [self.values]
        empty = f"{lhs} = '' OR" if "" in self.values else f"{lhs} <> '' AND"
        return (f"({empty} {upper} = ANY {values_sql})",
                [*lhs_params, *upper_params, *values_params])


@dataclass(frozen=True)
class _CaseRules:
    """What the database's default collation promises about upper(), probed once per server:
    `ascii_plain`: upper() of ASCII text is the ASCII upper case (not so in Turkish locales,
    where upper('i') is 'İ'); `keeps_length`: upper() maps each character to exactly one (libc
    does; ICU may not: upper('ß') is 'SS')."""

    ascii_plain: bool
    keeps_length: bool


_CASE_RULES: dict[tuple, _CaseRules] = {}


def _case_rules() -> _CaseRules:
    settings = connection.settings_dict
    key = (settings["HOST"], settings["PORT"], settings["NAME"])
    if key not in _CASE_RULES:
        with connection.cursor() as cursor:
            # datlocprovider exists from PostgreSQL 15 on; before, every collation is libc.
            cursor.execute(
                "SELECT upper('i') = 'I', coalesce(to_jsonb(d) ->> 'datlocprovider', 'c') = 'c' "
                "FROM pg_database d WHERE d.datname = current_database()")
            _CASE_RULES[key] = _CaseRules(*cursor.fetchone())
    return _CASE_RULES[key]


class _OverColumn(Expression):
    """An expression over one column (or expression) `column`, given to the SQL compiler."""

    def __init__(self, column):
        super().__init__()
        self.column = column

    def get_source_expressions(self):
        return [self.column]

    def set_source_expressions(self, exprs):
        (self.column,) = exprs


class _NotEmpty(_OverColumn):
    """``text <> ''``: the cheap test put before a case-insensitive pattern on a custom field,
    which most contacts leave empty."""

    conditional = True
    output_field = BooleanField()

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.column)
        return f"({sql} <> '')", params


class _Upper(_OverColumn):
    """UPPER(text) with a fast path: ASCII text (octet_length = char_length in UTF-8) is
    upper-cased byte by byte under the "C" collation, where upper() of the database collation
    converts every string to wide characters and back (~240 ns a row). Same result wherever
    `_CaseRules.ascii_plain` holds; plain UPPER() elsewhere. For plain columns only: the
    argument is repeated in the SQL."""

    output_field = CharField()

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.column)
        # COLLATE "default": a column in the "C" collation (email_normalized, for its index)
        # would otherwise upper-case ASCII letters only, and 'é' would never match 'É'.
        if not _case_rules().ascii_plain:
            return f'UPPER(({sql})::text COLLATE "default")', params
        return (f"(CASE WHEN octet_length({sql}) = char_length({sql}) "
                f'THEN UPPER(({sql})::text COLLATE "C") COLLATE "default" '
                f'ELSE UPPER(({sql})::text COLLATE "default") END)',
                params * 4)


class _FoldedEquals(_OverColumn):
    """`column` equals `text` ignoring case: ``column = text OR UPPER(column) = UPPER(text)``.
    The exact test first lets the planner size the condition from the column's statistics (it
    has none for UPPER(column)) and spares the upper-casing of every exact match; where upper()
    keeps lengths, a length test spares it for most other rows."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, column, text: str):
        super().__init__(column)
        self.text = text

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.column)
        upper, upper_params = compiler.compile(_Upper(self.column))
        if _case_rules().keeps_length:
            return (f"({sql} = %s OR char_length({sql}) = char_length(%s) "
                    f"AND {upper} = UPPER(%s))",
                    [*params, self.text, *params, self.text, *upper_params, self.text])
        return f"({sql} = %s OR {upper} = UPPER(%s))", [*params, self.text, *upper_params,
                                                          self.text]


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
            path, f"{token}: unknown operator {operator!r} for "
            f"{'an' if spec.kind[0] in 'aeiou' else 'a'} {spec.kind} field "
            f"(use one of: {', '.join(spec.operators)})."
        )
    compiler = _compiler_for(spec)
    try:
        return compiler(spec, operator, node.get("value"), ctx)
    except _BadValue as exc:
        raise RuleError(path, f"{token} {operator}: {exc}") from None


class _BadValue(ValueError):
    pass


def _compiler_for(spec: FieldSpec) -> Callable[..., Q]:
    # The engagement fields (score, score_band, event) have compilers of their own, in a
    # module that imports this one's helpers.
    from segments.rules.engagement import COMPILERS

    return COMPILERS.get(spec.token) or _COMPILERS[spec.kind]


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
        found = Q(_UpperAnyOf(lhs, _value_list(value, _text_value),
                              plain_column=spec.token in TEXT_FIELDS))
        return found if operator == "in" else ~found
    text = _text_value(value)
    if spec.token in TEXT_FIELDS:  # a plain column: the faster case-insensitive forms
        if operator in ("equals", "not_equals"):
            q = Q(_FoldedEquals(lhs, text))
        else:
            lookups = {"contains": Contains, "not_contains": Contains,
                       "starts_with": StartsWith, "ends_with": EndsWith}
            q = Q(lookups[operator](_Upper(lhs), Upper(Value(text))))
        return ~q if operator.startswith("not_") else q
    lookups = {
        "equals": IExact, "not_equals": IExact, "contains": IContains, "not_contains": IContains,
        "starts_with": IStartsWith, "ends_with": IEndsWith,
    }
    q = Q(lookups[operator](lhs, text))
    if text:  # an empty custom value never matches a non-empty text: skip the upper-casing
        q = Q(_NotEmpty(lhs)) & q
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
    # On Contact.tag_ids (the contact's tag ids, NULL without tags, kept by the database from
    # ContactTag): tested in the contact scan itself, no join.
    if operator in ("is_empty", "is_not_empty"):
        return Q(tag_ids__isnull=operator == "is_empty")
    # Names become tag ids here (one small query), so the arrays compared are constants.
    ids = _tag_ids(_tag_names(value))  # one id (or None: no such tag) per name
    if operator == "has_all":
        if None in ids:
            return NEVER  # a tag nobody has: no contact has them all
        return Q(tag_ids__contains=sorted(set(ids)))
    found = sorted({tag_id for tag_id in ids if tag_id is not None})
    q = Q(tag_ids__overlap=found) if found else NEVER
    return ~q if operator == "has_none" else q  # ~: also true where tag_ids is NULL


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
