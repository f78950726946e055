from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_schedules(sender, **kwargs) -> None:
    """The django-q2 schedules imports rely on (the schedule table is in the public schema)."""
    from django.db import connection

    if connection.schema_name != "public":
        return
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name="Resume stalled imports",
        defaults={
            "func": "imports.tasks.resume_stalled_imports",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
    Schedule.objects.update_or_create(
        name="Delete expired exports",
        defaults={
            "func": "imports.exports.tasks.delete_expired_exports",
            "schedule_type": Schedule.HOURLY,
            "repeats": -1,
        },
    )


class ImportsConfig(AppConfig):
    name = "imports"
    verbose_name = "Imports"

    def ready(self) -> None:
        post_migrate.connect(ensure_schedules, sender=self)
