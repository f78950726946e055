from django.apps import AppConfig

from penguinleads.schedules import keep_schedules


class ImportsConfig(AppConfig):
    name = "imports"
    verbose_name = "Imports"

    def ready(self) -> None:
        from django_q.models import Schedule

        keep_schedules(self, {
            "Resume stalled imports": {
                "func": "imports.tasks.resume_stalled_imports", "schedule_type": Schedule.MINUTES,
                "minutes": 1,
            },
            "Delete expired exports": {
                "func": "imports.exports.tasks.delete_expired_exports", "schedule_type": Schedule.HOURLY,
            },
        })
