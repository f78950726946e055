"""Engagement of contacts with emails (events from the sending system) and the lead scores
derived from them. Tables live in every tenant schema; scores are kept beside the contacts
(ContactScore), not on the write-hot contact table."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from contacts.models import BulkOperation, Contact


class EventType(models.TextChoices):
    SENT = "sent", "Sent"
    OPENED = "opened", "Opened"
    CLICKED = "clicked", "Clicked"
    REPLIED = "replied", "Replied"
    BOUNCED = "bounced", "Bounced"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"


class BounceType(models.TextChoices):
    HARD = "hard", "Hard"
    SOFT = "soft", "Soft"


class ScoreBand(models.TextChoices):
    HOT = "hot", "Hot"
    WARM = "warm", "Warm"
    COLD = "cold", "Cold"


class EmailEvent(models.Model):
    """One event of the sending system; `event_id` is the sender's id (idempotency key)."""

    event_id = models.CharField(max_length=200, unique=True)
    # The timeline index below starts with contact_id, so no index of its own.
    # No database constraint: a bulk delete of N contacts would queue N deferred checks per
    # referencing table, run at commit (~20 s for 500k). Rows go with their contact through the
    # statement-level trigger of migration 0002 (and Django's own cascade for ORM deletes).
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="email_events", db_index=False,
        db_constraint=False,
    )
    campaign = models.ForeignKey(
        "segments.Campaign", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="email_events",
    )
    type = models.CharField(max_length=12, choices=EventType.choices)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    url = models.CharField(max_length=2000, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    preview = models.CharField(max_length=500, blank=True)
    message_id = models.CharField(max_length=300, blank=True)
    bounce_type = models.CharField(max_length=4, choices=BounceType.choices, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(
                "contact", models.F("occurred_at").desc(), models.F("id").desc(),
                name="emailevent_timeline_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.contact_id} {self.occurred_at:%Y-%m-%d %H:%M}"


class ScoreSettings(models.Model):
    """The tenant's scoring rules (one row; defaults when there is none)."""

    open_points = models.PositiveSmallIntegerField(default=1)
    click_points = models.PositiveSmallIntegerField(default=3)
    reply_points = models.PositiveSmallIntegerField(default=10)
    recent_days = models.PositiveSmallIntegerField(default=30)
    recent_factor = models.FloatField(default=2.0)
    hot_from = models.PositiveIntegerField(default=50)
    warm_from = models.PositiveIntegerField(default=20)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "score settings"

    def __str__(self) -> str:
        return "Score settings"


class ContactScore(models.Model):
    """A contact's lead score. `computed_score` comes from its events; `score`/`band` are what
    everyone reads: the override while one is active, else the computed score."""

    contact = models.OneToOneField(  # no database constraint: see EmailEvent.contact
        Contact, primary_key=True, on_delete=models.CASCADE, related_name="lead_score",
        db_constraint=False,
    )
    computed_score = models.IntegerField(default=0)
    score = models.IntegerField(default=0)
    band = models.CharField(max_length=4, choices=ScoreBand.choices, default=ScoreBand.COLD)
    computed_at = models.DateTimeField(default=timezone.now)
    override_score = models.IntegerField(null=True, blank=True)
    override_reason = models.CharField(max_length=300, blank=True)
    override_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["band", "contact"], name="contactscore_band_idx"),
            models.Index(fields=["score", "contact"], name="contactscore_score_idx"),
            models.Index(
                fields=["override_until"], name="contactscore_override_idx",
                condition=models.Q(override_until__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.score} ({self.band})"


class ScoreChange(models.Model):
    """One change of a contact's score or band, for the timeline."""

    contact = models.ForeignKey(  # no database constraint: see EmailEvent.contact
        Contact, on_delete=models.CASCADE, related_name="score_changes", db_index=False,
        db_constraint=False,
    )
    old_score = models.IntegerField()
    new_score = models.IntegerField()
    old_band = models.CharField(max_length=4, choices=ScoreBand.choices)
    new_band = models.CharField(max_length=4, choices=ScoreBand.choices)
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                "contact", models.F("created_at").desc(), name="scorechange_contact_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.old_score} → {self.new_score}"


class WebhookSecret(models.Model):
    """The tenant's secret for signed inbound event webhooks (one row). Kept readable: the
    receiver needs it to compute the HMAC."""

    secret = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"webhook secret of {self.created_at:%Y-%m-%d}"


# --- copies kept for the undo of a bulk delete (engagement.deletions) -------------------------
# Same columns as the live rows (contact and campaign as plain ids: the contact is gone, the
# campaign may go), plus the operation. They go with the operation's snapshots when its undo
# window closes (contacts.bulk.tasks.purge_expired_snapshots → engagement.deletions) and with
# the operation itself. One index each, (operation, contact, …): what the restore, the expiry
# and the uniqueness need.


class DeletedEmailEvent(models.Model):
    """An EmailEvent of a contact removed by bulk delete `operation`; `original_id` is its id."""

    operation = models.ForeignKey(BulkOperation, on_delete=models.CASCADE, db_index=False)
    original_id = models.BigIntegerField()
    event_id = models.CharField(max_length=200)
    contact_id = models.BigIntegerField()
    campaign_id = models.BigIntegerField(null=True)
    type = models.CharField(max_length=12, choices=EventType.choices)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    url = models.CharField(max_length=2000, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    preview = models.CharField(max_length=500, blank=True)
    message_id = models.CharField(max_length=300, blank=True)
    bounce_type = models.CharField(max_length=4, choices=BounceType.choices, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["operation", "contact_id", "original_id"],
                name="deletedemailevent_op_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.contact_id} (bulk #{self.operation_id})"


class DeletedContactScore(models.Model):
    """The ContactScore row (with its override) of a contact removed by bulk delete."""

    operation = models.ForeignKey(BulkOperation, on_delete=models.CASCADE, db_index=False)
    contact_id = models.BigIntegerField()
    computed_score = models.IntegerField()
    score = models.IntegerField()
    band = models.CharField(max_length=4, choices=ScoreBand.choices)
    computed_at = models.DateTimeField()
    override_score = models.IntegerField(null=True)
    override_reason = models.CharField(max_length=300, blank=True)
    override_until = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["operation", "contact_id"], name="deletedcontactscore_op_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.score} (bulk #{self.operation_id})"


class DeletedScoreChange(models.Model):
    """A ScoreChange of a contact removed by bulk delete; `original_id` is its id."""

    operation = models.ForeignKey(BulkOperation, on_delete=models.CASCADE, db_index=False)
    original_id = models.BigIntegerField()
    contact_id = models.BigIntegerField()
    old_score = models.IntegerField()
    new_score = models.IntegerField()
    old_band = models.CharField(max_length=4, choices=ScoreBand.choices)
    new_band = models.CharField(max_length=4, choices=ScoreBand.choices)
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["operation", "contact_id", "original_id"],
                name="deletedscorechange_op_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.old_score} → {self.new_score} (bulk #{self.operation_id})"
