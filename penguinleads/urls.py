"""URLs of a tenant host (<tenant>.localhost in development)."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from engagement import api as engagement_api
from penguinleads import views
from penguinleads.tenants import views as tenant_views

urlpatterns = [
    path("", RedirectView.as_view(url="/contacts/", permanent=False), name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("penguinleads.accounts.urls")),
    path("settings/", include("penguinleads.accounts.settings_urls")),
    path("contacts/", include("contacts.urls")),
    path("lists/", include("segments.urls")),
    path("campaigns/", include("segments.campaign_urls")),
    path("segments/", include("segments.dynamic.urls")),
    path("imports/", include("imports.urls")),
    path("api/v1/", include("penguinleads.api.urls")),
    path("webhooks/events", engagement_api.webhook_events, name="webhook_events"),
    path("support-login/<str:token>/", tenant_views.support_login, name="support_login"),
    path("admin/", admin.site.urls),
]
