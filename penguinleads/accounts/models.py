"""Users and roles. The User table exists in every schema: in a tenant's schema it holds that
workspace's team; in the public schema it holds support staff for the public admin."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MARKETER = "marketer", "Marketer"
    VIEWER = "viewer", "Viewer"


# What each role may do. Views and the API ask `user.can(<capability>)`.
CAPABILITIES: dict[str, set[str]] = {
    "view_contacts": {Role.OWNER, Role.ADMIN, Role.MARKETER, Role.VIEWER},
    "change_contacts": {Role.OWNER, Role.ADMIN, Role.MARKETER},
    "manage_fields": {Role.OWNER, Role.ADMIN},
    "manage_team": {Role.OWNER, Role.ADMIN},
    "manage_api_keys": {Role.OWNER, Role.ADMIN},
    "manage_scoring": {Role.OWNER, Role.ADMIN},  # score settings, inbound webhook secret
    "manage_owners": {Role.OWNER},
}


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("role", Role.OWNER)
        return self.create_user(email, password, **extra)

    def get_by_natural_key(self, username: str) -> User:
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(max_length=254, unique=True)  # stored lower-cased
    full_name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MARKETER)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="May log in to this schema's Django admin (support staff)."
    )
    date_joined = models.DateTimeField(default=timezone.now)
    contact_columns = models.JSONField(
        default=list, blank=True, help_text="Columns this user chose for the contact table."
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.full_name or self.email

    def can(self, capability: str) -> bool:
        if not self.is_active:
            return False
        if self.is_superuser:
            return True
        return self.role in CAPABILITIES[capability]

    @property
    def display_name(self) -> str:
        return self.full_name or self.email


class ApiKey(models.Model):
    """A per-tenant API key. Only a SHA-256 of the secret is stored; the key is shown once."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
