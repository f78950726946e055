"""Dynamic segment pages: index, new/edit (rule builder with a live preview), delete, a
segment's members (the contact table with its bulk bar), analytics, "Refresh now" and the
preview partial the builder posts to.

Views check the role, validate a form, call one service and render or redirect."""

from __future__ import annotations

import re

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST

from contacts.models import Contact
from contacts.table import contact_table_context
from segments.charts import size_chart
from segments.dynamic import services
from segments.dynamic.forms import (
    RulesForm,
    SegmentForm,
    builder_config,
    describe_tree,
    tree_json,
)
from segments.models import Segment, SegmentRefresh
from segments.views import require

PREVIEW_ROWS = 10
INLINE_REFRESH_CONTACTS = 20_000  # workspaces up to this size refresh inside the request
RECENT_REFRESHES = 30
RULE_PATH = re.compile(r"^((?:rules|exclude)[\w\[\].]*): ")


def _segment_or_404(pk: int) -> Segment:
    return get_object_or_404(Segment.objects.select_related("created_by"), pk=pk)


# --- index, new, edit, delete --------------------------------------------------------------------


def segment_index(request: HttpRequest) -> HttpResponse:
    require(request, "view_contacts")
    return render(request, "segments/dynamic/index.html", {
        "segments": Segment.objects.select_related("created_by").order_by("name", "id"),
        "can_change": request.user.can("change_contacts"),
    })


@require_http_methods(["GET", "POST"])
def segment_create(request: HttpRequest) -> HttpResponse:
    require(request, "change_contacts")
    form = SegmentForm(request.POST or None, initial={"rules": tree_json(None),
                                                      "exclude": tree_json(None)})
    if request.method == "POST" and form.is_valid() and "preview" not in request.POST:
        try:
            segment = services.create_segment(
                name=form.cleaned_data["name"], description=form.cleaned_data["description"],
                rules=form.cleaned_data["rules"], exclude=form.cleaned_data["exclude"],
                actor=request.user,
            )
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"Segment “{segment.name}” created; its members are "
                                      "being calculated.")
            return redirect("segments:detail", pk=segment.pk)
    return _render_form(request, form, None)


@require_http_methods(["GET", "POST"])
def segment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "change_contacts")
    segment = _segment_or_404(pk)
    form = SegmentForm(request.POST or None, initial={
        "name": segment.name, "description": segment.description,
        "rules": tree_json(segment.rules), "exclude": tree_json(segment.exclude),
    })
    if request.method == "POST" and form.is_valid() and "preview" not in request.POST:
        try:
            services.update_segment(
                segment=segment, name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                rules=form.cleaned_data["rules"], exclude=form.cleaned_data["exclude"],
            )
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, "Segment saved.")
            return redirect("segments:detail", pk=segment.pk)
    return _render_form(request, form, segment)


def _form_error(form: SegmentForm, exc: ValidationError) -> None:
    for message in exc.messages:
        if RULE_PATH.match(message):
            form.add_rule_error(message)
        else:
            form.add_error("name", message)


def _render_form(request: HttpRequest, form: SegmentForm, segment: Segment | None
                 ) -> HttpResponse:
    """The form page; a POST with "preview" (the button shown without JavaScript) renders the
    preview of the rules typed, without saving."""
    preview = None
    if request.method == "POST" and "preview" in request.POST and form.is_valid():
        preview = _preview(form.cleaned_data["rules"], form.cleaned_data["exclude"])
    return render(request, "segments/dynamic/form.html", {
        "form": form, "segment": segment, "preview": preview,
        "builder": builder_config(segment_id=segment.pk if segment else None),
    }, status=400 if form.errors or (preview and preview["error"]) else 200)


@require_http_methods(["GET", "POST"])
def segment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "change_contacts")
    segment = _segment_or_404(pk)
    error = None
    if request.method == "POST":
        try:
            services.delete_segment(segment=segment)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, f"Segment “{segment.name}” deleted (the contacts stay).")
            return redirect("segments:index")
    return render(request, "segments/dynamic/confirm_delete.html",
                  {"segment": segment, "error": error}, status=400 if error else 200)


# --- preview -------------------------------------------------------------------------------------


def _preview(rules: dict, exclude: dict) -> dict:
    try:
        count, contacts = services.preview_rules(rules=rules, exclude=exclude,
                                                 limit=PREVIEW_ROWS)
    except ValidationError as exc:
        message = " ".join(exc.messages)
        match = RULE_PATH.match(message)
        return {"error": message, "error_path": match.group(1) if match else ""}
    return {"error": None, "count": count, "contacts": contacts, "rows": PREVIEW_ROWS}


@require_POST
def segment_preview(request: HttpRequest) -> HttpResponse:
    """The live preview partial: the exact count and the newest contacts matching the posted
    trees, or (400) the message naming the rule that is refused."""
    require(request, "view_contacts")
    form = RulesForm(request.POST)
    if form.is_valid():
        preview = _preview(form.cleaned_data["rules"], form.cleaned_data["exclude"])
    else:
        message = " ".join(e for errors in form.errors.values() for e in errors)
        preview = {"error": message, "error_path": ""}
    return render(request, "segments/dynamic/_preview.html", {"preview": preview},
                  status=400 if preview["error"] else 200)


# --- a segment's members, analytics, refresh ----------------------------------------------------


def segment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "view_contacts")
    segment = _segment_or_404(pk)
    from segments.selectors import segment_members

    context = contact_table_context(request, segment_members(segment),
                                    scope={"segment_id": segment.pk})
    partial = request.headers.get("HX-Request") and not request.headers.get(
        "HX-History-Restore-Request"
    )
    if partial:
        response = render(request, "contacts/_results_htmx.html", context)
    else:
        config = builder_config()
        context.update(segment=segment, rules_text=describe_tree(segment.rules, config),
                       exclude_text=(describe_tree(segment.exclude, config)
                                     if (segment.exclude or {}).get("rules") else ""))
        response = render(request, "segments/dynamic/detail.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def segment_analytics(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "view_contacts")
    segment = _segment_or_404(pk)
    refreshes = SegmentRefresh.objects.filter(segment=segment)
    series = list(refreshes.order_by("finished_at", "id").values_list("finished_at",
                                                                       "size_after"))
    recent = list(refreshes.order_by("-started_at", "-id")[:RECENT_REFRESHES])
    return render(request, "segments/dynamic/analytics.html", {
        "segment": segment, "chart": size_chart(series), "refreshes": recent,
        "refresh_count": len(series), "can_change": request.user.can("change_contacts"),
    })


@require_POST
def segment_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    """Recalculate now: inside the request for a small workspace, else as a background job."""
    require(request, "change_contacts")
    segment = _segment_or_404(pk)
    small = Contact.objects.all()[: INLINE_REFRESH_CONTACTS + 1].count() \
        <= INLINE_REFRESH_CONTACTS
    if small:
        done = services.refresh_now(segment=segment)
        if done is None:  # the rules no longer compile (a list they name was deleted…)
            messages.error(request, segment.refresh_error or "The segment is gone.")
        else:
            messages.success(request, f"Segment “{segment.name}” recalculated: "
                                      f"{done.entered:,} entered, {done.left:,} left, "
                                      f"{done.size_after:,} member"
                                      f"{'s' if done.size_after != 1 else ''}.")
    else:
        services.request_refresh(segment=segment)
        messages.success(request, f"Segment “{segment.name}” will be recalculated in the "
                                  "background in a moment.")
    target = request.POST.get("next")
    if target in ("index", "analytics"):
        return redirect(f"segments:{target}", *([] if target == "index" else [segment.pk]))
    return redirect("segments:detail", pk=segment.pk)
