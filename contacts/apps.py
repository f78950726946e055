from django.apps import AppConfig

from penguinleads.schedules import keep_schedules


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Contacts"

    def ready(self) -> None:
        from django_q.models import Schedule

        keep_schedules(self, {
            "Purge expired bulk-delete snapshots": {
                "func": "contacts.bulk.tasks.purge_expired_snapshots", "schedule_type": Schedule.DAILY,
            },
        })
