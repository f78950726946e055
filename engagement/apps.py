from django.apps import AppConfig

from penguinleads.schedules import keep_schedules


class EngagementConfig(AppConfig):
    name = "engagement"
    verbose_name = "Engagement"

    def ready(self) -> None:
        from django_q.models import Schedule

        keep_schedules(self, {
            "Re-age lead scores": {
                "func": "engagement.tasks.reage_all_scores", "schedule_type": Schedule.DAILY,
            },
            "Expire lead score overrides": {
                "func": "engagement.tasks.expire_all_overrides", "schedule_type": Schedule.HOURLY,
            },
        })
