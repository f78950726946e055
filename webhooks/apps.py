from django.apps import AppConfig

from penguinleads.schedules import keep_schedules


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Outbound webhooks"

    def ready(self) -> None:
        from django_q.models import Schedule

        # The safety net of deliveries: every minute, send what is due (retries, and first
        # attempts whose enqueued task was lost with a dead worker).
        keep_schedules(self, {
            "Send due webhook deliveries": {
                "func": "webhooks.tasks.send_due_all_tenants", "schedule_type": Schedule.MINUTES,
                "minutes": 1,
            },
        })
