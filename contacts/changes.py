"""A tiny explicit registry for "these contacts changed", so that apps built on contacts
(segments) can keep derived data current without contacts importing them.

Writers of contacts call ``contacts_changed(contact_ids=...)``; apps register a callback in
their AppConfig.ready() with ``register_contacts_changed(callback)``. Callbacks run after the
current transaction commits (never for a change that rolled back), in the same tenant schema,
as ``callback(contact_ids=[...])``; they should only enqueue work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.db import connection, transaction

logger = logging.getLogger(__name__)
_callbacks: list[Callable[..., None]] = []


def register_contacts_changed(callback: Callable[..., None]) -> None:
    """Add `callback(*, contact_ids: list[int])`; registering the same one twice is a no-op."""
    if callback not in _callbacks:
        _callbacks.append(callback)


def contacts_changed(*, contact_ids: Iterable[int]) -> None:
    """Tell the registered callbacks, once the transaction commits, that these contacts were
    created or changed. Side effects: whatever the callbacks do (enqueue jobs)."""
    ids = sorted({int(i) for i in contact_ids})
    if not ids or not _callbacks:
        return
    schema = connection.schema_name

    def notify() -> None:
        from django_tenants.utils import schema_context

        with schema_context(schema):
            for callback in list(_callbacks):
                try:
                    callback(contact_ids=ids)
                except Exception:  # a derived-data hook must never break a contact write
                    logger.exception("contacts_changed callback %r failed", callback)

    transaction.on_commit(notify)
