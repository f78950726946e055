"""Segment rules over engagement (score, score_band, event): SQL agrees with a plain Python
reading of the same rules (hypothesis), bad values are refused by rule path, relative windows
move with time, the event subquery can use the timeline index, and tenants stay apart."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.models import Contact
from engagement.models import ContactScore, EmailEvent
from segments.dynamic.refresh import condition_sql
from segments.models import Campaign
from segments.rules import RuleError, compile_rules
from tests.conftest import in_schema
from tests.factories import ContactFactory

NOW = timezone.make_aware(dt.datetime(2026, 6, 15, 12, 0))
TODAY = timezone.localdate(NOW)
TYPES = ["sent", "opened", "clicked", "replied", "bounced", "unsubscribed"]
BANDS = ["hot", "warm", "cold"]
# Campaign names; "spring" twice in different case: a name picks every campaign of that name.
CAMPAIGNS = ["Spring", "SPRING", "Summer"]
_ids = itertools.count(1)


def _day(offset: int) -> dt.date:
    return TODAY + dt.timedelta(days=offset)


def _start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


contacts_strategy = st.lists(
    st.fixed_dictionaries({
        # None: no ContactScore row (score 0, cold). Bands are stored, not derived here.
        "score": st.none() | st.tuples(st.integers(-3, 60), st.sampled_from(BANDS)),
        "events": st.lists(st.tuples(
            st.sampled_from(TYPES), st.none() | st.sampled_from(range(len(CAMPAIGNS))),
            st.integers(0, 40 * 24),  # hours before NOW
        ), max_size=4),
    }),
    min_size=2, max_size=8,
)

number = st.integers(-3, 60) | st.sampled_from([0, 0.5, 2.5, -0.5, 19.99, 1e12, -1e12])
score_condition = st.builds(
    lambda o, v: {"field": "score", "operator": o, "value": v},
    st.sampled_from(["equals", "not_equals", "lt", "lte", "gt", "gte"]), number,
) | st.builds(
    lambda a, b: {"field": "score", "operator": "between", "value": sorted([a, b])},
    number, number,
)
band_condition = st.builds(
    lambda o, v: {"field": "score_band", "operator": o, "value": v},
    st.sampled_from(["equals", "not_equals"]), st.sampled_from(BANDS),
) | st.builds(
    lambda o, v: {"field": "score_band", "operator": o, "value": v},
    st.sampled_from(["in", "not_in"]), st.lists(st.sampled_from(BANDS), min_size=1, max_size=3),
)


def _event_value(kind, campaign, days, after, before):
    value = {"type": kind}
    for key, item in (("campaign", campaign), ("in_last_days", days), ("after", after),
                      ("before", before)):
        if item is not None:
            value[key] = item
    if after is not None and before is not None and before <= after:
        del value["before"]
    return value


event_condition = st.builds(
    lambda o, v: {"field": "event", "operator": o, "value": v},
    st.sampled_from(["has_any", "has_none"]),
    st.builds(
        _event_value, st.sampled_from(["any", *TYPES]),
        st.none() | st.sampled_from(["spring", "Summer"]),  # names; ids are set per example
        st.none() | st.integers(0, 45),
        st.none() | st.integers(-45, 1).map(lambda d: _day(d).isoformat()),
        st.none() | st.integers(-45, 1).map(lambda d: _day(d).isoformat()),
    ),
)
condition = score_condition | band_condition | event_condition
tree_strategy = st.recursive(
    condition,
    lambda children: st.builds(
        lambda op, rules: {"op": op, "rules": rules},
        st.sampled_from(["and", "or"]), st.lists(children, min_size=1, max_size=3),
    ),
    max_leaves=6,
).map(lambda node: node if "rules" in node else {"op": "and", "rules": [node]})


# --- the reference ------------------------------------------------------------------------------


def _score_matches(operator: str, value, score: int) -> bool:
    return {
        "equals": lambda: score == value, "not_equals": lambda: score != value,
        "lt": lambda: score < value, "lte": lambda: score <= value,
        "gt": lambda: score > value, "gte": lambda: score >= value,
        "between": lambda: value[0] <= score <= value[1],
    }[operator]()


def _event_matches(value: dict, event: tuple, campaign_names: list[str]) -> bool:
    kind, campaign, at = event
    if value["type"] != "any" and kind != value["type"]:
        return False
    if "campaign" in value and (campaign is None
                                or campaign_names[campaign].lower() != value["campaign"].lower()):
        return False
    if "in_last_days" in value and at < NOW - dt.timedelta(days=value["in_last_days"]):
        return False
    if "after" in value and at < _start(dt.date.fromisoformat(value["after"])
                                        + dt.timedelta(days=1)):
        return False
    return not ("before" in value and at >= _start(dt.date.fromisoformat(value["before"])))


def _matches(rule: dict, row: dict) -> bool:
    if "rules" in rule:
        results = [_matches(child, row) for child in rule["rules"]]
        return all(results) if rule["op"] == "and" else any(results)
    field, operator, value = rule["field"], rule["operator"], rule["value"]
    score, band = row["score"] or (0, "cold")
    if field == "score":
        return _score_matches(operator, value, score)
    if field == "score_band":
        wanted = value if isinstance(value, list) else [value]
        return (band in wanted) == (operator in ("equals", "in"))
    found = any(_event_matches(value, e, CAMPAIGNS) for e in row["events"])
    return found == (operator == "has_any")


def _store(rows: list[dict], campaigns: list[Campaign]) -> list[dict]:
    stored = []
    for row in rows:
        contact = ContactFactory()
        if row["score"] is not None:
            ContactScore.objects.create(contact=contact, score=row["score"][0],
                                        computed_score=row["score"][0], band=row["score"][1])
        events = [(kind, campaign, NOW - dt.timedelta(hours=hours))
                  for kind, campaign, hours in row["events"]]
        EmailEvent.objects.bulk_create(
            EmailEvent(event_id=f"e{next(_ids)}", contact=contact, type=kind, occurred_at=at,
                       campaign=None if campaign is None else campaigns[campaign])
            for kind, campaign, at in events
        )
        stored.append({**row, "id": contact.pk, "events": events})
    return stored


@pytest.fixture
def campaigns(tenant):
    return [Campaign.objects.create(name=name) for name in CAMPAIGNS]


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=contacts_strategy, tree=tree_strategy, exclude=st.none() | tree_strategy)
def test_engagement_rules_agree_with_python_evaluation(campaigns, rows, tree, exclude):
    try:
        stored = _store(rows, campaigns)
        q = compile_rules(tree, exclude=exclude, now=NOW)
        got = set(Contact.objects.filter(q).values_list("pk", flat=True))
        expected = {row["id"] for row in stored
                    if _matches(tree, row) and not (exclude and _matches(exclude, row))}
        assert got == expected
        with connection.cursor() as cursor:  # as incremental updates evaluate them
            cursor.execute('SELECT "contacts_contact"."id" FROM "contacts_contact" WHERE '
                           + condition_sql(q))
            assert {pk for (pk,) in cursor.fetchall()} == expected
    finally:
        Contact.objects.all().delete()


# --- examples -------------------------------------------------------------------------------------


def _tree(*conditions) -> dict:
    return {"op": "and", "rules": list(conditions)}


def _emails(tree, **kwargs) -> list[str]:
    q = compile_rules(tree, **kwargs)
    return sorted(Contact.objects.filter(q).values_list("email", flat=True))


@pytest.fixture
def people(campaigns):
    ada, bob, cy = (ContactFactory(email=f"{n}@example.com") for n in ("ada", "bob", "cy"))
    ContactScore.objects.create(contact=ada, score=55, computed_score=55, band="hot")
    ContactScore.objects.create(contact=bob, score=0, computed_score=0, band="cold")
    EmailEvent.objects.create(event_id="a1", contact=ada, type="opened", campaign=campaigns[0],
                              occurred_at=NOW - dt.timedelta(days=3))
    EmailEvent.objects.create(event_id="a2", contact=ada, type="clicked", campaign=campaigns[2],
                              occurred_at=NOW - dt.timedelta(days=20))
    EmailEvent.objects.create(event_id="b1", contact=bob, type="replied", campaign=None,
                              occurred_at=NOW - dt.timedelta(days=10))
    return ada, bob, cy


def test_the_use_cases_of_the_issue(people, campaigns):
    opened_14 = _tree({"field": "event", "operator": "has_any",
                       "value": {"type": "opened", "in_last_days": 14}})
    clicked_summer = _tree({"field": "event", "operator": "has_any",
                            "value": {"type": "clicked", "campaign": campaigns[2].pk}})
    no_reply_since = _tree({"field": "event", "operator": "has_none",
                            "value": {"type": "replied", "after": _day(-7).isoformat()}})
    no_reply_since_long = _tree({"field": "event", "operator": "has_none",
                                 "value": {"type": "replied", "after": _day(-30).isoformat()}})
    assert _emails(opened_14, now=NOW) == ["ada@example.com"]
    assert _emails(clicked_summer, now=NOW) == ["ada@example.com"]
    assert _emails(no_reply_since, now=NOW) == ["ada@example.com", "bob@example.com",
                                                "cy@example.com"]
    assert _emails(no_reply_since_long, now=NOW) == ["ada@example.com", "cy@example.com"]


def test_contacts_without_a_score_count_as_zero_and_cold(people):
    assert _emails(_tree({"field": "score", "operator": "equals", "value": 0})) == [
        "bob@example.com", "cy@example.com"]
    assert _emails(_tree({"field": "score", "operator": "lt", "value": 10})) == [
        "bob@example.com", "cy@example.com"]
    assert _emails(_tree({"field": "score", "operator": "between", "value": [50, 60]})) == [
        "ada@example.com"]
    assert _emails(_tree({"field": "score_band", "operator": "equals", "value": "cold"})) == [
        "bob@example.com", "cy@example.com"]
    assert _emails(_tree({"field": "score_band", "operator": "in",
                          "value": ["hot", "warm"]})) == ["ada@example.com"]


def test_fractional_score_values_compare_as_numbers(people):
    assert _emails(_tree({"field": "score", "operator": "equals", "value": 54.5})) == []
    assert _emails(_tree({"field": "score", "operator": "gt", "value": 54.5})) == [
        "ada@example.com"]
    assert _emails(_tree({"field": "score", "operator": "lte", "value": 54.5})) == [
        "bob@example.com", "cy@example.com"]
    assert _emails(_tree({"field": "score", "operator": "gte", "value": 1e30})) == []


def test_in_last_days_moves_with_the_time_the_rules_are_compiled(people):
    opened_7 = _tree({"field": "event", "operator": "has_any",
                      "value": {"type": "opened", "in_last_days": 7}})
    assert _emails(opened_7, now=NOW) == ["ada@example.com"]
    assert _emails(opened_7, now=NOW + dt.timedelta(days=5)) == []


def test_a_campaign_name_matches_every_campaign_of_that_name_ignoring_case(people, campaigns):
    cy = Contact.objects.get(email="cy@example.com")
    EmailEvent.objects.create(event_id="c1", contact=cy, type="opened", campaign=campaigns[1],
                              occurred_at=NOW)
    rule = _tree({"field": "event", "operator": "has_any",
                  "value": {"type": "any", "campaign": "  spring "}})
    assert _emails(rule, now=NOW) == ["ada@example.com", "cy@example.com"]


def test_an_engagement_rule_is_one_query_of_exists_subqueries(people, campaigns):
    tree = {"op": "or", "rules": [
        {"field": "score_band", "operator": "equals", "value": "hot"},
        {"field": "event", "operator": "has_none",
         "value": {"type": "opened", "campaign": "Spring", "in_last_days": 30}}]}
    q = compile_rules(tree, now=NOW)
    with CaptureQueriesContext(connection) as captured:
        emails = sorted(Contact.objects.filter(q).values_list("email", flat=True))
    assert emails == ["ada@example.com", "bob@example.com", "cy@example.com"]
    [sql] = [c["sql"] for c in captured.captured_queries if not c["sql"].startswith("SET ")]
    assert sql.count("EXISTS") == 2 and "engagement_emailevent" in sql


def test_the_event_subquery_can_use_the_timeline_index(people):
    q = compile_rules(_tree({"field": "event", "operator": "has_any",
                             "value": {"type": "opened", "in_last_days": 14}}), now=NOW)
    sql, params = Contact.objects.filter(q).values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # tiny tables: show what it can use
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "emailevent_timeline_idx" in plan


def _refusal(rule) -> str:
    with pytest.raises(RuleError) as info:
        compile_rules(_tree({"field": "company", "operator": "equals", "value": "x"}, rule))
    return str(info.value)


@pytest.mark.parametrize(("rule", "message"), [
    ({"field": "event", "operator": "has_any", "value": {"type": "viewed"}},
     "rules[1]: event has_any: type must be one of any, sent, opened, clicked, replied, "
     "bounced, unsubscribed (got 'viewed')."),
    ({"field": "event", "operator": "has_any", "value": {"campaign": 1}},
     "rules[1]: event has_any: type must be one of any, sent, opened, clicked, replied, "
     "bounced, unsubscribed (got None)."),
    ({"field": "event", "operator": "has_any", "value": "opened"},
     'rules[1]: event has_any: the value must be an object such as {"type": "opened", '
     '"campaign": 12, "in_last_days": 14}.'),
    ({"field": "event", "operator": "has_none", "value": {"type": "opened", "when": "today"}},
     "rules[1]: event has_none: unknown key 'when' (use type, campaign, in_last_days, after, "
     "before)."),
    ({"field": "event", "operator": "has_any", "value": {"type": "opened", "in_last_days": -1}},
     "rules[1]: event has_any: in_last_days: the number of days must be between 0 and 36,500."),
    ({"field": "event", "operator": "has_any", "value": {"type": "opened", "in_last_days": "a"}},
     "rules[1]: event has_any: in_last_days: 'a' is not a whole number of days."),
    ({"field": "event", "operator": "has_any", "value": {"type": "sent", "after": "2026-02-30"}},
     "rules[1]: event has_any: after: '2026-02-30' is not a date (use YYYY-MM-DD)."),
    ({"field": "event", "operator": "has_any",
      "value": {"type": "sent", "after": "2026-05-02", "before": "2026-05-01"}},
     "rules[1]: event has_any: the before date must be later than the after date."),
    ({"field": "event", "operator": "has_any", "value": {"type": "sent", "campaign": 999999}},
     "rules[1]: event has_any: no campaign with id 999999."),
    ({"field": "event", "operator": "has_any", "value": {"type": "sent", "campaign": "Nope"}},
     "rules[1]: event has_any: no campaign named 'Nope'."),
    ({"field": "event", "operator": "has_any", "value": {"type": "sent", "campaign": True}},
     "rules[1]: event has_any: campaign must be a campaign id or a campaign name."),
    ({"field": "event", "operator": "equals", "value": {"type": "sent"}},
     "rules[1]: event: unknown operator 'equals' for an event field (use one of: has_any, "
     "has_none)."),
    ({"field": "score", "operator": "gt", "value": "lots"},
     "rules[1]: score gt: 'lots' is not a number."),
    ({"field": "score", "operator": "between", "value": [5, 1]},
     "rules[1]: score between: the first value of between must not be greater than the "
     "second."),
    ({"field": "score", "operator": "is_empty"},
     "rules[1]: score: unknown operator 'is_empty' for a number field (use one of: equals, "
     "not_equals, lt, lte, gt, gte, between)."),
    ({"field": "score_band", "operator": "equals", "value": "lukewarm"},
     "rules[1]: score_band equals: 'lukewarm' is not one of hot, warm, cold."),
    ({"field": "score_band", "operator": "in", "value": []},
     "rules[1]: score_band in: the value must be a non-empty list."),
])
def test_bad_engagement_values_are_refused_naming_the_rule(tenant, rule, message):
    assert _refusal(rule) == message


def test_other_tenants_scores_events_and_campaigns_are_not_seen(tenant, other_tenant):
    mine = ContactFactory(email="mine@example.com")
    with in_schema(other_tenant):
        theirs = ContactFactory(email="theirs@example.com")
        campaign = Campaign.objects.create(name="Theirs only")
        ContactScore.objects.create(contact=theirs, score=90, computed_score=90, band="hot")
        EmailEvent.objects.create(event_id="t1", contact=theirs, type="opened",
                                  campaign=campaign, occurred_at=timezone.now())
        hot = _tree({"field": "score_band", "operator": "equals", "value": "hot"})
        assert _emails(hot) == ["theirs@example.com"]
    opened = _tree({"field": "event", "operator": "has_any", "value": {"type": "opened"}})
    assert _emails(hot) == [] and _emails(opened) == []
    assert _emails(_tree({"field": "score", "operator": "equals", "value": 0})) == [mine.email]
    with pytest.raises(RuleError, match="no campaign named 'Theirs only'"):
        compile_rules(_tree({"field": "event", "operator": "has_any",
                             "value": {"type": "opened", "campaign": "Theirs only"}}))
    with pytest.raises(RuleError, match=f"no campaign with id {campaign.pk}"):
        compile_rules(_tree({"field": "event", "operator": "has_any",
                             "value": {"type": "opened", "campaign": campaign.pk}}))
