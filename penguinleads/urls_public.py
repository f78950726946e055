"""URLs of the public schema (the bare domain): landing page and the support admin."""

from django.contrib import admin
from django.urls import path

from penguinleads import views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
