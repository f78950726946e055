from django.apps import AppConfig

from penguinleads.schedules import keep_schedules


class EngagementConfig(AppConfig):
    name = "engagement"
    verbose_name = "Engagement"

    def ready(self) -> None:
        from django_q.models import Schedule

        from contacts.bulk.hooks import register_bulk_delete_hooks
        from engagement import deletions

        # Events and scores survive a bulk delete's undo (contacts does not import us).
        register_bulk_delete_hooks(
            snapshot=deletions.snapshot_engagement, restore=deletions.restore_engagement,
            expire=deletions.expire_engagement_snapshots,
        )

        keep_schedules(self, {
            "Re-age lead scores": {
                "func": "engagement.tasks.reage_all_scores", "schedule_type": Schedule.DAILY,
            },
            "Expire lead score overrides": {
                "func": "engagement.tasks.expire_all_overrides", "schedule_type": Schedule.HOURLY,
            },
        })
