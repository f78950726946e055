"""Bulk-action pages: the confirmation step (with the action's options and the exact count),
the operation's page (progress, report, undo), its progress JSON and the history.

Views check the role, validate a form, call one service and render or redirect."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from contacts.bulk import services, undo
from contacts.bulk.forms import ACTION_CHOICES, EXPORT, BulkOptionsForm
from contacts.bulk.selection import FILTER_KEYS, Selection
from contacts.models import BulkKind, BulkOperation, BulkStatus

HISTORY_LIMIT = 100


def _require_change(request: HttpRequest) -> None:
    if not request.user.can("change_contacts"):
        raise PermissionDenied("Your role can't do this (change_contacts).")


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("contacts:list")


def _pickers(action: str) -> dict:
    if action in (BulkKind.ADD_TO_LIST, BulkKind.REMOVE_FROM_LIST):
        from segments.selectors import active_lists

        return {"lists": active_lists()}
    if action == BulkKind.ADD_TO_CAMPAIGN:
        from segments.selectors import open_campaigns

        return {"campaigns": open_campaigns()}
    return {}


@require_POST
def bulk_action(request: HttpRequest) -> HttpResponse:
    """POST from the table's bulk bar: show the confirmation page; POST with confirm=1 from
    that page: run the action."""
    _require_change(request)
    action = request.POST.get("action", "")
    if action not in dict(ACTION_CHOICES):
        return _refuse(request, "Unknown bulk action.")
    try:
        selection = Selection.from_data(request.POST)
        count = services.count_selection(selection)
    except ValidationError as exc:
        return _refuse(request, " ".join(exc.messages))
    form = BulkOptionsForm(
        request.POST if request.POST.get("confirm") else None, action=action,
        initial={"list_id": selection.list_id} if action == BulkKind.REMOVE_FROM_LIST else None,
        **_pickers(action),
    )
    error = ""
    if request.POST.get("confirm"):
        try:
            return _run(request, action, selection, form.options())
        except ValidationError as exc:
            error = " ".join(exc.messages)
    return render(
        request,
        "contacts/bulk/confirm.html",
        {
            "action": action,
            "action_label": dict(ACTION_CHOICES)[action],
            "selection": selection,
            "count": count,
            "form": form,
            "error": error,
            "ids_value": ",".join(map(str, selection.ids)),
            "filter_pairs": [(k, selection.filters[k]) for k in FILTER_KEYS if k in selection.filters],
            "next": _next_url(request),
        },
        status=400 if error else 200,
    )


def _refuse(request: HttpRequest, message: str) -> HttpResponse:
    return render(
        request, "contacts/bulk/refused.html",
        {"message": message, "next": _next_url(request)}, status=400,
    )


def _run(request: HttpRequest, action: str, selection: Selection, options: dict) -> HttpResponse:
    if action == EXPORT:
        from imports.exports.services import ExportError, start_export

        try:
            job = start_export(
                source=selection.as_export_source(), columns=_export_columns(),
                file_format=options.get("file_format") or "csv", user=request.user,
            )
        except ExportError as exc:
            raise ValidationError(str(exc)) from exc
        return redirect("imports:export_detail", pk=job.pk)
    op = services.start_bulk_operation(
        kind=action, selection=selection, options=options, user=request.user
    )
    if op.status == BulkStatus.FINISHED and not op.failed and op.kind != BulkKind.DELETE:
        messages.success(request, services.summary(op))
        return redirect(_next_url(request))
    return redirect("contacts:bulk_detail", pk=op.pk)


def _export_columns() -> list[str]:
    from imports.exports import columns

    return list(columns.DEFAULT_STANDARD)


@require_GET
def operation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    op = get_object_or_404(BulkOperation.objects.select_related("created_by"), pk=pk)
    return render(
        request,
        "contacts/bulk/detail.html",
        {
            "op": op,
            "S": BulkStatus,
            "progress": services.bulk_progress(op),
            "failures": services.failure_lines(op),
            "summary": services.summary(op),
            "unchanged": max(0, op.processed - op.changed - op.failed),
            "can_undo": undo.can_undo(op) and request.user.can("change_contacts"),
        },
    )


@require_GET
def operation_progress(request: HttpRequest, pk: int) -> JsonResponse:
    op = get_object_or_404(BulkOperation, pk=pk)
    response = JsonResponse(services.bulk_progress(op))
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def operation_undo(request: HttpRequest, pk: int) -> HttpResponse:
    _require_change(request)
    op = get_object_or_404(BulkOperation, pk=pk)
    try:
        undo.start_undo(op=op, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        op.refresh_from_db()
        if op.undone_at:
            report = op.undo_report
            text = f"Restored {report.get('restored', 0):,} contacts."
            if report.get("skipped"):
                text += (f" {report['skipped']:,} were not restored: a contact with the same "
                         "email was created since.")
            messages.success(request, text)
    return redirect("contacts:bulk_detail", pk=op.pk)


@require_GET
def operation_list(request: HttpRequest) -> HttpResponse:
    ops = BulkOperation.objects.select_related("created_by")[:HISTORY_LIMIT]
    return render(request, "contacts/bulk/list.html", {"ops": ops, "limit": HISTORY_LIMIT})
