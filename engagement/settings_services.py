"""Writes behind Settings › Scoring & events: the tenant's scoring rules. (The inbound webhook
secret's helpers are in engagement.signing.)"""

from __future__ import annotations

from django.db import transaction

from engagement.models import ScoreSettings

SCORE_FIELDS = ("open_points", "click_points", "reply_points", "recent_days", "recent_factor",
                "hot_from", "warm_from")


def masked_secret(secret: str) -> str:
    """The secret as the page shows it before "Reveal": its prefix and last four characters."""
    prefix, _, rest = secret.partition("_")
    return f"{prefix}_{'•' * 12}{rest[-4:]}" if rest else "•" * 12


@transaction.atomic
def save_score_settings(*, values: dict) -> bool:
    """Store the tenant's scoring rules (`values` by SCORE_FIELDS, already validated by
    ScoreSettingsForm) and, when they changed, recompute every score in the background.
    Side effects: inserts or updates the ScoreSettings row; enqueues
    engagement.tasks.recompute_scores_task(schema) after commit. Returns whether anything
    changed."""
    from engagement.tasks import enqueue

    row = ScoreSettings.objects.select_for_update().order_by("pk").first() or ScoreSettings()
    before = {name: getattr(row, name) for name in SCORE_FIELDS}
    after = {name: values[name] for name in SCORE_FIELDS}
    if row.pk is not None and before == after:
        return False
    for name, value in after.items():
        setattr(row, name, value)
    row.save()
    enqueue("engagement.tasks.recompute_scores_task")
    return True
