"""The tenant-host end of a support login (the public admin makes the link)."""

from __future__ import annotations

from django.contrib.auth import login
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from penguinleads.accounts.services import SupportTokenError, redeem_support_token


@never_cache
def support_login(request, token: str):
    """Log support staff into this workspace's admin with a one-time link from the public
    admin. Any refused link gets a 403 page that says why."""
    try:
        user = redeem_support_token(token=token)
    except SupportTokenError as error:
        return render(
            request, "accounts/support_login_failed.html", {"reason": str(error)}, status=403
        )
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect("admin:index")
