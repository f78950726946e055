"""Static lists, their members, list analytics and thin campaigns (in every tenant schema)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class StaticList(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Bumped by every add/remove, so "last updated" needs no scan of the members.
    updated_at = models.DateTimeField(auto_now=True)
    # A campaign's own list of directly added contacts: not shown among the lists.
    campaign_owned = models.BooleanField(default=False)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"), name="staticlist_name_ci_unique", condition=Q(campaign_owned=False)
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class MembershipSource(models.TextChoices):
    MANUAL = "manual", "Added by hand"
    IMPORT = "import", "Import"
    BULK = "bulk", "Bulk action"
    API = "api", "API"
    CSV = "csv", "New list from CSV"
    RESTORE = "restore", "Restored"


class ListMembership(models.Model):
    # (list, contact) is the primary key: no surrogate id, one index less to write per member.
    pk = models.CompositePrimaryKey("static_list_id", "contact_id")
    # No database foreign keys: checking one per inserted row costs more than the insert itself
    # at 1M members (5-7 s here). Rows never point at a missing contact or list all the same:
    # adds select their ids from contacts_contact, a trigger of migration 0001 deletes the
    # memberships of deleted contacts (also those deleted with raw SQL, such as
    # contacts.services.purge_contacts), and deleting a list deletes its memberships.
    # No index of its own: the primary key (static_list, contact) serves "members of a list".
    static_list = models.ForeignKey(
        StaticList, on_delete=models.CASCADE, related_name="memberships", db_constraint=False,
        db_index=False,
    )
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.DO_NOTHING, related_name="list_memberships",
        db_index=False, db_constraint=False,
    )
    added_at = models.DateTimeField()
    source = models.CharField(max_length=10, choices=MembershipSource.choices)
    source_ref = models.BigIntegerField(null=True, blank=True)  # import id, bulk operation id
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", db_index=False,
    )

    class Meta:
        indexes = [
            # (contact, list): "lists of a contact", and, read in contact order without touching
            # the table, the distinct members of several lists merged without hashing
            # (segments.selectors.count_audience).
            models.Index(fields=["contact", "static_list"], name="listmembership_contact_idx2"),
            # Rollback of an import finds its memberships without a scan.
            models.Index(fields=["source_ref"], name="listmembership_ref_idx",
                         condition=Q(source="import")),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} in list {self.static_list_id}"


class ListChange(models.Model):
    """One add or remove operation on a list, aggregated: how many were added or removed and
    the size after. One row per operation, never per contact, so it stays small at 1M."""

    static_list = models.ForeignKey(StaticList, on_delete=models.CASCADE, related_name="changes")
    added = models.IntegerField(default=0)
    removed = models.IntegerField(default=0)
    size_after = models.IntegerField()
    source = models.CharField(max_length=10, choices=MembershipSource.choices)
    source_ref = models.BigIntegerField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["static_list", "at"], name="listchange_list_at_idx")]

    def __str__(self) -> str:
        return f"list {self.static_list_id}: +{self.added} -{self.removed}"


REMOVAL_ID_SEQUENCE = "segments_listremoval_id_seq"


class RemovalSource(models.TextChoices):
    """How a contact left a list (the MembershipSource codes of the removal paths)."""

    MANUAL = "manual", "by hand"
    BULK = "bulk", "bulk action"
    API = "api", "API"
    CSV = "csv", "file"
    IMPORT = "import", "import rollback"


class ListRemoval(models.Model):
    """One contact leaving one list, for the contact's activity timeline (additions are the
    ListMembership rows themselves). Written by segments.services in the same statement that
    deletes the memberships; not for memberships that go because the contact is deleted (its
    removals go too: the trigger of migration 0004) or the list is (its removals go with it).

    Built to keep "remove 1,000,000 from a list" cheap (bench/list_removals_bench.py): two
    indexes per row, no foreign key checks. The primary key (contact, removed_at, id) is the
    timeline's index (read backwards: newest first); `id` only breaks ties at one instant
    (its own sequence, migration 0004). A list's removals are found for its deletion through
    a BRIN index: a removal writes its rows together, so they sit in few block ranges."""

    pk = models.CompositePrimaryKey("contact_id", "removed_at", "id")
    # No database foreign keys, as ListMembership: a check per row would cost more than the
    # row at 1M removals. delete_list deletes a list's removals; the contact trigger a contact's.
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.DO_NOTHING, related_name="list_removals",
        db_index=False, db_constraint=False,
    )
    removed_at = models.DateTimeField()
    id = models.BigIntegerField(db_default=models.Func(
        models.Value(REMOVAL_ID_SEQUENCE), function="nextval",
        output_field=models.BigIntegerField()))
    static_list = models.ForeignKey(
        StaticList, on_delete=models.CASCADE, related_name="removals", db_index=False,
        db_constraint=False,
    )
    # When the contact had been added (the membership's added_at): the addition's own entry
    # leaves the timeline with the membership row.
    added_at = models.DateTimeField()
    source = models.CharField(max_length=10, choices=RemovalSource.choices)
    source_ref = models.BigIntegerField(null=True, blank=True)  # import id, bulk operation id
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", db_index=False, db_constraint=False,
    )

    class Meta:
        indexes = [
            BrinIndex(fields=["static_list"], name="listremoval_list_brin",
                      autosummarize=True),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} left list {self.static_list_id}"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    FINISHED = "finished", "Finished"


class Campaign(models.Model):
    """A stand-in for the campaign system: a name, a status and the lists it targets."""

    name = models.CharField(max_length=200)
    status = models.CharField(
        max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Where "add to campaign" puts contacts; created on demand and targeted by the campaign.
    direct_list = models.OneToOneField(
        StaticList, null=True, blank=True, on_delete=models.SET_NULL, related_name="campaign"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class CampaignTarget(models.Model):
    """A list or a dynamic segment a campaign targets or excludes (exactly one of the two)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="targets")
    static_list = models.ForeignKey(
        StaticList, null=True, blank=True, on_delete=models.CASCADE,
        related_name="campaign_targets",
    )
    # PROTECT: segments.dynamic.services.delete_segment refuses while a campaign uses it.
    segment = models.ForeignKey(
        "Segment", null=True, blank=True, on_delete=models.PROTECT,
        related_name="campaign_targets",
    )
    exclude = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "static_list"],
                                    name="campaigntarget_unique"),
            models.UniqueConstraint(fields=["campaign", "segment"],
                                    name="campaigntarget_segment_unique"),
            models.CheckConstraint(
                condition=(Q(static_list__isnull=False, segment__isnull=True)
                           | Q(static_list__isnull=True, segment__isnull=False)),
                name="campaigntarget_list_xor_segment",
            ),
        ]

    def __str__(self) -> str:
        what = (f"list {self.static_list_id}" if self.static_list_id
                else f"segment {self.segment_id}")
        return f"{'exclude' if self.exclude else 'target'} {what}"


# --- dynamic segments (issue 5; engine in segments/dynamic/) ------------------------------------


class Segment(models.Model):
    """A saved rule tree (segments.rules public shape) whose members are materialised in
    SegmentMembership by segments.dynamic.refresh; member_count is as of the last refresh."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    rules = models.JSONField(default=dict)
    exclude = models.JSONField(default=dict, blank=True)  # same shape; empty excludes nobody
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    member_count = models.IntegerField(default=0)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    refresh_error = models.TextField(blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="segment_name_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class SegmentMembership(models.Model):
    # No database foreign key to contacts (bulk speed, see ListMembership); migration 0002's
    # trigger deletes the memberships of deleted contacts.
    pk = models.CompositePrimaryKey("segment_id", "contact_id")
    # No index of its own: the primary key (segment, contact) serves "members of a segment".
    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="memberships", db_constraint=False,
        db_index=False,
    )
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.DO_NOTHING, related_name="segment_memberships",
        db_index=False, db_constraint=False,
    )
    entered_at = models.DateTimeField()

    class Meta:
        # (contact, segment): as ListMembership's (contact, list) index.
        indexes = [models.Index(fields=["contact", "segment"],
                                name="segmentmembership_contact_idx2")]

    def __str__(self) -> str:
        return f"{self.contact_id} in segment {self.segment_id}"


class SegmentRefreshKind(models.TextChoices):
    FULL = "full", "Full"
    INCREMENTAL = "incremental", "Incremental"


class SegmentRefresh(models.Model):
    """One recalculation of a segment: who entered, who left, the size after (analytics)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="refreshes")
    kind = models.CharField(max_length=12, choices=SegmentRefreshKind.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    size_after = models.IntegerField()
    entered = models.IntegerField(default=0)
    left = models.IntegerField(default=0)
    duration_ms = models.IntegerField(default=0)

    class Meta:
        ordering = ["started_at", "id"]
        indexes = [
            models.Index(fields=["segment", "started_at"], name="segmentrefresh_seg_at_idx"),
        ]

    def __str__(self) -> str:
        return f"segment {self.segment_id}: +{self.entered} -{self.left}"
