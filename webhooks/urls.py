"""Settings › Webhooks, mounted under /settings/webhooks/."""

from django.urls import path

from webhooks import views

urlpatterns = [
    path("", views.endpoint_list, name="settings_webhooks"),
    path("new/", views.endpoint_add, name="settings_webhook_add"),
    path("<int:pk>/", views.endpoint_detail, name="settings_webhook"),
    path("<int:pk>/edit/", views.endpoint_edit, name="settings_webhook_edit"),
    path("<int:pk>/delete/", views.endpoint_delete, name="settings_webhook_delete"),
    path("<int:pk>/enable/", views.endpoint_set_active, {"active": True},
         name="settings_webhook_enable"),
    path("<int:pk>/disable/", views.endpoint_set_active, {"active": False},
         name="settings_webhook_disable"),
    path("<int:pk>/test/", views.endpoint_test, name="settings_webhook_test"),
    path("deliveries/<int:pk>/replay/", views.delivery_replay, name="settings_webhook_replay"),
]
