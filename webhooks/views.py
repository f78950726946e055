"""Settings › Webhooks (owners and admins): endpoints, their deliveries, replay and test."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from webhooks import services
from webhooks.forms import EndpointForm
from webhooks.models import Delivery, Endpoint

DENIED = "Only owners and admins can manage webhooks."
DELIVERIES_SHOWN = 100


def _require(request) -> None:
    if not request.user.can("manage_api_keys"):
        raise PermissionDenied(DENIED)


def _save(form: EndpointForm, call, **kwargs) -> Endpoint | None:
    """Run the service with the form's values; copy its errors onto the form."""
    if not form.is_valid():
        return None
    try:
        return call(url=form.cleaned_data["url"], kinds=form.cleaned_data["kinds"],
                    description=form.cleaned_data["description"], **kwargs)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            for error in errors:
                form.add_error(field, error)
        return None


def endpoint_list(request):
    _require(request)
    return render(request, "webhooks/list.html", {"endpoints": Endpoint.objects.all()})


def endpoint_add(request):
    _require(request)
    form = EndpointForm(request.POST or None)
    if request.method == "POST":
        created = _save(form, services.create_endpoint, created_by=request.user)
        if created:
            messages.success(request, f"Webhook added: {created.url}")
            return redirect("settings_webhook", pk=created.pk)
    return render(request, "webhooks/form.html", {"form": form})


def endpoint_edit(request, pk: int):
    _require(request)
    endpoint = get_object_or_404(Endpoint, pk=pk)
    initial = {"url": endpoint.url, "kinds": endpoint.kinds, "description": endpoint.description}
    form = EndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and _save(form, services.update_endpoint, endpoint=endpoint):
        messages.success(request, "Webhook saved.")
        return redirect("settings_webhook", pk=pk)
    return render(request, "webhooks/form.html", {"form": form, "endpoint": endpoint})


def endpoint_detail(request, pk: int):
    _require(request)
    endpoint = get_object_or_404(Endpoint, pk=pk)
    deliveries = endpoint.deliveries.order_by("-id")[:DELIVERIES_SHOWN]
    return render(request, "webhooks/detail.html",
                  {"endpoint": endpoint, "deliveries": deliveries})


@require_POST
def endpoint_set_active(request, pk: int, active: bool):
    _require(request)
    endpoint = get_object_or_404(Endpoint, pk=pk)
    services.set_endpoint_active(endpoint=endpoint, active=active)
    messages.success(request, "Webhook enabled." if active else "Webhook disabled.")
    return redirect("settings_webhook", pk=pk)


def endpoint_delete(request, pk: int):
    _require(request)
    endpoint = get_object_or_404(Endpoint, pk=pk)
    if request.method == "POST":
        services.delete_endpoint(endpoint=endpoint)
        messages.success(request, f"Webhook deleted: {endpoint.url}")
        return redirect("settings_webhooks")
    return render(request, "webhooks/delete.html", {"endpoint": endpoint})


@require_POST
def endpoint_test(request, pk: int):
    _require(request)
    endpoint = get_object_or_404(Endpoint, pk=pk)
    _run(request, services.send_test_event, "Test event queued.", endpoint=endpoint)
    return redirect("settings_webhook", pk=pk)


@require_POST
def delivery_replay(request, pk: int):
    _require(request)
    delivery = get_object_or_404(Delivery, pk=pk)
    _run(request, services.replay_delivery, "Delivery queued again.", delivery=delivery)
    return redirect("settings_webhook", pk=delivery.endpoint_id)


def _run(request, call, success: str, **kwargs) -> None:
    try:
        call(**kwargs)
        messages.success(request, success)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
