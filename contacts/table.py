"""The contact table: the context `templates/contacts/_results.html` needs, shared by the
contact list and every page that shows contacts in the same table (a static list's page).

    context = contact_table_context(request, list_members(static_list), scope={"list_id": 3})
    render(request, "my_page.html", context)   # the page includes "contacts/_results.html"

The filter form of the request (search, tag, status, dates, score band, sort, page) narrows
`queryset`; `scope` tells the bulk-actions bar that it acts within a list ("remove from this
list")."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest

from contacts.forms import (
    CF_PREFIX,
    DEFAULT_COLUMNS,
    STANDARD_COLUMNS,
    ColumnsForm,
    ContactFilterForm,
    column_choices,
)
from contacts.models import Contact, CustomField, Tag
from contacts.selectors import DEFAULT_SORT, SORTS, filter_contacts, page_of_contacts


def contact_table_context(
    request: HttpRequest, queryset: QuerySet[Contact], *, scope: dict | None = None
) -> dict[str, Any]:
    """Everything the contact table partial needs: the filter form, one page of `queryset`
    narrowed by the request's filters and sort, the user's columns and the bulk bar's state.

    `scope` (e.g. {"list_id": 3}) is passed on to the bulk bar: a selection made in this table
    is "within this list". No side effects; reads only."""
    custom_fields = list(CustomField.objects.all())
    form = ContactFilterForm(
        request.GET, tag_names=list(Tag.objects.values_list("name", flat=True))
    )
    filters = form.filters()
    sort = request.GET.get("sort") if request.GET.get("sort") in SORTS else DEFAULT_SORT
    page = page_of_contacts(
        filter_contacts(queryset, **filters),
        sort=sort,
        number=_int(request.GET.get("page"), 1),
        page_size=settings.CONTACTS_PAGE_SIZE,
    )
    scope = dict(scope or {})
    return {
        "form": form,
        "page": page,
        "page_links": page_window(page.number, page.num_pages),
        "columns": table_columns(request.user.contact_columns, custom_fields, sort),
        "columns_form": ColumnsForm(
            initial={
                "columns": _chosen_keys(request.user.contact_columns, custom_fields),
                "next": request.get_full_path(),
            },
            custom_fields=custom_fields,
        ),
        "sort_label": sort_label(sort),
        "sort_param": sort if sort != DEFAULT_SORT else "",
        "filtered": bool(filters),
        # Only asked when the page is empty, to tell "no contacts yet" from "no match".
        "has_contacts": bool(page.total) or queryset.exists(),
        "can_change": request.user.can("change_contacts"),
        "can_manage_fields": request.user.can("manage_fields"),
        "table_url": request.path,
        "scope": scope,
        "bulk_filters": _filter_pairs(form),
    }


def _filter_pairs(form: ContactFilterForm) -> list[tuple[str, str]]:
    """The valid, non-empty filters as (name, raw value), carried by the bulk form for
    "select all matching" (re-evaluated on the server when the action runs)."""
    return [
        (name, form.data.get(name))
        for name in form.FILTERS
        if form.cleaned_data.get(name) and form.data.get(name)
    ]


def sort_label(sort: str) -> str:
    name = sort.lstrip("-")
    if name in ("created", "updated"):
        return f"{name}, {'newest' if sort.startswith('-') else 'oldest'} first"
    if name == "score":
        return f"score, {'highest' if sort.startswith('-') else 'lowest'} first"
    return f"{name}, {'Z–A' if sort.startswith('-') else 'A–Z'}"


def _int(value: str | None, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def page_window(number: int, num_pages: int, around: int = 2) -> list[int | None]:
    """Page numbers to link: first, last and `around` either side of the current one; None
    marks a gap ("…")."""
    shown = {1, num_pages, *range(number - around, number + around + 1)}
    pages = sorted(p for p in shown if 1 <= p <= num_pages)
    window: list[int | None] = []
    for p in pages:
        if window and p - window[-1] == 2:
            window.append(p - 1)  # "…" in place of a single page would hide it for nothing
        elif window and p - window[-1] > 2:
            window.append(None)
        window.append(p)
    return window


def _chosen_keys(saved: Any, custom_fields: list[CustomField]) -> list[str]:
    """The user's saved columns that still exist (a custom field may have been deleted)."""
    available = {key for key, _label in column_choices(custom_fields)}
    keys = (
        [k for k in saved if isinstance(k, str) and k in available]
        if isinstance(saved, list)
        else []
    )
    keys = keys or DEFAULT_COLUMNS
    return ["email", *(k for k in keys if k != "email")]


def table_columns(saved: Any, custom_fields: list[CustomField], sort: str) -> list[dict]:
    by_key = {f"{CF_PREFIX}{f.key}": f for f in custom_fields}
    columns = []
    for key in _chosen_keys(saved, custom_fields):
        if key in by_key:
            heading, sort_key = by_key[key].label, ""
        else:
            heading, sort_key = STANDARD_COLUMNS[key]
        column = {
            "key": key,
            "heading": heading,
            "sort": None,
            "next_sort": None,
            "field_type": by_key[key].field_type if key in by_key else "",
        }
        if sort_key:
            column["sort"] = {sort_key: "ascending", f"-{sort_key}": "descending"}.get(sort)
            column["next_sort"] = f"-{sort_key}" if sort == sort_key else sort_key
        columns.append(column)
    return columns
