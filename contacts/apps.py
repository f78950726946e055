from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_schedules(sender, **kwargs) -> None:
    """The django-q2 schedules contacts rely on (the schedule table is in the public schema)."""
    from django.db import connection

    if connection.schema_name != "public":
        return
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name="Purge expired bulk-delete snapshots",
        defaults={
            "func": "contacts.bulk.tasks.purge_expired_snapshots",
            "schedule_type": Schedule.DAILY,
            "repeats": -1,
        },
    )


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Contacts"

    def ready(self) -> None:
        post_migrate.connect(ensure_schedules, sender=self)
