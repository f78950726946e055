"""django-q2 schedules that apps declare, created or updated after every migrate.

django-q2 keeps its schedules in the public schema, so they are written when the public schema
is migrated; a schedule's task then visits the tenants itself (it takes no schema)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_migrate


def keep_schedules(app_config, schedules: dict[str, dict[str, Any]]) -> None:
    """After each migrate of `app_config`, create or update the schedules {name: Schedule
    fields} (repeating forever unless the fields say otherwise)."""

    def ensure(sender, **kwargs) -> None:
        from django.db import connection
        from django_q.models import Schedule

        if connection.schema_name != "public":
            return
        for name, fields in schedules.items():
            Schedule.objects.update_or_create(name=name, defaults={"repeats": -1, **fields})

    post_migrate.connect(ensure, sender=app_config, weak=False,
                         dispatch_uid=f"schedules:{app_config.label}")
