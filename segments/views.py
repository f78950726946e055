"""List pages: index, create/edit/archive/delete, a list's contacts, analytics, a new list from
a CSV file, and adding/removing a contact from its profile.

Views check the role, validate a form, call one service and render or redirect."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST

from contacts.models import Contact
from contacts.table import contact_table_context
from imports.forms import ACCEPTED_FORMATS, UploadForm
from imports.readers import FileRejected
from segments import selectors, services
from segments.charts import size_chart
from segments.forms import ListForm, ListFromCsvForm, MembershipForm
from segments.models import StaticList


def require(request: HttpRequest, capability: str) -> None:
    if not request.user.can(capability):
        raise PermissionDenied(f"Your role can't do this ({capability}).")


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _list_or_404(pk: int, lists: QuerySet[StaticList] | None = None) -> StaticList:
    return get_object_or_404(
        (lists if lists is not None else StaticList.objects.all()).select_related("created_by"),
        pk=pk,
    )


# --- index and forms ------------------------------------------------------------------------------


def list_index(request: HttpRequest) -> HttpResponse:
    require(request, "view_contacts")
    archived = request.GET.get("archived") == "1"
    lists = selectors.visible_lists().filter(archived_at__isnull=not archived)
    lists = selectors.with_member_counts(lists.select_related("created_by"))
    return render(request, "segments/index.html", {
        "lists": lists, "archived": archived,
        "archived_count": selectors.visible_lists().filter(archived_at__isnull=False).count(),
        "can_change": request.user.can("change_contacts"),
    })


@require_http_methods(["GET", "POST"])
def list_create(request: HttpRequest) -> HttpResponse:
    require(request, "change_contacts")
    form = ListForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            static_list = services.create_list(
                name=form.cleaned_data["name"], description=form.cleaned_data["description"],
                actor=request.user,
            )
        except ValidationError as exc:
            form.add_error("name", exc)
        else:
            messages.success(request, f"List “{static_list.name}” created.")
            return redirect("lists:detail", pk=static_list.pk)
    return render(request, "segments/form.html", {"form": form, "static_list": None},
                  status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def list_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "change_contacts")
    static_list = _list_or_404(pk)
    initial = {"name": static_list.name, "description": static_list.description}
    form = ListForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_list(static_list=static_list, name=form.cleaned_data["name"],
                                 description=form.cleaned_data["description"])
        except ValidationError as exc:
            form.add_error("name", exc)
        else:
            messages.success(request, "List saved.")
            return redirect("lists:detail", pk=static_list.pk)
    return render(request, "segments/form.html", {"form": form, "static_list": static_list},
                  status=400 if form.errors else 200)


@require_POST
def list_archive(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "change_contacts")
    static_list = _list_or_404(pk)
    archive = request.POST.get("archive") != "0"
    services.set_list_archived(static_list=static_list, archived=archive)
    messages.success(request, f"List “{static_list.name}” {'archived' if archive else 'restored'}.")
    return redirect("lists:detail", pk=static_list.pk)


@require_http_methods(["GET", "POST"])
def list_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "change_contacts")
    static_list = _list_or_404(pk)
    if request.method == "POST":
        try:
            removed = services.delete_list(static_list=static_list)
        except ValidationError as exc:  # a dynamic segment uses it
            messages.error(request, exc.messages[0])
            return redirect("lists:detail", pk=static_list.pk)
        messages.success(
            request, f"List “{static_list.name}” deleted ({_plural(removed, 'member')} removed; "
            "the contacts themselves stay)."
        )
        return redirect("lists:index")
    return render(request, "segments/confirm_delete.html", {
        "static_list": static_list, "count": services.count_members(static_list),
    })


# --- a list's contacts and analytics ------------------------------------------------------------


def list_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "view_contacts")
    static_list = _list_or_404(pk)
    context = contact_table_context(
        request, selectors.list_members(static_list), scope={"list_id": static_list.pk}
    )
    partial = request.headers.get("HX-Request") and not request.headers.get(
        "HX-History-Restore-Request"
    )
    if partial:
        response = render(request, "contacts/_results_htmx.html", context)
    else:
        context.update(static_list=static_list, campaign=_campaign_of(static_list))
        response = render(request, "segments/detail.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _campaign_of(static_list: StaticList):
    if not static_list.campaign_owned:
        return None
    return getattr(static_list, "campaign", None)


def list_analytics(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "view_contacts")
    static_list = _list_or_404(pk)
    stats = selectors.list_analytics(static_list)
    return render(request, "segments/analytics.html", {
        "static_list": static_list, "stats": stats, "chart": size_chart(stats.series),
        "shares": [
            ("Valid", stats.valid, stats.share(stats.valid)),
            ("Unsubscribed", stats.unsubscribed, stats.share(stats.unsubscribed)),
            ("Bounced", stats.bounced, stats.share(stats.bounced)),
        ],
    })


# --- new list from a file -------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def list_from_csv(request: HttpRequest) -> HttpResponse:
    """Create the list, upload the file as an import aimed at it (strategy skip: contacts
    already here are just added), then the usual mapping page."""
    require(request, "change_contacts")
    form = ListFromCsvForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = services.start_list_import(name=form.cleaned_data["name"], fileobj=upload,
                                             filename=upload.name, user=request.user)
        except FileRejected as exc:
            form.add_error("file", str(exc))
        except ValidationError as exc:
            form.add_error("name", exc)
        else:
            return redirect("imports:map", pk=job.pk)
    return render(request, "segments/from_csv.html",
                  {"form": form, "accepted_formats": ACCEPTED_FORMATS},
                  status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def list_remove_file(request: HttpRequest, pk: int) -> HttpResponse:
    """Remove from the list the contacts whose emails a file holds; report what happened."""
    require(request, "change_contacts")
    static_list = _list_or_404(pk)
    form = UploadForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            report = services.remove_file_contacts(static_list=static_list, fileobj=upload,
                                                   filename=upload.name, actor=request.user)
        except FileRejected as exc:
            form.add_error("file", str(exc))
        except services.ListGone as exc:
            raise Http404(str(exc)) from None
    return render(request, "segments/remove_file.html", {
        "static_list": static_list, "form": form, "report": report,
        "accepted_formats": ACCEPTED_FORMATS,
    }, status=400 if form.errors else 200)


# --- a contact's lists (from its profile) --------------------------------------------------------


@require_POST
def contact_membership(request: HttpRequest, contact_pk: int) -> HttpResponse:
    require(request, "change_contacts")
    contact = get_object_or_404(Contact, pk=contact_pk)
    form = MembershipForm(request.POST)
    if not form.is_valid():
        errors = [e for errors in form.errors.values() for e in errors]
        messages.error(request, " ".join(errors))
        return redirect("contacts:detail", pk=contact.pk)
    try:
        message = _change_membership(form.cleaned_data, contact, request.user)
    except (services.ListGone, ValidationError) as exc:
        text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        messages.error(request, text)
        return redirect("contacts:detail", pk=contact.pk)
    messages.success(request, message)
    return redirect("contacts:detail", pk=contact.pk)


def _change_membership(data: dict, contact: Contact, user) -> str:
    if data["action"] == "add" and data.get("new_list"):
        static_list = services.get_or_create_list(name=data["new_list"], actor=user)
    else:
        static_list = StaticList.objects.filter(pk=data["list_id"]).first()
        if static_list is None:
            raise services.ListGone(data["list_id"])
    sql, params = services.ids_of([contact.pk])
    if data["action"] == "add":
        services.add_contacts_to_list(static_list=static_list, ids_sql=sql, params=params,
                                      source="manual", actor=user)
        return f"Added to the list “{static_list.name}”."
    services.remove_contacts_from_list(static_list=static_list, ids_sql=sql, params=params,
                                       source="manual", actor=user)
    return f"Removed from the list “{static_list.name}”."
