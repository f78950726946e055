"""Django admin for support staff: a tenant's lists (with member counts and their change log)
and campaigns (with targets). Memberships are not edited row by row here: at a million rows
that belongs to the services (pages, API, bulk actions); a list's delete goes through
segments.services.delete_list."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from contacts.admin import TenantOnlyAdmin
from segments import selectors, services
from segments.models import (
    Campaign,
    CampaignTarget,
    ListChange,
    Segment,
    SegmentRefresh,
    StaticList,
)


class ListChangeInline(admin.TabularInline):
    model = ListChange
    fields = ("at", "added", "removed", "size_after", "source", "source_ref", "actor")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-at", "-id")
    max_num = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(StaticList)
class StaticListAdmin(TenantOnlyAdmin):
    list_display = ("name", "member_count", "archived_at", "campaign_owned", "created_by",
                    "updated_at")
    list_filter = ("campaign_owned", ("archived_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "description")
    readonly_fields = ("member_count", "created_by", "created_at", "updated_at",
                       "campaign_owned")
    fields = ("name", "description", "archived_at", *readonly_fields)
    inlines = [ListChangeInline]

    def get_queryset(self, request):
        return selectors.with_member_counts(super().get_queryset(request)).select_related(
            "created_by"
        )

    @admin.display(description="Contacts", ordering="member_count")
    def member_count(self, obj: StaticList) -> int:
        return obj.member_count

    def delete_model(self, request, obj):
        self.delete_queryset(request, [obj])

    def delete_queryset(self, request, queryset):
        for static_list in queryset:
            try:
                services.delete_list(static_list=static_list)
            except ValidationError as exc:  # a dynamic segment uses it
                self.message_user(request, f"{static_list.name}: {exc.messages[0]}",
                                  messages.ERROR)


class CampaignTargetInline(admin.TabularInline):
    model = CampaignTarget
    extra = 0
    autocomplete_fields = ("static_list", "segment")


@admin.register(Campaign)
class CampaignAdmin(TenantOnlyAdmin):
    list_display = ("name", "status", "created_by", "created_at")
    list_filter = ("status",)
    search_fields = ("name",)
    readonly_fields = ("created_by", "created_at", "direct_list", "audience_size")
    inlines = [CampaignTargetInline]

    @admin.display(description="Audience")
    def audience_size(self, obj: Campaign) -> int:
        return selectors.count_audience(obj)


# --- dynamic segments: read-only here (rules are edited on the pages or over the API) ----------


class SegmentRefreshInline(admin.TabularInline):
    model = SegmentRefresh
    fields = ("started_at", "kind", "entered", "left", "size_after", "duration_ms")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-started_at", "-id")
    max_num = 0


@admin.register(Segment)
class SegmentAdmin(TenantOnlyAdmin):
    list_display = ("name", "member_count", "last_refreshed_at", "refresh_error", "created_by")
    search_fields = ("name", "description")
    readonly_fields = ("name", "description", "rules", "exclude", "member_count",
                       "last_refreshed_at", "refresh_error", "created_by", "created_at",
                       "updated_at")
    fields = readonly_fields
    inlines = [SegmentRefreshInline]
    actions = ["refresh_now"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Recompute the members of the selected segments now")
    def refresh_now(self, request, queryset):
        from segments.dynamic.services import refresh_now

        done = [refresh_now(segment=segment) for segment in queryset]
        self.message_user(request, f"{sum(r is not None for r in done)} segment(s) refreshed.")
