"""Segment rules: SQL compilation agrees with a plain Python reading of the same rules
(hypothesis over random contacts and random rule trees), and bad rules are refused by name."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.models import Contact, ContactTag, CustomField, Tag
from segments.dynamic.refresh import condition_sql
from segments.rules import MAX_DEPTH, MAX_VALUES, RuleError, compile_rules, compiler
from tests.factories import ContactFactory

NOW = timezone.make_aware(dt.datetime(2026, 6, 15, 12, 0))
TODAY = timezone.localdate(NOW)
TAGS = ["VIP", "Lead", "cold 2024"]
# Characters whose upper case is the same in Python and PostgreSQL, plus LIKE and regex
# metacharacters that must be taken literally.
ALPHABET = "aAéÉ%_\\'"
TEXT_FIELDS = ["email", "first_name", "company", "city", "email_domain", "custom.note"]

text = st.text(alphabet=ALPHABET, max_size=4)
value_text = st.text(alphabet=ALPHABET, min_size=1, max_size=2)


def _day(offset: int) -> dt.date:
    return TODAY + dt.timedelta(days=offset)


contacts_strategy = st.lists(
    st.fixed_dictionaries({
        "local": st.text(alphabet="abé", min_size=1, max_size=3),
        "domain": st.sampled_from(["acme.com", "b.io", "example.org"]),
        "first_name": text, "company": text, "city": text,
        "status": st.sampled_from(["active", "unsubscribed", "bounced"]),
        "created_days_ago": st.integers(0, 40),
        "note": st.none() | text,
        "score": st.none() | st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False),
        "renewal": st.none() | st.integers(-20, 20).map(lambda d: _day(d).isoformat()),
        "vip": st.none() | st.booleans(),
        "tags": st.sets(st.sampled_from(TAGS)),
    }),
    min_size=3, max_size=12,
)

day_value = st.integers(-45, 45).map(lambda d: _day(d).isoformat())
text_condition = st.builds(
    lambda f, o, v: {"field": f, "operator": o, "value": v},
    st.sampled_from(TEXT_FIELDS),
    st.sampled_from(["equals", "not_equals", "contains", "not_contains", "starts_with",
                     "ends_with", "is_empty", "is_not_empty"]),
    value_text,
) | st.builds(
    lambda f, o, v: {"field": f, "operator": o, "value": v},
    st.sampled_from(TEXT_FIELDS), st.sampled_from(["in", "not_in"]),
    st.lists(value_text | text, min_size=1, max_size=3),
)
number_condition = st.builds(
    lambda o, v: {"field": "custom.score", "operator": o, "value": v},
    st.sampled_from(["equals", "not_equals", "lt", "lte", "gt", "gte", "is_empty",
                     "is_not_empty"]),
    st.integers(-5, 5),
) | st.builds(
    lambda a, b: {"field": "custom.score", "operator": "between", "value": sorted([a, b])},
    st.integers(-5, 5), st.integers(-5, 5),
)
date_condition = st.builds(
    lambda f, o, v: {"field": f, "operator": o, "value": v},
    st.sampled_from(["created_at", "custom.renewal"]),
    st.sampled_from(["equals", "before", "after", "is_empty", "is_not_empty"]), day_value,
) | st.builds(
    lambda f, o, v: {"field": f, "operator": o, "value": v},
    st.sampled_from(["created_at", "custom.renewal"]),
    st.sampled_from(["in_last_days", "more_than_days_ago"]), st.integers(0, 45),
) | st.builds(
    lambda f, a, b: {"field": f, "operator": "between", "value": sorted([a, b])},
    st.sampled_from(["created_at", "custom.renewal"]), day_value, day_value,
)
other_condition = st.builds(
    lambda o, v: {"field": "custom.vip", "operator": o, "value": v},
    st.sampled_from(["equals", "is_empty", "is_not_empty"]), st.booleans(),
) | st.builds(
    lambda o, v: {"field": "status", "operator": o, "value": v},
    st.sampled_from(["equals", "not_equals"]),
    st.sampled_from(["active", "unsubscribed", "bounced"]),
) | st.builds(
    lambda o, v: {"field": "tags", "operator": o, "value": v},
    st.sampled_from(["has_any", "has_all", "has_none", "is_empty", "is_not_empty"]),
    st.lists(st.sampled_from([*TAGS, "vip", "nobody"]), min_size=1, max_size=3),
)
condition = text_condition | number_condition | date_condition | other_condition
tree_strategy = st.recursive(
    condition,
    lambda children: st.builds(
        lambda op, rules: {"op": op, "rules": rules},
        st.sampled_from(["and", "or"]), st.lists(children, min_size=1, max_size=3),
    ),
    max_leaves=8,
).map(lambda node: node if "rules" in node else {"op": "and", "rules": [node]})


# --- the reference: a straightforward Python reading of the rules ------------------------------


def _text_of(row: dict, field: str) -> str:
    if field == "email":
        return row["email"]
    if field == "email_domain":
        return row["email"].split("@")[1]
    if field == "custom.note":
        return row["note"] or ""
    return row[field]


def _start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _date_matches(field: str, operator: str, value, row: dict) -> bool:
    if field == "custom.renewal":
        stored = row["renewal"]
        if operator in ("is_empty", "is_not_empty"):
            return (stored is None) == (operator == "is_empty")
        if stored is None:
            return False
        day = dt.date.fromisoformat(stored)
        days = lambda: dt.timedelta(days=value)  # noqa: E731
        return {
            "equals": lambda: day == dt.date.fromisoformat(value),
            "before": lambda: day < dt.date.fromisoformat(value),
            "after": lambda: day > dt.date.fromisoformat(value),
            "between": lambda: dt.date.fromisoformat(value[0]) <= day
            <= dt.date.fromisoformat(value[1]),
            "in_last_days": lambda: TODAY - days() <= day <= TODAY,
            "more_than_days_ago": lambda: day < TODAY - days(),
        }[operator]()
    at = row["created_at"]
    if operator in ("is_empty", "is_not_empty"):
        return operator == "is_not_empty"
    if operator == "in_last_days":
        return at >= NOW - dt.timedelta(days=value)
    if operator == "more_than_days_ago":
        return at < NOW - dt.timedelta(days=value)
    if operator == "between":
        low, high = (dt.date.fromisoformat(v) for v in value)
        return _start(low) <= at < _start(high + dt.timedelta(days=1))
    day = dt.date.fromisoformat(value)
    return {
        "equals": _start(day) <= at < _start(day + dt.timedelta(days=1)),
        "before": at < _start(day),
        "after": at >= _start(day + dt.timedelta(days=1)),
    }[operator]


def _matches(rule: dict, row: dict) -> bool:
    if "rules" in rule:
        results = [_matches(child, row) for child in rule["rules"]]
        return all(results) if rule["op"] == "and" else any(results)
    field, operator, value = rule["field"], rule["operator"], rule.get("value")
    if field in TEXT_FIELDS:
        have = _text_of(row, field).upper()
        want = value.upper() if isinstance(value, str) else [v.upper() for v in value]
        return {
            "equals": lambda: have == want, "not_equals": lambda: have != want,
            "contains": lambda: want in have, "not_contains": lambda: want not in have,
            "starts_with": lambda: have.startswith(want), "ends_with": lambda: have.endswith(want),
            "is_empty": lambda: have == "", "is_not_empty": lambda: have != "",
            "in": lambda: have in want, "not_in": lambda: have not in want,
        }[operator]()
    if field == "custom.score":
        score = row["score"]
        if operator in ("is_empty", "is_not_empty"):
            return (score is None) == (operator == "is_empty")
        if score is None:
            return False
        return {
            "equals": lambda: score == value, "not_equals": lambda: score != value,
            "lt": lambda: score < value, "lte": lambda: score <= value,
            "gt": lambda: score > value, "gte": lambda: score >= value,
            "between": lambda: value[0] <= score <= value[1],
        }[operator]()
    if field in ("created_at", "custom.renewal"):
        return _date_matches(field, operator, value, row)
    if field == "custom.vip":
        if operator in ("is_empty", "is_not_empty"):
            return (row["vip"] is None) == (operator == "is_empty")
        return row["vip"] is value
    if field == "status":
        return (row["status"] == value) == (operator == "equals")
    have = {t.upper() for t in row["tags"]}
    want = {t.upper() for t in value}
    return {
        "has_any": lambda: bool(have & want), "has_all": lambda: want <= have,
        "has_none": lambda: not have & want, "is_empty": lambda: not have,
        "is_not_empty": lambda: bool(have),
    }[operator]()


# --- the property ------------------------------------------------------------------------------


@pytest.fixture
def rule_fields(tenant):
    fields = [
        CustomField.objects.create(key="note", label="Note", field_type="text"),
        CustomField.objects.create(key="score", label="Score", field_type="number"),
        CustomField.objects.create(key="renewal", label="Renewal", field_type="date"),
        CustomField.objects.create(key="vip", label="VIP", field_type="boolean"),
    ]
    tags = {name: Tag.objects.create(name=name) for name in TAGS}
    return fields, tags


def _store(rows: list[dict], tags: dict[str, Tag]) -> list[dict]:
    stored = []
    for index, row in enumerate(rows):
        email = f"{row['local']}{index}@{row['domain']}"
        custom = {key: row[key] for key in ("note", "score", "renewal", "vip")
                  if row[key] is not None}
        contact = Contact.objects.create(
            email=email, email_normalized=email, first_name=row["first_name"],
            company=row["company"], city=row["city"], status=row["status"],
            custom_fields=custom,
        )
        created_at = NOW - dt.timedelta(days=row["created_days_ago"], hours=index)
        Contact.objects.filter(pk=contact.pk).update(created_at=created_at)
        ContactTag.objects.bulk_create(ContactTag(contact=contact, tag=tags[t]) for t in row["tags"])
        stored.append({**row, "id": contact.pk, "email": email, "created_at": created_at})
    return stored


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(rows=contacts_strategy, tree=tree_strategy, exclude=st.none() | tree_strategy)
def test_compiled_rules_agree_with_python_evaluation(rule_fields, rows, tree, exclude):
    fields, tags = rule_fields
    try:
        stored = _store(rows, tags)
        q = compile_rules(tree, exclude=exclude, now=NOW, custom_fields=fields)
        got = set(Contact.objects.filter(q).values_list("pk", flat=True))
        expected = {
            row["id"] for row in stored
            if _matches(tree, row) and not (exclude and _matches(exclude, row))
        }
        assert got == expected
        # The same rules as the literal condition incremental updates evaluate row by row.
        with connection.cursor() as cursor:
            cursor.execute('SELECT "contacts_contact"."id" FROM "contacts_contact" WHERE '
                           + condition_sql(q))
            assert {pk for (pk,) in cursor.fetchall()} == expected
    finally:
        Contact.objects.all().delete()


# --- refusals ----------------------------------------------------------------------------------


def _refusal(tree, **kwargs) -> str:
    with pytest.raises(RuleError) as info:
        compile_rules(tree, **kwargs)
    return str(info.value)


def test_unknown_field_is_refused_with_its_path(tenant):
    tree = {"op": "and", "rules": [{"field": "company", "operator": "equals", "value": "x"},
                                   {"op": "or", "rules": [{"field": "shoe_size",
                                                           "operator": "equals", "value": 3}]}]}
    assert _refusal(tree) == "rules[1].rules[0]: Unknown field 'shoe_size'."


def test_operator_of_another_type_is_refused(tenant):
    tree = {"op": "and", "rules": [{"field": "company", "operator": "gt", "value": 3}]}
    assert _refusal(tree).startswith("rules[0]: company: unknown operator 'gt' for a text field")


def test_bad_date_is_refused(tenant):
    tree = {"op": "and", "rules": [{"field": "created_at", "operator": "before",
                                    "value": "2024-02-30"}]}
    assert _refusal(tree) == (
        "rules[0]: created_at before: '2024-02-30' is not a date (use YYYY-MM-DD)."
    )


def test_wrong_value_types_are_refused(tenant):
    CustomField.objects.create(key="score", label="Score", field_type="number")
    assert _refusal({"op": "and", "rules": [
        {"field": "custom.score", "operator": "gt", "value": "lots"}]}) == (
        "rules[0]: custom.score gt: 'lots' is not a number.")
    assert _refusal({"op": "and", "rules": [
        {"field": "status", "operator": "equals", "value": "asleep"}]}) == (
        "rules[0]: status equals: 'asleep' is not one of active, unsubscribed, bounced.")
    assert _refusal({"op": "and", "rules": [
        {"field": "created_at", "operator": "in_last_days", "value": -3}]}) == (
        "rules[0]: created_at in_last_days: the number of days must be between 0 and 36,500.")
    assert _refusal({"op": "xor", "rules": []}) == (
        "rules: Unknown group operator 'xor'; use \"and\" or \"or\".")


def test_deep_nesting_is_refused(tenant):
    tree = {"field": "company", "operator": "equals", "value": "x"}
    for _ in range(MAX_DEPTH + 1):
        tree = {"op": "and", "rules": [tree]}
    assert "nested too deeply" in _refusal(tree)


def test_ten_thousand_values_in_a_list_compile_to_one_parameter(tenant):
    Contact.objects.create(email="v9999@x.com", email_normalized="v9999@x.com")
    Contact.objects.create(email="other@x.com", email_normalized="other@x.com")
    values = [f"V{i}@X.COM" for i in range(MAX_VALUES)]
    q = compile_rules({"op": "and", "rules": [{"field": "email", "operator": "in",
                                                "value": values}]})
    assert list(Contact.objects.filter(q).values_list("email", flat=True)) == ["v9999@x.com"]
    assert "Too" not in str(q)
    too_many = {"op": "and", "rules": [{"field": "email", "operator": "in",
                                        "value": [*values, "one-more"]}]}
    assert _refusal(too_many) == "rules[0]: email in: at most 10,000 values (got 10,001)."


@pytest.mark.parametrize("extra", [0, compiler._UpperAnyOf.INLINE_VALUES])
def test_in_list_with_and_without_the_empty_value_on_a_custom_field(tenant, extra):
    """Both forms of a case-insensitive IN (inline constants, and one array parameter past
    INLINE_VALUES) test the empty value before upper-casing: '' in the list matches contacts
    that left the field empty (or never had it), and only then."""
    CustomField.objects.create(key="note", label="Note", field_type="text")
    Contact.objects.create(email="empty@x.com", email_normalized="empty@x.com")
    Contact.objects.create(email="blank@x.com", email_normalized="blank@x.com",
                           custom_fields={"note": ""})
    Contact.objects.create(email="gold@x.com", email_normalized="gold@x.com",
                           custom_fields={"note": "Gold"})
    Contact.objects.create(email="tin@x.com", email_normalized="tin@x.com",
                           custom_fields={"note": "tin"})
    padding = [f"pad{i}" for i in range(extra)]

    def matching(operator, values):
        q = compile_rules({"op": "and", "rules": [{"field": "custom.note", "operator": operator,
                                                    "value": [*values, *padding]}]})
        return set(Contact.objects.filter(q).values_list("email", flat=True))

    assert matching("in", ["GOLD"]) == {"gold@x.com"}
    assert matching("in", ["gold", ""]) == {"gold@x.com", "empty@x.com", "blank@x.com"}
    assert matching("not_in", ["gold"]) == {"tin@x.com", "empty@x.com", "blank@x.com"}
    assert matching("not_in", ["", "TIN"]) == {"gold@x.com"}


def test_sql_metacharacters_are_plain_text(tenant):
    Contact.objects.create(email="a@x.com", email_normalized="a@x.com", company="50%_off'; --")
    Contact.objects.create(email="b@x.com", email_normalized="b@x.com", company="5000 off")
    for value in ("%_off'", "'; --", ".*"):
        q = compile_rules({"op": "and", "rules": [{"field": "company", "operator": "contains",
                                                    "value": value}]})
        expected = ["a@x.com"] if value != ".*" else []
        assert list(Contact.objects.filter(q).values_list("email", flat=True)) == expected


def test_empty_tree_matches_everyone_but_an_empty_nested_group_is_refused(tenant):
    Contact.objects.create(email="a@x.com", email_normalized="a@x.com")
    assert Contact.objects.filter(compile_rules({"op": "and", "rules": []})).count() == 1
    assert _refusal({"op": "and", "rules": [{"op": "or", "rules": []}]}) == (
        "rules[0].rules: This group is empty; add a condition or remove the group.")


def test_custom_fields_are_per_tenant(tenant, other_tenant):
    from tests.conftest import in_schema

    CustomField.objects.create(key="score", label="Score", field_type="number")
    rule = {"op": "and", "rules": [{"field": "custom.score", "operator": "gt", "value": 1}]}
    assert compile_rules(rule) is not None
    with in_schema(other_tenant):
        assert _refusal(rule) == "rules[0]: Unknown field 'custom.score'."


def test_conditions_nobody_or_everybody_matches_still_make_sql(tenant):
    Contact.objects.create(email="a@x.com", email_normalized="a@x.com")
    for rule, expected in (
        ({"field": "tags", "operator": "has_any", "value": ["no such tag"]}, 0),
        ({"field": "tags", "operator": "has_all", "value": ["no such tag"]}, 0),
        ({"field": "tags", "operator": "has_none", "value": ["no such tag"]}, 1),
        ({"field": "created_at", "operator": "is_empty"}, 0),
        ({"field": "created_at", "operator": "is_not_empty"}, 1),
    ):
        qs = Contact.objects.filter(compile_rules({"op": "and", "rules": [rule]}))
        sql, _params = qs.values("pk").query.sql_with_params()  # a segment refresh needs SQL
        assert "SELECT" in sql
        assert qs.count() == expected, rule


# --- case-insensitive text under each collation ------------------------------------------------


def test_the_collation_probe_reads_the_database(tenant):
    with connection.cursor() as cursor:
        cursor.execute("SELECT upper('i') = 'I', coalesce(to_jsonb(d) ->> 'datlocprovider', "
                       "'c') FROM pg_database d WHERE d.datname = current_database()")
        plain, provider = cursor.fetchone()
    assert compiler._case_rules() == compiler._CaseRules(ascii_plain=plain,
                                                         keeps_length=provider == "c")


@pytest.mark.parametrize("ascii_plain", [True, False])
@pytest.mark.parametrize("keeps_length", [True, False])
def test_case_insensitive_text_gives_the_same_answers_on_every_path(
    tenant, monkeypatch, ascii_plain, keeps_length
):
    """The ASCII fast path of upper() and the length pre-test of equals are used only where
    the collation allows them; each combination answers alike (the plain UPPER() forms)."""
    rules = compiler._CaseRules(ascii_plain=ascii_plain, keeps_length=keeps_length)
    monkeypatch.setattr(compiler, "_case_rules", lambda: rules)
    names = ["München", "MÜNCHEN", "munchen", "Acme", "ACME", "acme inc", "", "Ärger", "50%_x"]
    for index, name in enumerate(names):
        ContactFactory(email=f"c{index}@example.com", company=name)

    def companies(operator, value):
        q = compile_rules({"op": "and", "rules": [
            {"field": "company", "operator": operator, "value": value}]})
        found = set(Contact.objects.filter(q).values_list("company", flat=True))
        with connection.cursor() as cursor:  # and the literal form incremental updates use
            cursor.execute('SELECT company FROM "contacts_contact" WHERE ' + condition_sql(q))
            assert {name for (name,) in cursor.fetchall()} == found
        return found

    assert companies("equals", "münchen") == {"München", "MÜNCHEN"}
    assert companies("equals", "ACME") == {"Acme", "ACME"}
    assert companies("not_equals", "acme") == set(names) - {"Acme", "ACME"}
    assert companies("contains", "cme") == {"Acme", "ACME", "acme inc"}
    assert companies("contains", "%_") == {"50%_x"}
    assert companies("not_contains", "ü") == set(names) - {"München", "MÜNCHEN"}
    assert companies("starts_with", "mü") == {"München", "MÜNCHEN"}
    assert companies("ends_with", "GER") == {"Ärger"}
    assert companies("in", ["acme", "MÜNCHEN", "nobody"]) == {"Acme", "ACME", "München",
                                                            "MÜNCHEN"}
    assert companies("not_in", ["", "acme inc"]) == set(names) - {"", "acme inc"}


@pytest.mark.parametrize("operator, value", [
    ("contains", "É"), ("contains", "ZOÉ"), ("equals", "ZOÉ@ACME.COM"), ("starts_with", "ZOÉ"),
    ("ends_with", "É@ACME.COM"), ("in", ["nobody@x.com", "ZOÉ@ACME.COM"]),
])
def test_email_rules_fold_non_ascii_case_despite_the_c_collation(tenant, other_tenant, operator,
                                                                 value):
    """email_normalized is in the "C" collation (its index serves prefix search and sorting),
    where UPPER() alone folds ASCII letters only."""
    from tests.conftest import in_schema

    zoe = ContactFactory(email="zoé@acme.com", email_normalized="zoé@acme.com")
    ContactFactory(email="zoe@acme.com", email_normalized="zoe@acme.com")
    with in_schema(other_tenant):
        ContactFactory(email="zoé@acme.com", email_normalized="zoé@acme.com")
    q = compile_rules({"op": "and", "rules": [
        {"field": "email", "operator": operator, "value": value}]})
    assert list(Contact.objects.filter(q).values_list("pk", flat=True)) == [zoe.pk]
    with connection.cursor() as cursor:
        cursor.execute('SELECT "contacts_contact"."id" FROM "contacts_contact" WHERE '
                       + condition_sql(q))
        assert [pk for (pk,) in cursor.fetchall()] == [zoe.pk]
