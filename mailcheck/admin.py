"""The DNS verdict cache and the disposable allow-list in the support admin. Both tables are
shared by every workspace, so they appear on the bare domain's admin only: a tenant host's
admin (opened by support login) must not let a workspace change what all others see."""

from __future__ import annotations

from disposable_email_domains import blocklist
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import connection

from mailcheck.checks import ascii_domain, forget_allowlist
from mailcheck.models import AllowedDomain, DomainCheck


def _on_public() -> bool:
    return connection.schema_name == "public"


class PublicSchemaOnly(admin.ModelAdmin):
    def has_module_permission(self, request):
        return _on_public() and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return _on_public() and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return _on_public() and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return _on_public() and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return _on_public() and super().has_delete_permission(request, obj)


@admin.register(DomainCheck)
class DomainCheckAdmin(PublicSchemaOnly):
    """Read-only: rows are facts found by DNS. Forgetting rows makes the next import ask again."""

    list_display = ["domain", "status", "reason", "mx_hosts", "checked_at", "expires_at"]
    list_filter = ["status", "reason"]
    search_fields = ["domain"]
    ordering = ["domain"]
    actions = ["forget_selected"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # "forget" says what deleting a cache row means
        return actions

    @admin.action(
        description="Forget selected (check again on next import)", permissions=["delete"]
    )
    def forget_selected(self, request, queryset):
        count, _ = queryset.delete()
        self.message_user(request, f"Forgot {count} domain check(s).", messages.SUCCESS)


class AllowedDomainForm(forms.ModelForm):
    class Meta:
        model = AllowedDomain
        fields = ["domain", "note"]

    def clean_domain(self) -> str:
        domain = ascii_domain(self.cleaned_data["domain"])
        if not domain:
            raise ValidationError("Enter a domain name such as mailinator.com.")
        return domain


@admin.register(AllowedDomain)
class AllowedDomainAdmin(PublicSchemaOnly):
    """Domains never flagged as disposable, although the maintained list names them."""

    form = AllowedDomainForm
    list_display = ["domain", "on_disposable_list", "note", "created_at"]
    search_fields = ["domain", "note"]
    ordering = ["domain"]

    @admin.display(description="On the disposable list", boolean=True)
    def on_disposable_list(self, allowed: AllowedDomain) -> bool:
        return allowed.domain in blocklist

    # This process forgets its copy at once; other processes within ALLOWLIST_TTL_SECONDS.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        forget_allowlist()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        forget_allowlist()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        forget_allowlist()
