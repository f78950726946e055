"""Template helpers of the contact pages. Cells are built with format_html so every value a
user typed is escaped exactly once."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.timezone import localtime

from contacts.forms import CF_PREFIX
from contacts.models import Contact, ContactStatus, ValidationStatus

register = template.Library()
EMPTY = mark_safe('<span class="muted" aria-label="empty">—</span>')  # noqa: S308 - constant


@register.filter
def thousands(value: int) -> str:
    """1234567 → "1,234,567" (humanize is not installed for one filter)."""
    return f"{int(value):,}"


@register.simple_tag(takes_context=True)
def url_with(context, **changes: Any) -> str:
    """The current query string with `changes` applied; empty values drop the parameter."""
    params = context["request"].GET.copy()
    for name, value in changes.items():
        params.pop(name, None)
        if value not in (None, ""):
            params[name] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


def format_when(value) -> str:
    return date_format(localtime(value), "M j, Y H:i") if value else ""


def format_custom(value: Any, field_type: str) -> str:
    if value is None or value == "":
        return ""
    if field_type == "boolean":
        return "Yes" if value else "No"
    return str(value)


@register.simple_tag
def contact_cell(contact: Contact, column: dict) -> str:
    """The HTML of one table cell; `column` is one of the view's column dicts."""
    key = column["key"]
    if key == "email":
        url = reverse("contacts:detail", args=[contact.pk])
        return format_html('<a href="{}">{}</a>', url, contact.email)
    if key == "tags":
        return (
            format_html_join(
                " ", '<span class="tag">{}</span>', ((t.name,) for t in contact.tags.all())
            )
            or EMPTY
        )
    if key == "status":
        return status_badge(contact.status)
    if key == "validation":
        return validation_badge(contact)
    if key in ("created", "updated"):
        value = getattr(contact, f"{key}_at")
        return format_html('<time datetime="{}">{}</time>', value.isoformat(), format_when(value))
    if key.startswith(CF_PREFIX):
        value = (contact.custom_fields or {}).get(key.removeprefix(CF_PREFIX))
        text = format_custom(value, column["field_type"])
    elif key == "name":
        text = contact.full_name
    else:
        text = getattr(contact, key)
    return format_html("{}", text) if text else EMPTY


@register.simple_tag
def status_badge(status: str) -> str:
    label = ContactStatus(status).label if status in ContactStatus.values else status
    return format_html('<span class="badge {}">{}</span>', status, label)


@register.simple_tag
def validation_badge(contact: Contact) -> str:
    value = contact.validation_status
    label = ValidationStatus(value).label if value in ValidationStatus.values else value
    if contact.validation_reason:
        return format_html(
            '<span class="badge {}" title="{}">{}</span> <small class="muted">{}</small>',
            value,
            contact.validation_reason,
            label,
            contact.validation_reason.replace("_", " "),
        )
    return format_html('<span class="badge {}">{}</span>', value, label)
