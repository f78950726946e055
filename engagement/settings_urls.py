"""Settings › Scoring & events, mounted under /settings/scoring/."""

from django.urls import path

from engagement import settings_views

urlpatterns = [
    path("", settings_views.scoring, name="settings_scoring"),
    path("secret/reveal/", settings_views.reveal_secret, name="settings_scoring_reveal"),
    path("secret/rotate/", settings_views.rotate_secret, name="settings_scoring_rotate"),
]
