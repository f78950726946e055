"""A small explicit registry for data that other apps keep per contact and that a bulk delete
would lose (engagement: email events, score overrides, score history), so that undoing the
delete brings it back without contacts importing those apps (they depend on contacts, not the
reverse). Like contacts.changes, apps register in their AppConfig.ready():

    register_bulk_delete_hooks(snapshot=..., restore=..., expire=...)

- `snapshot(operation_id=, contact_ids=)` runs in the delete's transaction, once per chunk,
  BEFORE the contacts are purged: copy what would be lost, keyed by the operation.
- `restore(operation_id=, contact_ids=)` runs in the undo's transaction once the contacts are
  back with the same ids (`contact_ids` are only those restored, never the skipped ones): move
  the copy back. It may return a dict of extra counts for the operation's undo report.
- `expire(before=)` runs in the daily purge, per tenant: drop the copies of operations whose
  undo window closed before `before`.

Unlike contacts_changed callbacks, these run synchronously and their errors propagate: a
snapshot that failed must roll the delete back rather than lose the data. Hooks must be
set-based (a few statements per call whatever the number of contacts)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BulkDeleteHooks:
    snapshot: Callable[..., None]
    restore: Callable[..., dict[str, Any] | None]
    expire: Callable[..., None] | None = None


_hooks: list[BulkDeleteHooks] = []


def register_bulk_delete_hooks(
    *,
    snapshot: Callable[..., None],
    restore: Callable[..., dict[str, Any] | None],
    expire: Callable[..., None] | None = None,
) -> None:
    """Add a set of hooks (see the module docstring); registering the same set twice is a
    no-op (ready() may run more than once in tests)."""
    hooks = BulkDeleteHooks(snapshot=snapshot, restore=restore, expire=expire)
    if hooks not in _hooks:
        _hooks.append(hooks)


def snapshot_before_delete(*, operation_id: int, contact_ids: list[int]) -> None:
    """Call every snapshot hook for contacts about to be purged by bulk delete
    `operation_id`. Side effects: whatever the hooks write (their snapshot rows)."""
    if not contact_ids:
        return
    for hooks in list(_hooks):
        hooks.snapshot(operation_id=operation_id, contact_ids=contact_ids)


def restore_after_undo(*, operation_id: int, contact_ids: list[int]) -> dict[str, Any]:
    """Call every restore hook for the contacts the undo of `operation_id` put back. Side
    effects: whatever the hooks write. Returns the hooks' extra report entries, merged."""
    report: dict[str, Any] = {}
    if not contact_ids:
        return report
    for hooks in list(_hooks):
        report.update(hooks.restore(operation_id=operation_id, contact_ids=contact_ids) or {})
    return report


def expire_snapshots(*, before: dt.datetime) -> None:
    """Call every expire hook in the current tenant schema. Side effects: the hooks delete
    their snapshot rows of operations whose undo window closed before `before`."""
    for hooks in list(_hooks):
        if hooks.expire is not None:
            hooks.expire(before=before)
