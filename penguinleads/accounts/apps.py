from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "penguinleads.accounts"
    label = "accounts"
    verbose_name = "People"
