"""Django admin for support staff: a tenant's imports and mapping presets, and the contact
admin's import and export.

The contact admin's "Import contacts" uploads the file into the regular import flow (the
mapping page, analysis, run, rollback of the app), so support and users share one pipeline;
its "Export" is django-import-export with ContactResource, whose import side applies the same
mapping and row rules (imports/resources.py). Imports themselves are read-only here: support
looks at them and may roll them back, through the same service as the app."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.forms.models import BaseInlineFormSet
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from import_export.admin import ExportMixin
from import_export.formats import base_formats
from import_export.forms import ExportForm

from contacts.admin import ContactAdmin, TenantOnlyAdmin
from contacts.models import Contact
from imports import services
from imports.forms import ACCEPTED_FORMATS, UploadForm, format_bytes
from imports.models import ExportJob, ImportJob, ImportRowError, MappingPreset
from imports.readers import FileRejected
from imports.resources import ContactResource

ERRORS_SHOWN = 100
SUMMARY_FIELDS = (
    "original_name",
    "app_page",
    "status",
    "error",
    "created_by",
    "created_at",
    "started_at",
    "finished_at",
)
FILE_FIELDS = (
    "file",
    "size",
    "file_format",
    "read_settings",
    "headers",
    "mapping",
    "preset",
    "strategy",
    "tags",
    "skip_undeliverable",
)

# --- imports --------------------------------------------------------------------------------


class FirstErrorsFormSet(BaseInlineFormSet):
    """Only the first rows: an import of a million bad rows must still open."""

    def get_queryset(self):
        return super().get_queryset()[:ERRORS_SHOWN]


class RowErrorInline(admin.TabularInline):
    model = ImportRowError
    formset = FirstErrorsFormSet
    fields = ("line", "column", "value", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = f"Row errors (the first {ERRORS_SHOWN})"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ImportJob)
class ImportJobAdmin(TenantOnlyAdmin):
    list_display = (
        "id",
        "original_name",
        "status",
        "strategy",
        "total_rows",
        "created",
        "updated",
        "skipped",
        "invalid",
        "duplicates_in_file",
        "created_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "strategy")
    list_select_related = ("created_by",)
    search_fields = ("original_name",)
    show_full_result_count = False
    inlines = [RowErrorInline]
    actions = ["roll_back", "roll_back_forced"]
    fieldsets = [
        (None, {"fields": SUMMARY_FIELDS}),
        ("Counts", {"fields": services.PROGRESS_FIELDS}),
        ("File and mapping", {"fields": FILE_FIELDS}),
        ("Rollback", {"fields": ("rollback_report", "rolled_back_at", "rolled_back_by")}),
    ]
    readonly_fields = ("app_page",)

    @admin.display(description="In the app")
    def app_page(self, job: ImportJob) -> str:
        return format_html('<a href="{}">Import page</a>', reverse("imports:detail", args=[job.pk]))

    # Read-only: imports change only through their services (the app, or the actions below).
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_rollback_permission(self, request) -> bool:
        return self.has_view_permission(request) and request.user.has_perm(
            "imports.change_importjob"
        )

    @admin.action(
        description="Roll back the selected imports, leaving contacts changed since alone",
        permissions=["rollback"],
    )
    def roll_back(self, request, queryset):
        self._roll_back(request, queryset, force=False)

    @admin.action(
        description="Roll back the selected imports entirely, even contacts changed since",
        permissions=["rollback"],
    )
    def roll_back_forced(self, request, queryset):
        self._roll_back(request, queryset, force=True)

    def _roll_back(self, request, queryset, *, force: bool) -> None:
        for job in queryset:
            try:
                job = services.rollback_import(job=job, user=request.user, force=force)
            except services.ImportStateError as exc:
                messages.error(request, f"{job}: {exc}")
                continue
            message = f"{job}: {job.get_status_display().lower()}."
            left_alone = (job.rollback_report or {}).get("left_alone_sample")
            if left_alone:
                count = job.rollback_report["conflicts"]
                message += (
                    f" {count} contact(s) changed after the import were left alone, "
                    f"e.g. {', '.join(left_alone[:3])}."
                )
            messages.success(request, message)


@admin.register(MappingPreset)
class MappingPresetAdmin(TenantOnlyAdmin):
    list_display = ("name", "column_count", "created_by", "created_at")
    list_select_related = ("created_by",)
    search_fields = ("name",)
    fields = ("name", "headers", "mapping", "created_by", "created_at")

    @admin.display(description="Columns")
    def column_count(self, preset: MappingPreset) -> int:
        return len(preset.headers)

    # A preset is saved from the mapping page, which checks it; here it can only be removed.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ExportJob)
class ExportJobAdmin(TenantOnlyAdmin):
    """Read-only: exports are made from the app, the API or `export_contacts`."""

    list_display = ("label", "file_format", "status", "written_rows", "size", "created_by",
                    "created_at", "expires_at")
    list_filter = ("status", "file_format")
    list_select_related = ("created_by",)
    search_fields = ("label",)
    readonly_fields = ("label", "source", "file_format", "columns", "status", "total_rows",
                       "written_rows", "file", "size", "error", "created_by", "created_at",
                       "started_at", "finished_at", "expires_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- the contact admin's import and export --------------------------------------------------


class ContactImportExportAdmin(ExportMixin, ContactAdmin):
    """ContactAdmin (contacts/admin.py) plus "Import contacts" (into the import flow) and
    "Export" (django-import-export, ContactResource). Registered in its place here, so the
    contacts app does not depend on the imports app."""

    resource_classes = [ContactResource]
    export_form_class = ExportForm
    export_formats = [base_formats.CSV, base_formats.XLSX]
    import_export_change_list_template = "admin/contacts/contact/change_list.html"

    def has_export_permission(self, request) -> bool:
        return self.has_view_permission(request)  # and never in the public schema

    def get_urls(self):
        view = self.admin_site.admin_view(self.import_contacts_view)
        return [path("import/", view, name="contacts_contact_import")] + super().get_urls()

    def import_contacts_view(self, request):
        """Upload a file, then continue in the app's import flow at its mapping page."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
        if form.is_bound and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = services.create_import(
                    fileobj=upload, filename=upload.name, user=request.user
                )
            except FileRejected as exc:
                form.add_error("file", str(exc))
            else:
                return redirect("imports:map", pk=job.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Import contacts",
            "form": form,
            "accepted_formats": ACCEPTED_FORMATS,
            "max_size": format_bytes(settings.IMPORT_MAX_UPLOAD_BYTES),
        }
        return TemplateResponse(
            request,
            "admin/contacts/contact/import_contacts.html",
            context,
            status=400 if form.errors else 200,
        )


admin.site.unregister(Contact)
admin.site.register(Contact, ContactImportExportAdmin)
