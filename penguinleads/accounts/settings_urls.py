from django.urls import path

from penguinleads import views

urlpatterns = [
    path("", views.coming_soon, {"section": "lists"}, name="settings"),
]
