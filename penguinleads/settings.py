"""PenguinLeads settings, read from the environment (see README "Configuration").

Unset variables give the embedded development defaults: embedded PostgreSQL, the django-q2 ORM
broker, the in-memory channel layer, local file storage, the system DNS resolver and console
email.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def envlist(name: str, default: str = "") -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


TESTING = "pytest" in sys.modules or os.environ.get("PENGUINLEADS_TESTING") == "1"
DEBUG = envbool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off.")
    # Development only: a fixed key so sessions survive restarts of `make run`.
    SECRET_KEY = "dev-insecure-penguinleads-key-change-me-in-production-0123456789"

# Tenants are served on subdomains (demo.localhost in development), so the default allows any
# subdomain of localhost; production lists its own domains.
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,.localhost,127.0.0.1,testserver,.testserver")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

# The bare domain that serves the public schema (landing page and support admin).
PUBLIC_DOMAIN = os.environ.get("PUBLIC_DOMAIN", "localhost")

SHARED_APPS = [
    "penguinleads.tenants",  # before django_tenants so our create_tenant command wins
    "django_tenants",
    "penguinleads.accounts",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "django_q",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "mailcheck",  # shared: DNS verdicts cache and disposable allow-list (public schema)
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.admin",
    "penguinleads.accounts",
    "contacts",
    "imports",
    "segments",
    "engagement",
    "webhooks",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_SCHEMA_URLCONF = "penguinleads.urls_public"
ROOT_URLCONF = "penguinleads.urls"
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
AUTH_USER_MODEL = "accounts.User"

MIDDLEWARE = [
    # Static files first: they need no tenant (and no database query), whatever the host.
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "penguinleads.tenants.middleware.TenantMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "penguinleads.accounts.middleware.LoginRequiredOnTenantMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "penguinleads.context_processors.workspace",
            ],
        },
    },
]

WSGI_APPLICATION = None
ASGI_APPLICATION = "penguinleads.asgi.application"

# --- Database -------------------------------------------------------------------------------
if os.environ.get("DATABASE_URL"):
    import dj_database_url

    _db = dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)
else:
    from penguinleads.embedded_db import ensure_embedded_database

    _db = ensure_embedded_database(BASE_DIR / ".pgdata")
_db["ENGINE"] = "django_tenants.postgresql_backend"
_db.setdefault("OPTIONS", {})
# TEST_DB_SUFFIX lets several test runs share one server without clashing.
_db["TEST"] = {"NAME": f"test_{_db['NAME']}{os.environ.get('TEST_DB_SUFFIX', '')}"}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/contacts/"
LOGOUT_REDIRECT_URL = "login"
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- I18N / static --------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / ".media"))
MEDIA_URL = "/media/"
WHITENOISE_USE_FINDERS = DEBUG or TESTING

# --- Storage: local by default, S3 when S3_BUCKET is set ------------------------------------
S3_BUCKET = os.environ.get("S3_BUCKET", "")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
if S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": os.environ.get("S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("S3_REGION", "us-east-1"),
            "access_key": os.environ.get("S3_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("S3_SECRET_ACCESS_KEY") or None,
            "querystring_expire": envint("S3_URL_EXPIRE_SECONDS", 300),
            "file_overwrite": False,
            # Spool downloads of big files to disk instead of holding them in memory.
            "max_memory_size": 8 * 1024 * 1024,
            "default_acl": None,
            # Signed download links: S3 refuses the older scheme boto falls back to with a
            # custom endpoint.
            "signature_version": "s3v4",
        },
    }

# --- Background jobs, WebSocket fan-out, cache ------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
Q_CLUSTER = {
    "name": "penguinleads",
    "workers": envint("Q_WORKERS", 2),
    "timeout": envint("Q_TIMEOUT", 3600),
    "retry": envint("Q_TIMEOUT", 3600) + 60,
    "max_attempts": 3,
    "catch_up": False,
    "label": "Background jobs",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- DNS for MX checks ----------------------------------------------------------------------
DNS_NAMESERVERS = envlist("DNS_NAMESERVERS")  # host[:port], … ; empty: the system resolver
DNS_TIMEOUT_SECONDS = float(os.environ.get("DNS_TIMEOUT_SECONDS", "3"))
DNS_CACHE_TTL_SECONDS = envint("DNS_CACHE_TTL_SECONDS", 7 * 24 * 3600)
DNS_CONCURRENCY = envint("DNS_CONCURRENCY", 64)
# Domains never flagged as disposable, on top of AllowedDomain rows (comma-separated).
DISPOSABLE_ALLOWLIST = envlist("DISPOSABLE_ALLOWLIST")

# --- Outbound webhooks -----------------------------------------------------------------------
# Private/loopback receivers are refused in production (SSRF); allowed while developing/testing.
WEBHOOKS_ALLOW_PRIVATE = envbool("WEBHOOKS_ALLOW_PRIVATE", DEBUG or TESTING)
WEBHOOKS_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOKS_TIMEOUT_SECONDS", "10"))
WEBHOOKS_DISABLE_AFTER_FAILURES = envint("WEBHOOKS_DISABLE_AFTER_FAILURES", 20)

# --- Email ----------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "PenguinLeads <no-reply@localhost>")

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["penguinleads.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["penguinleads.api.permissions.HasApiKey"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "penguinleads.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PenguinLeads API",
    "DESCRIPTION": "Contacts of one workspace. Authenticate with `Authorization: Bearer <api key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Security (production: DEBUG off) -------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REFERRER_POLICY = "same-origin"

# --- Product limits -------------------------------------------------------------------------
CONTACTS_PAGE_SIZE = envint("CONTACTS_PAGE_SIZE", 50)
IMPORT_MAX_UPLOAD_BYTES = envint("IMPORT_MAX_UPLOAD_MB", 512) * 1024 * 1024
IMPORT_MAX_ROWS = envint("IMPORT_MAX_ROWS", 5_000_000)
IMPORT_MAX_COLUMNS = envint("IMPORT_MAX_COLUMNS", 2000)
IMPORT_INLINE_MAX_ROWS = 1000  # larger files run as a background job
IMPORT_CHUNK_ROWS = envint("IMPORT_CHUNK_ROWS", 50_000)
# CSV files (XLSX worksheets: their unpacked XML) from this size on are read by two processes
# (imports.staging.load_stage).
IMPORT_SPLIT_MIN_BYTES = envint("IMPORT_SPLIT_MIN_MB", 16) * 1024 * 1024
# Connections writing an import's chunks at once (each chunk its own transaction): the database
# does the work, and two chunks on two cores take ~55% of the time of one after the other.
IMPORT_WRITERS = envint("IMPORT_WRITERS", max(1, min(os.cpu_count() or 1, 4)))
# Uploads stream to storage; Django itself must not refuse them first.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
API_BATCH_LIMIT = 1000

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"pgserver": {"level": "WARNING"}},
}
