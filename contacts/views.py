"""Contact pages: table, profile, create/edit/delete and custom field definitions.

Views check the role, validate a form, call one service and render or redirect."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from contacts import fields as field_services
from contacts import services
from contacts.forms import ColumnsForm, ContactForm, CustomFieldForm, ScoreOverrideForm
from contacts.models import Contact, ContactChange, CustomField
from contacts.table import contact_table_context, page_window  # noqa: F401  (page_window: re-export)
from contacts.templatetags.contacts_tags import format_custom
from engagement import scoring
from engagement.models import ContactScore

HISTORY_LIMIT = 100
CHANGE_LABELS = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "company": "Company",
    "job_title": "Job title",
    "phone": "Phone",
    "website": "Website",
    "city": "City",
    "country": "Country",
    "status": "Status",
    "tags": "Tags",
}


def _require(request: HttpRequest, capability: str) -> None:
    if not request.user.can(capability):
        raise PermissionDenied(f"Your role can't do this ({capability}).")


def _custom_fields() -> list[CustomField]:
    return list(CustomField.objects.all())


# --- table ------------------------------------------------------------------------------------


def contact_list(request: HttpRequest) -> HttpResponse:
    context = contact_table_context(request, Contact.objects.all())
    partial = request.headers.get("HX-Request") and not request.headers.get(
        "HX-History-Restore-Request"
    )
    template = "contacts/_results_htmx.html" if partial else "contacts/list.html"
    response = render(request, template, context)
    # The same URL answers with the whole page or the table part; caches must keep them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_POST
def save_columns(request: HttpRequest) -> HttpResponse:
    """Save the columns this user wants in the table (a personal preference, so viewers may
    choose theirs too)."""
    form = ColumnsForm(request.POST, custom_fields=_custom_fields())
    if form.is_valid():
        request.user.contact_columns = form.cleaned_data["columns"]
        request.user.save(update_fields=["contact_columns"])
        messages.success(request, "Columns saved.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("contacts:list")
    return redirect(target)


# --- profile ----------------------------------------------------------------------------------


def contact_detail(
    request: HttpRequest, pk: int, override_form: ScoreOverrideForm | None = None
) -> HttpResponse:
    contact = get_object_or_404(
        Contact.objects.select_related("created_by", "updated_by").prefetch_related("tags"),
        pk=pk,
    )
    custom_fields = _custom_fields()
    changes = list(
        ContactChange.objects.filter(contact=contact).select_related("actor")[:HISTORY_LIMIT]
    )
    values = contact.custom_fields or {}
    return render(
        request,
        "contacts/detail.html",
        {
            "contact": contact,
            "custom_values": [
                (f.label, format_custom(values.get(f.key), f.field_type)) for f in custom_fields
            ],
            "history": [(change, change_lines(change, custom_fields)) for change in changes],
            "history_limit": HISTORY_LIMIT,
            "can_change": request.user.can("change_contacts"),
            **_score_panel(request, contact, override_form),
        },
        status=400 if override_form is not None else 200,
    )


def _score_panel(request: HttpRequest, contact: Contact,
                 form: ScoreOverrideForm | None) -> dict[str, Any]:
    """Context of contacts/_score_panel.html: the score row (None: no score yet), whether an
    override is in force, the breakdown, and the override form for those who may change."""
    row = ContactScore.objects.filter(contact=contact).first()
    overridden = row is not None and row.override_score is not None and (
        row.override_until is None or row.override_until > timezone.now())
    if form is None and request.user.can("change_contacts"):
        form = ScoreOverrideForm()
    return {"score_row": row, "score_overridden": overridden, "override_form": form,
            "breakdown": scoring.score_breakdown(contact_id=contact.pk)}


@require_POST
def score_override(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "change_contacts")
    contact = get_object_or_404(Contact, pk=pk)
    form = ScoreOverrideForm(request.POST)
    if form.is_valid():
        try:
            scoring.set_score_override(contact=contact, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Score set to {form.cleaned_data['score']} by hand.")
            return redirect("contacts:detail", pk=pk)
    return contact_detail(request, pk, override_form=form)


@require_POST
def score_override_remove(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "change_contacts")
    contact = get_object_or_404(Contact, pk=pk)
    if scoring.clear_score_override(contact=contact, actor=request.user) is not None:
        messages.success(request, "Override removed: the score is the computed one again.")
    return redirect("contacts:detail", pk=pk)


def change_lines(change: ContactChange, custom_fields: list[CustomField]) -> list[tuple]:
    """(field label, old, new) display strings of one history entry; custom fields are
    compared key by key."""
    types = {f.key: (f.label, f.field_type) for f in custom_fields}
    lines = []
    for name, pair in (change.changes or {}).items():
        old, new = pair if isinstance(pair, list) and len(pair) == 2 else (None, pair)
        if name == "custom_fields":
            old, new = old or {}, new or {}
            for key in sorted(set(old) | set(new)):
                if old.get(key) != new.get(key):
                    label, field_type = types.get(key, (key, "text"))
                    lines.append(
                        (
                            label,
                            format_custom(old.get(key), field_type),
                            format_custom(new.get(key), field_type),
                        )
                    )
            continue
        lines.append((CHANGE_LABELS.get(name, name), _text(old), _text(new)))
    return lines


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


# --- create / edit / delete -------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def contact_create(request: HttpRequest) -> HttpResponse:
    _require(request, "change_contacts")
    form = ContactForm(request.POST or None, custom_fields=_custom_fields())
    return _contact_form(
        request, form, None,
        save=lambda data, tags: services.create_contact(
            data=data, tags=tags, actor=request.user, source="ui"),
        done=lambda contact: f"Contact {contact.email} created.",
    )


@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "change_contacts")
    contact = get_object_or_404(Contact.objects.prefetch_related("tags"), pk=pk)
    data = request.POST if request.method == "POST" else None
    form = ContactForm(data, custom_fields=_custom_fields(), contact=contact)
    return _contact_form(
        request, form, contact,
        save=lambda data, tags: services.update_contact(
            contact=contact, data=data, tags=tags, actor=request.user, source="ui"),
        done=lambda _contact: "Changes saved.",
    )


def _contact_form(request: HttpRequest, form: ContactForm, contact: Contact | None, *,
                  save, done) -> HttpResponse:
    """The create and edit pages: on a valid POST call `save(data, tags)` (a service), turn
    its refusals into field errors (a duplicate email links to the existing contact)."""
    duplicate_id = None
    if request.method == "POST" and form.is_valid():
        try:
            saved = save(form.contact_data(), form.cleaned_data["tags"])
        except services.DuplicateEmail as exc:
            duplicate_id = exc.existing_id
            form.add_error("email", exc)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, done(saved))
            return redirect("contacts:detail", pk=saved.pk)
    return render(
        request, "contacts/form.html",
        {"form": form, "contact": contact, "duplicate_id": duplicate_id},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
def contact_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "change_contacts")
    contact = get_object_or_404(Contact, pk=pk)
    if request.method == "POST":
        services.delete_contact(contact=contact, actor=request.user, source="ui")
        messages.success(request, f"Contact {contact.email} deleted.")
        return redirect("contacts:list")
    return render(request, "contacts/confirm_delete.html", {"contact": contact})


# --- custom field definitions -----------------------------------------------------------------


def field_list(request: HttpRequest) -> HttpResponse:
    _require(request, "manage_fields")
    return render(request, "contacts/fields/list.html", {"fields": _custom_fields()})


@require_http_methods(["GET", "POST"])
def field_create(request: HttpRequest) -> HttpResponse:
    _require(request, "manage_fields")
    form = CustomFieldForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            field = field_services.create_custom_field(
                key=form.cleaned_data["key"],
                label=form.cleaned_data["label"],
                field_type=form.cleaned_data["field_type"],
                position=form.cleaned_data["position"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Custom field “{field.label}” created.")
            return redirect("contacts:field_list")
    return render(
        request,
        "contacts/fields/form.html",
        {"form": form, "field": None},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
def field_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "manage_fields")
    field = get_object_or_404(CustomField, pk=pk)
    form = CustomFieldForm(request.POST or None, field=field)
    if request.method == "POST" and form.is_valid():
        position = form.cleaned_data["position"]
        try:
            field = field_services.update_custom_field(
                field=field,
                label=form.cleaned_data["label"],
                field_type=form.cleaned_data["field_type"],
                position=field.position if position is None else position,
            )
        except ValidationError as exc:
            form.add_error("field_type", exc)
        else:
            messages.success(request, f"Custom field “{field.label}” saved.")
            return redirect("contacts:field_list")
    return render(
        request,
        "contacts/fields/form.html",
        {"form": form, "field": field},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
def field_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "manage_fields")
    field = get_object_or_404(CustomField, pk=pk)
    if request.method == "POST":
        changed = field_services.delete_custom_field(field=field, actor=request.user)
        messages.success(
            request,
            f"Custom field “{field.label}” deleted; its value was removed from "
            f"{changed:,} contact{'s' if changed != 1 else ''}.",
        )
        return redirect("contacts:field_list")
    return render(
        request,
        "contacts/fields/confirm_delete.html",
        {
            "field": field,
            "value_count": field_services.count_field_values(key=field.key),
        },
    )
