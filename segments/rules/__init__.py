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
``score``                              ``equals`` ``not_equals`` ``lt`` ``lte`` ``gt`` ``gte``
                                       (number); ``between`` (``[low, high]``) — the lead
                                       score; a contact without one has 0
``score_band``                         ``equals`` ``not_equals`` (``hot`` ``warm`` ``cold``);
                                       ``in`` ``not_in`` (a list of them); no score is cold
``event``                              ``has_any`` ``has_none`` (an object: ``type`` one of
                                       ``any sent opened clicked replied bounced
                                       unsubscribed``; optional ``campaign`` (id, or name
                                       ignoring case), ``in_last_days`` (days),
                                       ``after`` / ``before`` (``YYYY-MM-DD``, exclusive))
=====================================  ==========================================================

``event`` asks whether the contact has (``has_any``) or has not (``has_none``) at least one
email event matching everything the object names, e.g. ``{"type": "opened",
"in_last_days": 14}`` (opened any campaign in the last 14 days), ``{"type": "clicked",
"campaign": 12}``, or with ``has_none`` ``{"type": "replied", "after": "2026-05-01"}`` (no
reply since that day). Details in segments/rules/engagement.py.
"""

from segments.rules.compiler import compile_rules
from segments.rules.fields import (
    ALWAYS,
    BOOLEAN_OPERATORS,
    CHOICE_FIELDS,
    CHOICE_OPERATORS,
    DATE_FIELDS,
    DATE_OPERATORS,
    ENGAGEMENT_FIELDS,
    EVENT_OPERATORS,
    EVENT_TYPES,
    LIST_OPERATORS,
    MAX_CONDITIONS,
    MAX_DAYS,
    MAX_DEPTH,
    MAX_VALUES,
    NEVER,
    NUMBER_OPERATORS,
    SCORE_BANDS,
    SCORE_OPERATORS,
    SEGMENT_OPERATORS,
    TAG_OPERATORS,
    TEXT_FIELDS,
    TEXT_OPERATORS,
    FieldSpec,
    RuleError,
    field_specs,
)
from segments.rules.graph import (
    check_no_cycle,
    dependency_order,
    referenced_fields,
    referenced_lists,
    referenced_segments,
    segment_conditions,
)

__all__ = [
    "ALWAYS", "BOOLEAN_OPERATORS", "CHOICE_FIELDS", "CHOICE_OPERATORS", "DATE_FIELDS",
    "DATE_OPERATORS", "ENGAGEMENT_FIELDS", "EVENT_OPERATORS", "EVENT_TYPES", "LIST_OPERATORS",
    "MAX_CONDITIONS", "MAX_DAYS", "MAX_DEPTH", "MAX_VALUES", "NEVER", "NUMBER_OPERATORS",
    "SCORE_BANDS", "SCORE_OPERATORS", "SEGMENT_OPERATORS", "TAG_OPERATORS", "TEXT_FIELDS",
    "TEXT_OPERATORS", "FieldSpec", "RuleError", "check_no_cycle", "compile_rules",
    "dependency_order", "field_specs", "referenced_fields", "referenced_lists",
    "referenced_segments", "segment_conditions",
]
