"""Segments that refer to lists and to other segments: what a tree names, cycles, and the
order in which segments must be refreshed."""

from __future__ import annotations

from typing import Any

from segments.rules.compiler import _BadValue, _segment_ids
from segments.rules.fields import RuleError


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


def referenced_fields(tree: Any) -> set[str]:
    """The field tokens `tree` names in its conditions (at any depth)."""
    found: set[str] = set()
    if not isinstance(tree, dict) or not isinstance(tree.get("rules"), list):
        return found
    for child in tree["rules"]:
        if isinstance(child, dict) and "rules" in child:
            found |= referenced_fields(child)
        elif isinstance(child, dict) and isinstance(child.get("field"), str):
            found.add(child["field"])
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
