from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "penguinleads.tenants"
    label = "tenants"
    verbose_name = "Workspaces (tenants)"
