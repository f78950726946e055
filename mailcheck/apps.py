from django.apps import AppConfig


class MailcheckConfig(AppConfig):
    name = "mailcheck"
    verbose_name = "Email deliverability (shared)"
