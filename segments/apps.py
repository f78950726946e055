from django.apps import AppConfig

from penguinleads.schedules import keep_schedules


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = "Lists, campaigns and segments"

    def ready(self) -> None:
        from django_q.models import Schedule

        from contacts.changes import register_contacts_changed
        from segments.dynamic.tasks import on_contacts_changed

        keep_schedules(self, {
            "Refresh dynamic segments": {
                "func": "segments.dynamic.tasks.refresh_all_tenants", "schedule_type": Schedule.MINUTES,
                "minutes": 30,
            },
        })
        register_contacts_changed(on_contacts_changed)
