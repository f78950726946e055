"""Django admin for support staff: a tenant's contacts, tags and custom field definitions.

Readable at a million rows: no full COUNT(*) per page, an estimated total for the unfiltered
list, search through the indexed search document, and every write goes through the same
services as the pages (so email normalisation, duplicate checks and history still apply)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from contacts import fields as field_services
from contacts import services
from contacts.emails import InvalidEmail, normalize_email
from contacts.models import Contact, ContactChange, ContactTag, CustomField, Tag
from contacts.selectors import search_contacts


class TenantOnlyAdmin(admin.ModelAdmin):
    """These tables exist only in tenant schemas; hide them from the public (support) admin."""

    def has_module_permission(self, request):
        return _on_tenant() and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return _on_tenant() and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return _on_tenant() and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return _on_tenant() and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return _on_tenant() and super().has_delete_permission(request, obj)


def _on_tenant() -> bool:
    return connection.schema_name != "public"


class EstimatedCountPaginator(Paginator):
    """Uses PostgreSQL's row estimate for an unfiltered list of a big table: an exact COUNT(*)
    of a million rows on every page view buys nothing."""

    EXACT_BELOW = 100_000

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is None or query.where:
            return super().count
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [self.object_list.model._meta.db_table],
            )
            row = cursor.fetchone()
        estimate = row[0] if row else -1
        return estimate if estimate >= self.EXACT_BELOW else super().count


class TagFilter(admin.SimpleListFilter):
    title = "tag"
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        return [(t.pk, t.name) for t in Tag.objects.all()[:200]]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        links = ContactTag.objects.filter(contact=OuterRef("pk"), tag_id=self.value())
        return queryset.filter(Exists(links))


class ContactAdminForm(forms.ModelForm):
    tags_text = forms.CharField(
        label="Tags", required=False, help_text="Comma-separated tag names."
    )

    class Meta:
        model = Contact
        fields = [
            "email",
            *services.TEXT_FIELDS,
            "status",
            "custom_fields",
            "validation_status",
            "validation_reason",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["tags_text"].initial = ", ".join(
                self.instance.tags.values_list("name", flat=True)
            )

    def clean_tags_text(self) -> list[str]:
        try:
            return services.clean_tag_names(self.cleaned_data["tags_text"])
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None

    def clean_email(self) -> str:
        try:
            email = normalize_email(self.cleaned_data["email"])
        except InvalidEmail as exc:
            raise ValidationError(str(exc)) from None
        clash = (
            Contact.objects.filter(email_normalized=email.normalized)
            .exclude(pk=self.instance.pk)
            .values_list("pk", flat=True)
            .first()
        )
        if clash is not None:
            url = reverse("admin:contacts_contact_change", args=[clash])
            raise ValidationError(
                format_html(
                    'A contact with this email already exists: <a href="{}">open it</a>.', url
                )
            )
        return self.cleaned_data["email"]

    def clean_custom_fields(self) -> dict:
        values, errors = services.clean_custom_fields(self.cleaned_data["custom_fields"] or {})
        if errors:
            raise ValidationError(
                [
                    f"{key.removeprefix('custom_fields.')}: {m}"
                    for key, ms in errors.items()
                    for m in ms
                ]
            )
        return values


# imports/admin.py registers a subclass in its place that adds "Import contacts" (the import
# flow) and "Export" (django-import-export), so this app does not depend on the imports app.
@admin.register(Contact)
class ContactAdmin(TenantOnlyAdmin):
    form = ContactAdminForm
    list_display = (
        "email",
        "first_name",
        "last_name",
        "company",
        "status",
        "validation_status",
        "source",
        "created_at",
        "created_by",
    )
    list_filter = ("status", "validation_status", TagFilter)
    list_select_related = ("created_by",)
    # The search box needs search_fields; get_search_results replaces the ICONTAINS scan.
    search_fields = ("email_normalized",)
    search_help_text = "Email prefix, or words starting a name, company or email."
    show_full_result_count = False
    # Facet counts would run one COUNT per filter option over the whole table.
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    list_per_page = 50
    readonly_fields = ("source", "created_at", "updated_at", "created_by", "updated_by")
    # Bulk delete would bypass history; delete contacts one at a time (or in the app).
    actions = None

    def get_search_results(self, request, queryset, search_term):
        return search_contacts(queryset, search_term), False

    def get_fieldsets(self, request, obj=None):
        return [
            (None, {"fields": ["email", *services.TEXT_FIELDS, "status", "tags_text"]}),
            ("Custom fields", {"fields": ["custom_fields"]}),
            ("Validation", {"fields": ["validation_status", "validation_reason"]}),
            ("Record", {"fields": list(self.readonly_fields)}),
        ]

    def save_model(self, request, obj, form, change):
        data = {k: form.cleaned_data[k] for k in ("email", *services.TEXT_FIELDS, "status")}
        data["custom_fields"] = form.cleaned_data["custom_fields"]
        tags = form.cleaned_data["tags_text"]
        if change:
            # The services merge custom fields; a key deleted from the JSON is sent as None.
            before = Contact.objects.get(pk=obj.pk).custom_fields or {}
            data["custom_fields"] = {**dict.fromkeys(before), **data["custom_fields"]}
            saved = services.update_contact(
                contact=obj, data=data, tags=tags, actor=request.user, source="admin"
            )
        else:
            saved = services.create_contact(
                data=data, tags=tags, actor=request.user, source="admin"
            )
        # Validation results are not a tracked change; support may correct them by hand.
        Contact.objects.filter(pk=saved.pk).update(
            validation_status=form.cleaned_data["validation_status"],
            validation_reason=form.cleaned_data["validation_reason"],
        )
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        # Tags were written by the service in save_model.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj):
        services.delete_contact(contact=obj, actor=request.user, source="admin")


@admin.register(Tag)
class TagAdmin(TenantOnlyAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)
    show_full_result_count = False


class CustomFieldAdminForm(forms.ModelForm):
    class Meta:
        model = CustomField
        fields = ["key", "label", "field_type", "position"]

    def clean_key(self) -> str:
        if self.instance.pk:
            return self.instance.key
        return field_services.clean_field_key(self.cleaned_data["key"])

    def clean_field_type(self) -> str:
        field_type = self.cleaned_data["field_type"]
        if self.instance.pk:
            original = CustomField.objects.get(pk=self.instance.pk)
            field_services.check_type_change(field=original, field_type=field_type)
        return field_type


@admin.register(CustomField)
class CustomFieldAdmin(TenantOnlyAdmin):
    form = CustomFieldAdminForm
    list_display = ("label", "key", "field_type", "position")
    list_filter = ("field_type",)
    search_fields = ("key", "label")
    actions = None

    def get_readonly_fields(self, request, obj=None):
        return ("key",) if obj else ()

    def delete_model(self, request, obj):
        field_services.delete_custom_field(field=obj, actor=request.user, source="admin")


@admin.register(ContactChange)
class ContactChangeAdmin(TenantOnlyAdmin):
    list_display = ("created_at", "contact_email", "action", "source", "actor")
    list_filter = ("action",)
    list_select_related = ("actor",)
    search_fields = ("=contact_email",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = (
        "contact",
        "contact_email",
        "action",
        "changes",
        "actor",
        "source",
        "created_at",
    )
    raw_id_fields = ("contact",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
