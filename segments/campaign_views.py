"""Campaign pages: index, create, edit (name and status), targets and exclusions, and the
audience preview (exact count and the first contacts)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from segments import selectors, services
from segments.forms import CampaignForm, CampaignTargetsForm
from segments.models import Campaign, Segment, StaticList
from segments.views import require

PREVIEW_ROWS = 50


def campaign_index(request: HttpRequest) -> HttpResponse:
    require(request, "view_contacts")
    return render(request, "segments/campaigns/index.html", {
        "campaigns": Campaign.objects.select_related("created_by"),
        "can_change": request.user.can("change_contacts"),
    })


@require_http_methods(["GET", "POST"])
def campaign_create(request: HttpRequest) -> HttpResponse:
    require(request, "change_contacts")
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = services.create_campaign(name=form.cleaned_data["name"],
                                                actor=request.user)
            services.update_campaign(campaign=campaign, name=campaign.name,
                                     status=form.cleaned_data["status"])
        except ValidationError as exc:
            form.add_error("name", exc)
        else:
            messages.success(request, f"Campaign “{campaign.name}” created; now pick its lists.")
            return redirect("campaigns:targets", pk=campaign.pk)
    return render(request, "segments/campaigns/form.html", {"form": form, "campaign": None},
                  status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "change_contacts")
    campaign = get_object_or_404(Campaign, pk=pk)
    form = CampaignForm(request.POST or None,
                        initial={"name": campaign.name, "status": campaign.status})
    if request.method == "POST" and form.is_valid():
        try:
            services.update_campaign(campaign=campaign, name=form.cleaned_data["name"],
                                     status=form.cleaned_data["status"])
        except ValidationError as exc:
            form.add_error("name", exc)
        else:
            messages.success(request, "Campaign saved.")
            return redirect("campaigns:detail", pk=campaign.pk)
    return render(request, "segments/campaigns/form.html", {"form": form, "campaign": campaign},
                  status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def campaign_targets(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "change_contacts")
    campaign = get_object_or_404(Campaign, pk=pk)
    targets, excludes = selectors.campaign_list_ids(campaign)
    segment_targets, segment_excludes = selectors.campaign_segment_ids(campaign)
    chosen = StaticList.objects.filter(pk__in=targets + excludes, campaign_owned=False)
    lists = (selectors.active_lists() | chosen).distinct().order_by("name")
    form = CampaignTargetsForm(
        request.POST or None, lists=lists, segments=Segment.objects.order_by("name"),
        initial={"targets": [i for i in targets if i != campaign.direct_list_id],
                 "exclusions": excludes, "target_segments": segment_targets,
                 "exclude_segments": segment_excludes},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.set_campaign_targets(
                campaign=campaign,
                target_ids=[lst.pk for lst in data["targets"]],
                exclude_ids=[lst.pk for lst in data["exclusions"]],
                target_segment_ids=[s.pk for s in data["target_segments"]],
                exclude_segment_ids=[s.pk for s in data["exclude_segments"]],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Targets saved.")
            return redirect("campaigns:detail", pk=campaign.pk)
    return render(request, "segments/campaigns/targets.html",
                  {"form": form, "campaign": campaign},
                  status=400 if form.errors else 200)


def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "view_contacts")
    campaign = get_object_or_404(Campaign.objects.select_related("created_by", "direct_list"),
                                 pk=pk)
    targets = list(campaign.targets.select_related("static_list", "segment")
                   .order_by("static_list__name", "segment__name"))
    audience = selectors.audience(campaign)
    return render(request, "segments/campaigns/detail.html", {
        "campaign": campaign,
        "targets": [t.static_list for t in targets if not t.exclude and t.static_list_id],
        "exclusions": [t.static_list for t in targets if t.exclude and t.static_list_id],
        "segment_targets": [t.segment for t in targets if not t.exclude and t.segment_id],
        "segment_exclusions": [t.segment for t in targets if t.exclude and t.segment_id],
        "audience_count": selectors.count_audience(campaign),
        "preview": list(audience.order_by("id")[:PREVIEW_ROWS]),
        "preview_rows": PREVIEW_ROWS,
        "can_change": request.user.can("change_contacts"),
    })
