from django.contrib import admin

from engagement.models import ContactScore, ScoreSettings


@admin.register(ScoreSettings)
class ScoreSettingsAdmin(admin.ModelAdmin):
    list_display = ("open_points", "click_points", "reply_points", "recent_days",
                    "recent_factor", "hot_from", "warm_from")


@admin.register(ContactScore)
class ContactScoreAdmin(admin.ModelAdmin):
    list_display = ("contact", "score", "band", "computed_score", "override_score",
                    "override_until")
    raw_id_fields = ("contact",)
    list_filter = ("band",)
