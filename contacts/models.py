"""Contacts of one tenant (this app's tables live in every tenant schema)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models.functions import Lower


class ContactStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    BOUNCED = "bounced", "Bounced"


class ValidationStatus(models.TextChoices):
    VALID = "valid", "Valid"
    RISKY = "risky", "Risky"
    INVALID = "invalid", "Invalid"
    UNKNOWN = "unknown", "Unknown"


class Tag(models.Model):
    name = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="contacts_tag_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


class CustomFieldType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    BOOLEAN = "boolean", "Yes / no"


class CustomField(models.Model):
    """A tenant's definition of one custom field; values live in Contact.custom_fields[key]."""

    key = models.SlugField(max_length=50, unique=True, help_text="Used in the API and imports.")
    label = models.CharField(max_length=100)
    field_type = models.CharField(max_length=10, choices=CustomFieldType.choices)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "label"]

    def __str__(self) -> str:
        return self.label


class SearchWords(models.Func):
    """The words of the texts as a 'simple' tsvector, with '@', '.' and '-' read as spaces:
    "jl@acme.co.uk Jean-Luc" → 'jl' 'acme' 'co' 'uk' 'jean' 'luc'. Search asks for word
    prefixes only, which these words answer; what the text-search parser would add for the raw
    text (the whole email, 'jean-luc' beside its parts) is never asked for: an email prefix is
    answered by the email's unique index instead. Without those, the index is ~4× smaller
    (a million bench contacts: 315 → 80 MB) and a contact's words cost ~30% less to parse."""

    arg_joiner = " || ' ' || "
    template = "to_tsvector('simple'::regconfig, translate(%(expressions)s, '@.-', '   '))"
    output_field = SearchVectorField()


def search_document():
    """The words a contact is found by (the parts of its email, its names, its company).
    Not stored in the row: the GIN index `contact_search_idx` is built on this expression and
    search (contacts.selectors.search_contacts) repeats it, so the planner uses the index while
    every contact row stays ~150 bytes narrower (faster scans, imports and exports)."""
    return SearchWords("email_normalized", "first_name", "last_name", "company")


class Contact(models.Model):
    email = models.CharField(max_length=254, help_text="As entered.")
    # Lower-cased, trimmed, IDNA domain: the tenant-wide identity of a contact. Byte-order ("C")
    # collation, the same order as the database's C.UTF-8: its one unique index then also
    # serves email-prefix search (LIKE 'x%') and the sort by email, so neither needs an index
    # of its own to keep up on bulk writes (migration 0011 dropped Django's
    # varchar_pattern_ops index and (email_normalized, id)).
    email_normalized = models.CharField(max_length=254, unique=True, editable=False,
                                        db_collation="C")
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    company = models.CharField(max_length=200, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    website = models.CharField(max_length=300, blank=True)
    city = models.CharField(max_length=120, blank=True)
    country = models.CharField(max_length=120, blank=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    tags = models.ManyToManyField(Tag, through="ContactTag", related_name="contacts", blank=True)
    status = models.CharField(
        max_length=20, choices=ContactStatus.choices, default=ContactStatus.ACTIVE
    )
    validation_status = models.CharField(
        max_length=10, choices=ValidationStatus.choices, default=ValidationStatus.UNKNOWN
    )
    validation_reason = models.CharField(max_length=50, blank=True)
    source = models.CharField(max_length=50, blank=True, default="manual")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The ids of the contact's tags, sorted; NULL when it has none. The database keeps it from
    # ContactTag (triggers of migration 0010), whoever writes tags and how, and ignores any
    # other writer (an ORM save of a stale instance included). Segment rules test tags here, in
    # the contact scan, instead of joining ContactTag: a 1M-contact preview 180 -> 105 ms.
    tag_ids = ArrayField(models.BigIntegerField(), null=True, editable=False)
    # No index on these two: they are read per contact, and every index costs on bulk writes.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", db_index=False,
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", db_index=False,
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Each sortable column has an index ending in id, the tie-breaker of every sort, so
            # any page of any sort is an index walk (email, unique, needs no tie-breaker).
            models.Index(fields=["created_at", "id"], name="contact_created_idx"),
            models.Index(fields=["updated_at", "id"], name="contact_updated_idx"),
            models.Index(fields=["company", "id"], name="contact_company_idx"),
            models.Index(fields=["last_name", "first_name", "id"], name="contact_name_idx"),
            models.Index(fields=["status", "created_at", "id"], name="contact_status_idx"),
            # A bigger pending list: bulk writes (imports, rollbacks) append to it cheaply and
            # it is merged in one pass (imports call gin_clean_pending_list when done). 512 MB
            # holds a million-row import's entries (~210 MB): at 64 MB, three merges ran inside
            # the import's chunks, each 3 s longer than the others.
            GinIndex(search_document(), name="contact_search_idx", gin_pending_list_limit=524288),
            # The few contacts no campaign may reach: audiences subtract this small set
            # instead of reading every contact's status (segments.selectors.count_audience).
            models.Index(
                fields=["id"], name="contact_unsendable_idx",
                condition=~models.Q(status="active") | models.Q(validation_status="invalid"),
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


class ContactTag(models.Model):
    # Covered by the unique (contact, tag) and the (tag, contact) indexes below.
    # No database constraint on contact (nor on ContactChange.contact): a set-based write or
    # delete of N contacts would queue N deferred checks, run at commit (~20 s for 500k). The
    # statement-level trigger of migration 0008 removes tags and detaches history whenever
    # contacts are deleted; Django's own cascade still runs for ORM deletes.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, db_index=False, db_constraint=False
    )
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, db_index=False)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "tag"], name="contacttag_unique"),
        ]
        indexes = [models.Index(fields=["tag", "contact"], name="contacttag_tag_idx")]

    def __str__(self) -> str:
        return f"{self.contact_id} #{self.tag_id}"


class ChangeAction(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    DELETED = "deleted", "Deleted"


class ContactChange(models.Model):
    """One attributable change to a contact: who or what, when, and field by field old→new."""

    # No database constraint (see ContactTag.contact) and no index of its own: the
    # (contact, -created_at) index below serves every lookup by contact, and one index less
    # is written per history row (an import writes one per contact).
    # A deleted contact's history keeps its id (ids are never reused): nothing rewrites it on
    # delete (a 500k-contact import rollback: 6 s less), and a bulk undo that brings the
    # contact back finds its history again.
    contact = models.ForeignKey(
        Contact, null=True, on_delete=models.DO_NOTHING, related_name="changes",
        db_constraint=False, db_index=False,
    )
    contact_email = models.CharField(max_length=254)
    action = models.CharField(max_length=10, choices=ChangeAction.choices)
    changes = models.JSONField(default=dict, blank=True)  # {field: [old, new]}
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=50)  # ui, api, admin, import:<id>, demo, ...
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["contact", "-created_at"], name="contactchange_contact_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.contact_email} ({self.source})"


# --- bulk operations (contacts.bulk) ----------------------------------------------------------


class BulkKind(models.TextChoices):
    ADD_TO_LIST = "add_to_list", "Add to list"
    REMOVE_FROM_LIST = "remove_from_list", "Remove from list"
    ADD_TO_CAMPAIGN = "add_to_campaign", "Add to campaign"
    ADD_TAGS = "add_tags", "Add tags"
    REMOVE_TAGS = "remove_tags", "Remove tags"
    CHANGE_STATUS = "change_status", "Change status"
    DELETE = "delete", "Delete"


class BulkStatus(models.TextChoices):
    QUEUED = "queued", "Waiting for a worker"
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"
    UNDOING = "undoing", "Undoing"


class BulkOperation(models.Model):
    """One bulk action over a selection of contacts, its progress and its report. The
    selection is kept as the user made it and re-evaluated in SQL when the action runs."""

    kind = models.CharField(max_length=20, choices=BulkKind.choices)
    params = models.JSONField(default=dict, blank=True)  # list_id, tag_ids, status, …
    selection = models.JSONField(default=dict, blank=True)  # Selection.as_json()
    selection_label = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=BulkStatus.choices, default=BulkStatus.QUEUED)
    total = models.BigIntegerField(default=0)
    processed = models.BigIntegerField(default=0)
    changed = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    # {reason: {"count": n, "sample_ids": [...]}}: why contacts were not changed.
    failures = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)  # why the whole operation stopped
    last_id = models.BigIntegerField(default=0)  # resume point: contacts up to here are done
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    undo_until = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    undo_report = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class DeletedContactSnapshot(models.Model):
    """A contact removed by a bulk delete, kept until the operation's undo window closes."""

    operation = models.ForeignKey(BulkOperation, on_delete=models.CASCADE, db_index=False)
    contact_id = models.BigIntegerField()
    email_normalized = models.CharField(max_length=254)
    data = models.JSONField()  # the contacts_contact row as JSON
    tag_ids = ArrayField(models.BigIntegerField(), default=list)
    list_ids = ArrayField(models.BigIntegerField(), default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["operation", "contact_id"], name="deletedcontact_op_contact_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.email_normalized} (bulk #{self.operation_id})"
