"""Settings › Scoring & events: the inbound webhook endpoint and its signing secret (reveal,
rotate) and the scoring rules. Everyone signed in may read the scoring rules; owners and
admins (capability "manage_scoring") change them and see or rotate the secret."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from engagement import signing
from engagement.scoring import score_settings
from engagement.settings_forms import ScoreSettingsForm
from engagement.settings_services import SCORE_FIELDS, masked_secret, save_score_settings

DENIED = "Only owners and admins can change scoring or see the webhook secret."


def _require(request) -> None:
    if not request.user.can("manage_scoring"):
        raise PermissionDenied(DENIED)


def _page(request, *, form=None, revealed: bool = False, status: int = 200):
    can_manage = request.user.can("manage_scoring")
    rules = score_settings()
    secret = signing.webhook_secret() if can_manage else ""
    if form is None:
        form = ScoreSettingsForm(initial={name: getattr(rules, name) for name in SCORE_FIELDS})
    if not can_manage:
        for field in form.fields.values():
            field.disabled = True
    context = {
        "form": form, "can_manage": can_manage, "rules": rules,
        "webhook_url": request.build_absolute_uri(reverse("webhook_events")),
        "batch_url": request.build_absolute_uri("/api/v1/events/batch"),
        "secret": secret if revealed else "", "masked": masked_secret(secret) if secret else "",
    }
    return render(request, "settings/scoring.html", context, status=status)


@never_cache
def scoring(request):
    if request.method == "POST":
        _require(request)
        form = ScoreSettingsForm(request.POST)
        if form.is_valid():
            if save_score_settings(values=form.cleaned_data):
                messages.success(request, "Scoring saved. Every score is being recomputed in "
                                          "the background; bands and segments follow shortly.")
            else:
                messages.info(request, "Nothing changed.")
            return redirect("settings_scoring")
        return _page(request, form=form, status=400)
    return _page(request)


@never_cache
@require_POST
def reveal_secret(request):
    """A POST, so the secret never sits in a URL, the history or a prefetch."""
    _require(request)
    return _page(request, revealed=True)


@never_cache
def rotate_secret(request):
    _require(request)
    if request.method == "POST":
        signing.rotate_webhook_secret()
        messages.success(request, "New signing secret made: the old one no longer works. "
                                  "Reveal it below and give it to your sending system.")
        return redirect("settings_scoring")
    return render(request, "settings/scoring_rotate.html")
