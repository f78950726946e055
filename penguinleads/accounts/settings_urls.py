"""Settings pages, mounted at /settings/ on a tenant host."""

from django.urls import include, path

from penguinleads.accounts import views

urlpatterns = [
    path("", views.settings_index, name="settings"),
    path("team/", views.team, name="settings_team"),
    path("team/add/", views.add_member, name="settings_member_add"),
    path("team/<int:pk>/", views.member_detail, name="settings_member"),
    path(
        "team/<int:pk>/deactivate/",
        views.member_set_active,
        {"active": False},
        name="settings_member_deactivate",
    ),
    path(
        "team/<int:pk>/reactivate/",
        views.member_set_active,
        {"active": True},
        name="settings_member_reactivate",
    ),
    path("api-keys/", views.api_keys, name="settings_api_keys"),
    path("api-keys/new/", views.api_key_create, name="settings_api_key_add"),
    path("api-keys/<int:pk>/revoke/", views.api_key_revoke, name="settings_api_key_revoke"),
    path("webhooks/", include("webhooks.urls")),
    path("scoring/", include("engagement.settings_urls")),
]
