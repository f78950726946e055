"""The activity timeline of a contact (/contacts/<id>/timeline/).

One view, four shapes: the whole page (no JavaScript: plain GET with the filters as query
parameters), the panel the profile loads with htmx, `fragment=older` (the next rows plus an
out-of-band "Older" link) and `fragment=rows` (the newest entries from a little before the
page's newest key `after`, merged by the live update in static/js/timeline.js)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode

from contacts.models import Contact
from engagement.timeline import (
    TYPE_LABELS,
    TYPES,
    Cursor,
    TimelineError,
    TimelineQuery,
    contact_timeline,
)

FRAGMENTS = {"older": "contacts/_timeline_older.html", "rows": "contacts/_timeline_rows.html"}
FIRST_YEAR, LAST_YEAR = 1970, 2999


class _TypesField(forms.MultipleChoiceField):
    def to_python(self, value) -> list[str]:
        return [v for v in super().to_python(value) if v]  # ?types= is no type, not a bad one


class TimelineFilterForm(forms.Form):
    types = _TypesField(
        label="Show", required=False, choices=list(TYPE_LABELS.items()),
        widget=forms.CheckboxSelectMultiple,
    )
    date_from = forms.DateField(label="From", required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False,
                              widget=forms.DateInput(attrs={"type": "date"}))
    cursor = forms.CharField(required=False, widget=forms.HiddenInput)
    after = forms.CharField(required=False, widget=forms.HiddenInput)

    def _clean_date(self, name: str) -> dt.date | None:
        value = self.cleaned_data.get(name)
        if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise forms.ValidationError(f"Pick a date between {FIRST_YEAR} and {LAST_YEAR}.")
        return value

    def clean_date_from(self):
        return self._clean_date("date_from")

    def clean_date_to(self):
        return self._clean_date("date_to")

    def _clean_key(self, name: str) -> Cursor | None:
        text = self.cleaned_data.get(name) or ""
        if not text:
            return None
        try:
            return Cursor.decode(text)
        except TimelineError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_cursor(self):
        return self._clean_key("cursor")

    def clean_after(self):
        return self._clean_key("after")

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def full_clean(self):
        # An unknown type gets a message naming the choices (Django's own names only the value).
        super().full_clean()
        if self.is_bound and "types" in self.errors:
            unknown = next((t for t in self.data.getlist("types") if t not in TYPES), "")
            self.errors["types"] = self.error_class([
                f"Unknown activity type “{unknown[:40]}”; choose from {', '.join(TYPES)}."])

    def query(self) -> TimelineQuery:
        data = self.cleaned_data
        zone = timezone.get_current_timezone()
        start = end = None
        if data.get("date_from"):
            start = dt.datetime.combine(data["date_from"], dt.time.min, tzinfo=zone)
        if data.get("date_to"):
            end = dt.datetime.combine(data["date_to"], dt.time.min, tzinfo=zone) + dt.timedelta(
                days=1)
        return TimelineQuery(types=frozenset(data.get("types") or ()), start=start, end=end,
                             cursor=data.get("cursor"), after=data.get("after"))

    def filter_params(self) -> str:
        """The filters as a query string (no cursor), for the paging and live links."""
        if not self.is_bound or not hasattr(self, "cleaned_data"):
            return ""
        pairs = [("types", t) for t in self.cleaned_data.get("types") or ()]
        for name in ("date_from", "date_to"):
            if self.cleaned_data.get(name):
                pairs.append((name, self.cleaned_data[name].isoformat()))
        return urlencode(pairs)


def contact_timeline_view(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact.objects.only("pk", "email", "first_name", "last_name"),
                                pk=pk)
    form = TimelineFilterForm(request.GET or None, auto_id="timeline-%s")
    valid = form.is_valid() if form.is_bound else True
    query = form.query() if form.is_bound and valid else TimelineQuery()
    page = contact_timeline(contact_id=contact.pk, query=query) if valid else None
    url = reverse("contacts:timeline", args=[contact.pk])
    filters = form.filter_params() if valid else ""
    htmx = bool(request.headers.get("HX-Request"))
    fragment = request.GET.get("fragment", "")
    if fragment in FRAGMENTS:
        template = FRAGMENTS[fragment]
    else:
        template = "contacts/_timeline_panel.html" if htmx else "contacts/timeline.html"
    context = {
        "contact": contact, "form": form, "page": page, "timeline_url": url,
        "filters": filters, "type_labels": TYPE_LABELS,
        # new activity lands on the first page, and only when the range reaches today
        "live": valid and query.cursor is None and (query.end is None
                                                    or query.end > timezone.now()),
        "rows_url": _link(url, filters, fragment="rows"),
    }
    if page is not None and page.next_cursor:
        context["older_url"] = _link(url, filters, cursor=page.next_cursor)
        context["older_fragment_url"] = _link(url, filters, cursor=page.next_cursor,
                                              fragment="older")
    # htmx swaps only 2xx answers: the panel carries its error message with a 200.
    status = 400 if not valid and not (htmx and template.endswith("_panel.html")) else 200
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _link(url: str, filters: str, **params: str) -> str:
    query = "&".join(part for part in (filters, urlencode(params)) if part)
    return f"{url}?{query}" if query else url
