"""Sign-in, sign-out and password pages of a tenant host, mounted at /accounts/.

The password-reset paths are open to anonymous visitors (see middleware.PUBLIC_PREFIXES). Reset
links are built from the request's host, so they point at the tenant's own host.
"""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from penguinleads.accounts.forms import EmailAuthenticationForm
from penguinleads.accounts.views import WorkspacePasswordResetView

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            authentication_form=EmailAuthenticationForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password-reset/",
        WorkspacePasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    # Our own templates: the admin also renders registration/password_change_*.html.
    path(
        "password-change/",
        auth_views.PasswordChangeView.as_view(
            template_name="accounts/password_change_form.html",
            success_url=reverse_lazy("password_change_done"),
        ),
        name="password_change",
    ),
    path(
        "password-change/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="accounts/password_change_done.html"
        ),
        name="password_change_done",
    ),
]
