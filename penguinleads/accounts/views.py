"""Settings pages of a workspace: overview, team and API keys."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from penguinleads.accounts import services
from penguinleads.accounts.forms import AddMemberForm, ApiKeyForm, ChangeRoleForm
from penguinleads.accounts.models import ApiKey, Role, User
from penguinleads.api.keys import create_api_key, revoke_api_key

ROLE_SUMMARIES = {
    Role.OWNER: "can do everything, including managing owners.",
    Role.ADMIN: "can do everything except add or change owners.",
    Role.MARKETER: "can view and change contacts, lists, segments and imports.",
    Role.VIEWER: "can view contacts, lists and segments but not change them.",
}
TEAM_DENIED = "Only owners and admins can manage the team."
KEYS_DENIED = "Only owners and admins can manage API keys."


class WorkspacePasswordResetView(auth_views.PasswordResetView):
    """Django's reset view; the email names the workspace and links to the request's host."""

    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def form_valid(self, form):
        self.extra_email_context = {"workspace_name": self.request.tenant.name}
        return super().form_valid(form)


def _require(request, capability: str, message: str) -> None:
    if not request.user.can(capability):
        raise PermissionDenied(message)


def _members():
    return User.objects.order_by("-is_active", "email")


def _api_keys():
    return ApiKey.objects.select_related("created_by")


def settings_index(request):
    """Everything the user may see about the workspace, one section per card."""
    user = request.user
    context = {
        "domains": request.tenant.domains.order_by("-is_primary", "domain"),
        "members": _members() if user.can("manage_team") else None,
        "api_keys": _api_keys() if user.can("manage_api_keys") else None,
        "can_manage_fields": user.can("manage_fields"),
        "role_summary": ROLE_SUMMARIES.get(user.role, ""),
    }
    return render(request, "settings/index.html", context)


def team(request):
    _require(request, "manage_team", TEAM_DENIED)
    return render(request, "settings/team.html", {"members": _members()})


def add_member(request):
    _require(request, "manage_team", TEAM_DENIED)
    form = AddMemberForm(request.POST or None, actor=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            member = services.add_member(
                actor=request.user,
                email=data["email"],
                full_name=data["full_name"],
                role=data["role"],
                password=data["password"] or None,
                domain=request.get_host(),
                use_https=request.is_secure(),
                workspace_name=request.tenant.name,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            how = (
                "They can sign in now."
                if data["password"]
                else "We emailed them a link to set a password."
            )
            messages.success(request, f"Added {member.email} as {member.get_role_display()}. {how}")
            return redirect("settings_team")
    return render(request, "settings/member_add.html", {"form": form})


def member_detail(request, pk: int):
    """Change a member's role; deactivate/reactivate are separate POSTs from this page."""
    _require(request, "manage_team", TEAM_DENIED)
    member = get_object_or_404(User, pk=pk)
    may_edit = member.role != Role.OWNER or request.user.can("manage_owners")
    form = ChangeRoleForm(request.POST or None, actor=request.user, member=member)
    if request.method == "POST":
        if not may_edit:
            raise PermissionDenied("Only an owner can change an owner.")
        if form.is_valid():
            try:
                services.change_role(
                    actor=request.user, member=member, role=form.cleaned_data["role"]
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"{member.email} is now {member.get_role_display()}.")
                return redirect("settings_team")
    context = {"member": member, "form": form, "may_edit": may_edit}
    return render(request, "settings/member_detail.html", context)


@require_POST
def member_set_active(request, pk: int, active: bool):
    _require(request, "manage_team", TEAM_DENIED)
    member = get_object_or_404(User, pk=pk)
    change = services.reactivate_member if active else services.deactivate_member
    try:
        change(actor=request.user, member=member)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("settings_member", pk=member.pk)
    state = "reactivated: they can sign in again" if active else "deactivated"
    messages.success(request, f"{member.email} was {state}.")
    return redirect("settings_team")


def api_keys(request):
    _require(request, "manage_api_keys", KEYS_DENIED)
    return render(request, "settings/api_keys.html", {"api_keys": _api_keys()})


@never_cache
def api_key_create(request):
    """On success the response itself shows the key: it is never stored in clear, not even in
    the session, so it cannot be shown again."""
    _require(request, "manage_api_keys", KEYS_DENIED)
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            api_key, secret = create_api_key(
                name=form.cleaned_data["name"], created_by=request.user
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            context = {"api_key": api_key, "secret": secret}
            return render(request, "settings/api_key_created.html", context)
    return render(request, "settings/api_key_add.html", {"form": form})


def api_key_revoke(request, pk: int):
    """GET asks for confirmation (works without JavaScript); POST revokes."""
    _require(request, "manage_api_keys", KEYS_DENIED)
    api_key = get_object_or_404(ApiKey, pk=pk)
    if request.method == "POST":
        revoke_api_key(api_key=api_key)
        messages.success(request, f"Revoked {api_key.name}: it no longer works.")
        return redirect("settings_api_keys")
    return render(request, "settings/api_key_revoke.html", {"api_key": api_key})
