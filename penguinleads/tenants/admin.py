"""The support admin on the bare domain: create, inspect, suspend and reactivate workspaces,
and open a workspace's own admin through a one-time support link (docs/support.md)."""

from __future__ import annotations

import re
import secrets

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.http.request import split_domain_port
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django_tenants.utils import schema_context

from penguinleads.accounts.services import issue_support_token
from penguinleads.tenants import services
from penguinleads.tenants.models import Domain, Tenant

HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def _on_public() -> bool:
    return connection.schema_name == "public"


class PublicOnlyAdmin(admin.ModelAdmin):
    """Tenants are managed from the bare domain only; a tenant host's admin must not list the
    other workspaces (their table is reachable from every schema's search path)."""

    def has_module_permission(self, request):
        return _on_public() and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return _on_public() and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return _on_public() and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return _on_public() and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Deleting a workspace drops a schema full of customer data: not a click in the admin.
        return False


class TenantAddForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="Shown to the workspace's users.")
    schema_name = forms.CharField(
        label="Schema",
        max_length=63,
        help_text="2-63 lower-case letters, digits or underscores, starting with a letter.",
    )
    domain = forms.CharField(
        max_length=253, help_text="The host that serves it, e.g. acme.localhost."
    )
    owner_email = forms.EmailField(label="Owner email")
    owner_password = forms.CharField(
        label="Owner password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to generate one; it is shown once after saving.",
    )

    def clean_schema_name(self) -> str:
        schema_name = self.cleaned_data["schema_name"].strip()
        services.validate_schema_name(schema_name)
        if Tenant.objects.filter(schema_name=schema_name).exists():
            raise ValidationError(f"A tenant with schema {schema_name!r} already exists.")
        return schema_name

    def clean_domain(self) -> str:
        domain = self.cleaned_data["domain"].strip().lower()
        if not HOSTNAME_RE.match(domain):
            raise ValidationError(f"{domain!r} is not a host name (no scheme, port or path).")
        if Domain.objects.filter(domain=domain).exists():
            raise ValidationError(f"The domain {domain!r} already serves another tenant.")
        return domain


class SuspendForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Shown to the workspace's users on every page while it is suspended.",
    )


class SuspensionFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("suspended", "Suspended")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(suspended_at__isnull=True)
        if self.value() == "suspended":
            return queryset.filter(suspended_at__isnull=False)
        return queryset


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0
    fields = ["domain", "is_primary"]


@admin.register(Tenant)
class TenantAdmin(PublicOnlyAdmin):
    list_display = ["name", "schema_name", "hosts", "created_at", "status"]
    list_filter = [SuspensionFilter]
    search_fields = ["name", "schema_name", "domains__domain"]
    ordering = ["name"]
    inlines = [DomainInline]
    actions = ["suspend", "reactivate"]
    fields = [
        "name",
        "schema_name",
        "created_at",
        "suspended_at",
        "suspension_reason",
        "user_count",
        "contact_count",
    ]
    readonly_fields = [
        "schema_name",
        "created_at",
        "suspended_at",
        "suspension_reason",
        "user_count",
        "contact_count",
    ]
    change_form_template = "admin/tenants/tenant/change_form.html"

    def get_queryset(self, request):
        # The public tenant only anchors the bare domain; there is nothing to manage in it.
        return (
            super().get_queryset(request).exclude(schema_name="public").prefetch_related("domains")
        )

    # --- list columns -------------------------------------------------------------------------

    @admin.display(description="Domains")
    def hosts(self, tenant: Tenant) -> str:
        domains = sorted(tenant.domains.all(), key=lambda d: (not d.is_primary, d.domain))
        return ", ".join(d.domain for d in domains) or "—"

    @admin.display(description="Status", ordering="suspended_at")
    def status(self, tenant: Tenant) -> str:
        if tenant.is_suspended:
            return f"Suspended {tenant.suspended_at:%Y-%m-%d}"
        return "Active"

    # --- change page only: counts read inside the tenant's schema --------------------------

    def _counts(self, tenant: Tenant) -> dict[str, int]:
        if not hasattr(tenant, "_counts"):
            from contacts.models import Contact
            from penguinleads.accounts.models import User

            with schema_context(tenant.schema_name):
                users = User.objects.all()
                tenant._counts = {
                    "users": users.count(),
                    "active_users": users.filter(is_active=True).count(),
                    "contacts": Contact.objects.count(),
                }
        return tenant._counts

    @admin.display(description="Users")
    def user_count(self, tenant: Tenant) -> str:
        counts = self._counts(tenant)
        return f"{counts['users']} ({counts['active_users']} active)"

    @admin.display(description="Contacts")
    def contact_count(self, tenant: Tenant) -> int:
        return self._counts(tenant)["contacts"]

    # --- adding goes through services.create_tenant --------------------------------------------

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = TenantAddForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            password = data["owner_password"] or secrets.token_urlsafe(12)
            try:
                tenant = services.create_tenant(
                    schema_name=data["schema_name"],
                    domain=data["domain"],
                    name=data["name"],
                    owner_email=data["owner_email"],
                    owner_password=password,
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                self.log_addition(request, tenant, [{"added": {}}])
                self._report_created(request, tenant, data, password)
                return redirect("admin:tenants_tenant_change", tenant.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Add workspace",
            "form": form,
            "adminform": helpers.AdminForm(form, [(None, {"fields": list(form.fields)})], {}),
        }
        return TemplateResponse(request, "admin/tenants/tenant/add_form.html", context)

    def _report_created(self, request, tenant: Tenant, data: dict, password: str) -> None:
        messages.success(
            request,
            f"Created workspace {tenant.name} at http://{data['domain']}/ with owner "
            f"{data['owner_email'].lower()}.",
        )
        if not data["owner_password"]:
            messages.warning(
                request, f"Owner password (shown only now, copy it and send it safely): {password}"
            )

    # --- suspension -----------------------------------------------------------------------------

    @admin.action(description="Suspend selected workspaces…", permissions=["change"])
    def suspend(self, request, queryset):
        form = SuspendForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            for tenant in queryset:
                services.suspend_tenant(tenant=tenant, reason=form.cleaned_data["reason"])
                self.log_change(request, tenant, f"Suspended: {form.cleaned_data['reason']}")
            self.message_user(request, f"Suspended {len(queryset)} workspace(s).", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Suspend workspaces",
            "tenants": queryset,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/tenants/tenant/suspend.html", context)

    @admin.action(description="Reactivate selected workspaces", permissions=["change"])
    def reactivate(self, request, queryset):
        suspended = [tenant for tenant in queryset if tenant.is_suspended]
        for tenant in suspended:
            services.reactivate_tenant(tenant=tenant)
            self.log_change(request, tenant, "Reactivated")
        self.message_user(request, f"Reactivated {len(suspended)} workspace(s).", messages.SUCCESS)

    # --- support login --------------------------------------------------------------------------

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/open-admin/",
                self.admin_site.admin_view(self.open_workspace_admin),
                name="tenants_tenant_open_admin",
            ),
        ]
        return urls + super().get_urls()

    def open_workspace_admin(self, request, object_id):
        """POST only (it logs the staff member in elsewhere): redirect to the workspace host
        with a signed one-time token; see docs/support.md."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        tenant = self.get_object(request, object_id)
        if tenant is None:
            raise Http404("No such workspace.")
        if not (request.user.is_staff and self.has_view_permission(request, tenant)):
            raise PermissionDenied
        domain = services.primary_domain(tenant)
        if domain is None:
            self.message_user(request, "This workspace has no domain.", messages.ERROR)
            return redirect("admin:tenants_tenant_change", tenant.pk)
        token = issue_support_token(schema_name=tenant.schema_name, staff_email=request.user.email)
        self.log_change(request, tenant, "Opened the workspace's admin (support login)")
        return HttpResponseRedirect(_support_login_url(request, domain, token))


def _support_login_url(request, domain: str, token: str) -> str:
    """The tenant host keeps the scheme and port the staff member uses for the bare domain."""
    port = split_domain_port(request.get_host())[1]
    link = reverse("support_login", urlconf="penguinleads.urls", kwargs={"token": token})
    return f"{request.scheme}://{domain}{':' + port if port else ''}{link}"
