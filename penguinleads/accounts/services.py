"""Team management and support logins.

Every function here works on the current schema (the tenant of the request), except
`issue_support_token`, which runs in the public admin and only reads the target schema.
"""

from __future__ import annotations

from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_tenants.utils import schema_context

from penguinleads.accounts.models import Role, User

SUPPORT_TOKEN_SALT = "penguinleads.support-login"
SUPPORT_TOKEN_MAX_AGE = 60  # seconds


class SupportTokenError(Exception):
    """A support link that must not log anyone in; the message is shown to the visitor."""


# --- Team --------------------------------------------------------------------------------------


def _require(actor: User, capability: str, message: str) -> None:
    if not actor.can(capability):
        raise PermissionDenied(message)


def _require_owner_rights(actor: User, *roles: str) -> None:
    if Role.OWNER in roles:
        _require(actor, "manage_owners", "Only an owner can add, promote or change owners.")


def _lock_active_owner_ids() -> list[int]:
    # Locking the owners' rows serialises concurrent demotions, so two admins cannot remove the
    # last two owners at the same moment.
    owners = User.objects.select_for_update().filter(role=Role.OWNER, is_active=True)
    return list(owners.values_list("pk", flat=True))


def _refuse_last_owner(member: User, message: str) -> None:
    if _lock_active_owner_ids() == [member.pk]:
        raise ValidationError(message)


def add_member(
    *,
    actor: User,
    email: str,
    full_name: str,
    role: str,
    password: str | None = None,
    domain: str,
    use_https: bool = False,
    workspace_name: str = "",
) -> User:
    """Add a user to the current tenant's team.

    With a password the member can sign in at once; without one the account gets an unusable
    password and an email with a link to set it (valid as long as a password-reset link).

    Side effects: creates a User in the current schema; may send one email.
    Raises PermissionDenied (actor may not manage the team / owners) or ValidationError
    (email already in the team).
    """
    _require(actor, "manage_team", "Only owners and admins can manage the team.")
    _require_owner_rights(actor, role)
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError(f"{email} is already a member of this workspace.")
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email, password=password or None, full_name=full_name.strip(), role=role
            )
    except IntegrityError:  # a concurrent add of the same address
        raise ValidationError(f"{email} is already a member of this workspace.") from None
    if not password:
        send_set_password_email(
            user=user,
            domain=domain,
            use_https=use_https,
            workspace_name=workspace_name,
            invited_by=actor,
        )
    return user


def send_set_password_email(
    *, user: User, domain: str, use_https: bool, workspace_name: str, invited_by: User
) -> None:
    """Email `user` a one-time link (on `domain`, the tenant's host) to choose a password.

    Side effects: sends one email.
    """
    context = {
        "user": user,
        "invited_by": invited_by,
        "workspace_name": workspace_name,
        "link": "{}://{}{}".format(
            "https" if use_https else "http",
            domain,
            reverse(
                "password_reset_confirm",
                kwargs={
                    "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                    "token": default_token_generator.make_token(user),
                },
            ),
        ),
    }
    subject = render_to_string("accounts/invitation_subject.txt", context)
    body = render_to_string("accounts/invitation_email.txt", context)
    send_mail("".join(subject.splitlines()), body, None, [user.email])


def change_role(*, actor: User, member: User, role: str) -> None:
    """Give `member` another role.

    Side effects: updates member.role. Raises PermissionDenied when a non-owner touches an
    owner or grants the owner role, ValidationError when it would leave no active owner.
    """
    _require(actor, "manage_team", "Only owners and admins can manage the team.")
    _require_owner_rights(actor, member.role, role)
    with transaction.atomic():
        if member.role == Role.OWNER and role != Role.OWNER and member.is_active:
            _refuse_last_owner(
                member, f"{member.email} is the last active owner; make someone else owner first."
            )
        member.role = role
        member.save(update_fields=["role"])


def deactivate_member(*, actor: User, member: User) -> None:
    """Stop `member` from signing in (their data and history stay).

    Side effects: sets member.is_active=False, which also ends their sessions (the auth
    backend refuses inactive users). Raises PermissionDenied / ValidationError as above, and
    ValidationError when actors deactivate themselves.
    """
    _require(actor, "manage_team", "Only owners and admins can manage the team.")
    _require_owner_rights(actor, member.role)
    if member.pk == actor.pk:
        raise ValidationError("You cannot deactivate yourself.")
    with transaction.atomic():
        if member.role == Role.OWNER:
            _refuse_last_owner(member, f"{member.email} is the last active owner.")
        member.is_active = False
        member.save(update_fields=["is_active"])


def reactivate_member(*, actor: User, member: User) -> None:
    """Let a deactivated member sign in again.

    Side effects: sets member.is_active=True. Raises PermissionDenied as above.
    """
    _require(actor, "manage_team", "Only owners and admins can manage the team.")
    _require_owner_rights(actor, member.role)
    member.is_active = True
    member.save(update_fields=["is_active"])


# --- Support logins ----------------------------------------------------------------------------


def support_email_for(staff_email: str) -> str:
    """The tenant account a support person uses: support+jane@x.com for jane@x.com. A separate
    address keeps support out of the way of a customer who shares the staff member's email."""
    local, _, domain = staff_email.lower().partition("@")
    return f"support+{local}@{domain}"


def _last_login_mark(user: User | None) -> str:
    return user.last_login.isoformat() if user and user.last_login else ""


def issue_support_token(*, schema_name: str, staff_email: str) -> str:
    """A signed link token that logs `staff_email` into `schema_name`'s admin once, within
    SUPPORT_TOKEN_MAX_AGE seconds.

    Single use without storing tokens: like Django's password-reset tokens, the payload carries
    the support account's last_login, which redeeming changes, so a second use no longer
    matches. Side effects: none (reads the support account in the tenant's schema).
    """
    with schema_context(schema_name):
        user = User.objects.filter(email=support_email_for(staff_email)).first()
        mark = _last_login_mark(user)
    payload = {"schema": schema_name, "email": staff_email.lower(), "last_login": mark}
    return signing.TimestampSigner(salt=SUPPORT_TOKEN_SALT).sign_object(payload)


def redeem_support_token(*, token: str) -> User:
    """Check a support token against the current schema and return the support account to log
    in, creating it on first use.

    Side effects: creates or updates (staff, superuser, admin role, active, unusable password,
    last_login=now) the support User in the current schema. Raises SupportTokenError with the
    message for the visitor when the token is tampered, expired, reused or for another tenant.
    """
    signer = signing.TimestampSigner(salt=SUPPORT_TOKEN_SALT)
    try:
        payload = signer.unsign_object(token, max_age=SUPPORT_TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        raise SupportTokenError(
            "This support link has expired (links work for 60 seconds). "
            "Open the workspace's admin again from the support admin."
        ) from None
    except signing.BadSignature:
        raise SupportTokenError("This support link is invalid: it has been altered.") from None
    if payload.get("schema") != connection.schema_name:
        raise SupportTokenError("This support link is for another workspace.")
    try:
        with transaction.atomic():
            return _claim_support_account(payload["email"], payload["last_login"])
    except IntegrityError:  # two first uses at once: the other one created the account
        raise SupportTokenError("This support link has already been used.") from None


def _claim_support_account(staff_email: str, mark: str) -> User:
    email = support_email_for(staff_email)
    user = User.objects.select_for_update().filter(email=email).first()
    if _last_login_mark(user) != mark:
        raise SupportTokenError("This support link has already been used.")
    if user is None:
        user = User(email=email)
    user.full_name = f"Support: {staff_email}"
    user.role = Role.ADMIN
    user.is_staff = user.is_superuser = user.is_active = True
    # Nobody signs in to this account with a password, not even someone who created it first.
    user.set_unusable_password()
    user.last_login = timezone.now()
    user.save()
    return user
