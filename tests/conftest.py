"""Shared fixtures. Two tenants are created once per test session (creating a schema runs every
tenant migration, which takes seconds); each test then runs in a transaction that is rolled
back, inside `tenant`'s schema unless it switches."""

from __future__ import annotations

import contextlib

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from penguinleads.tenants.models import Tenant

TENANTS = {
    "tenant": ("alpha", "alpha.localhost", "Alpha Inc"),
    "other_tenant": ("beta", "beta.localhost", "Beta GmbH"),
}


def ensure_test_tenants() -> None:
    """Create the test tenants unless present. A transactional test ends with Django's flush,
    which empties the public tables (tenant rows) but leaves the schemas: then only the rows
    are made again, which is quick."""
    from django_tenants.utils import schema_exists

    from penguinleads.tenants.models import Domain
    from penguinleads.tenants.services import create_tenant, ensure_public_tenant

    previous = connection.tenant
    connection.set_schema_to_public()
    if Tenant.objects.filter(schema_name__in=[t[0] for t in TENANTS.values()]).count() == 2:
        connection.set_tenant(previous)
        return
    ensure_public_tenant(domain="localhost")
    for schema, domain, name in TENANTS.values():
        if Tenant.objects.filter(schema_name=schema).exists():
            continue
        if schema_exists(schema):
            tenant = Tenant(schema_name=schema, name=name)
            tenant.save(verbosity=0)
            Domain.objects.create(domain=domain, tenant=tenant, is_primary=True)
        else:
            create_tenant(
                schema_name=schema, domain=domain, name=name,
                owner_email=f"owner@{schema}.example.com", owner_password="owner-pass-123",
            )
            # Tests start from an empty workspace: drop the default segments (segments
            # migration 0003; tests/test_segments_events.py covers them).
            with schema_context(schema), connection.cursor() as cursor:
                cursor.execute("DELETE FROM segments_segmentrefresh; "
                               "DELETE FROM segments_segmentmembership; "
                               "DELETE FROM segments_segment")
    connection.set_tenant(previous)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        ensure_test_tenants()
    yield
    # The browser tests' live server answers from short-lived threads whose connections are
    # not always closed before the session ends; the test database can only be dropped once
    # nobody is connected to it.
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def tenant(db) -> Tenant:
    """The tenant under test; the connection is in its schema for the test's duration."""
    ensure_test_tenants()
    tenant = Tenant.objects.get(schema_name=TENANTS["tenant"][0])
    connection.set_tenant(tenant)
    yield tenant
    connection.set_schema_to_public()


@pytest.fixture
def other_tenant(db) -> Tenant:
    """A second tenant that must never see anything of `tenant`."""
    ensure_test_tenants()
    return Tenant.objects.get(schema_name=TENANTS["other_tenant"][0])


def table_stat(table: str, counter: str) -> int:
    """A counter of pg_stat_user_tables (analyze_count, vacuum_count, …) for `table` in the
    current schema, read afresh."""
    with connection.cursor() as cursor:
        # Statistics views are read once per transaction unless the snapshot is cleared.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(f"SELECT {counter} FROM pg_stat_user_tables "
                       "WHERE schemaname = current_schema() AND relname = %s", [table])
        return cursor.fetchone()[0]


@contextlib.contextmanager
def in_schema(tenant: Tenant):
    """Run a block in another tenant's schema, then return to the previous one."""
    previous = connection.tenant
    with schema_context(tenant.schema_name):
        yield
    connection.set_tenant(previous)


def host_of(tenant: Tenant) -> str:
    return tenant.domains.get(is_primary=True).domain


def make_user(tenant: Tenant, role: str = "marketer", email: str | None = None):
    from tests.factories import UserFactory

    with in_schema(tenant):
        kwargs = {"role": role}
        if email:
            kwargs["email"] = email
        return UserFactory(**kwargs)


def make_staff(tenant: Tenant, email: str):
    """A support-staff user of `tenant` (admin role, may open the tenant's Django admin)."""
    user = make_user(tenant, "admin", email=email)
    with in_schema(tenant):
        user.is_staff = user.is_superuser = True
        user.save()
    return user


def client_for(tenant: Tenant, user=None) -> Client:
    """A test client that talks to `tenant`'s host, logged in as `user` if given."""
    client = Client(HTTP_HOST=host_of(tenant))
    if user is not None:
        with in_schema(tenant):
            client.force_login(user)
    return client


@pytest.fixture
def owner(tenant):
    return make_user(tenant, "owner")


@pytest.fixture
def admin_user(tenant):
    return make_user(tenant, "admin")


@pytest.fixture
def marketer(tenant):
    return make_user(tenant, "marketer")


@pytest.fixture
def viewer(tenant):
    return make_user(tenant, "viewer")


@pytest.fixture
def marketer_client(tenant, marketer) -> Client:
    return client_for(tenant, marketer)


@pytest.fixture
def viewer_client(tenant, viewer) -> Client:
    return client_for(tenant, viewer)


@pytest.fixture
def owner_client(tenant, owner) -> Client:
    return client_for(tenant, owner)


def make_half_existing(rows: int, other_tenant: Tenant, *, tag=None) -> None:
    """Every other line of a `rows`-line test file (p0@, p2@, … acme-mail.com) is already a
    contact here (with `tag`, when given); the other tenant holds the same emails, which no
    import or rollback here may touch."""
    from contacts.models import ContactTag
    from tests.factories import ContactFactory

    for i in range(0, rows, 2):
        contact = ContactFactory(email=f"p{i}@acme-mail.com", first_name="Old", company="Old Co")
        if tag is not None:
            ContactTag.objects.create(contact=contact, tag=tag)
    with in_schema(other_tenant):
        for i in range(0, rows, 2):
            ContactFactory(email=f"p{i}@acme-mail.com", first_name="Theirs", company="Beta")


def wipe_imports(*tenants: Tenant) -> None:
    """After a test that commits: remove the imports, contacts, tags and history it wrote in
    each of `tenants` (their staging tables too)."""
    from contacts.models import Contact, ContactChange, ContactTag, Tag
    from imports.models import ImportJob
    from imports.staging import drop_stage

    for tenant in tenants:
        with in_schema(tenant):
            for job in ImportJob.objects.all():
                drop_stage(job)
            ContactTag.objects.all().delete()
            ContactChange.objects.all().delete()
            Contact.objects.all().delete()
            ImportJob.objects.all().delete()
            Tag.objects.all().delete()


def start_worker(code: str, **env: str):
    """`manage.py shell -c code` in a process of its own, on this test's database (its
    environment plus `env`), as a django-q worker would run a task."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    from imports.staging import _database_url

    return subprocess.Popen([sys.executable, "manage.py", "shell", "-c", code],
                            cwd=settings.BASE_DIR,
                            env={**os.environ, **env, "DATABASE_URL": _database_url()})


def kill_worker_when(worker, job, done, *, within: float = 60) -> None:
    """SIGKILL `worker` as soon as `done(job)` holds for the job re-read from the database
    (or after `within` seconds), and wait for it to die."""
    import signal
    import time

    deadline = time.time() + within
    while time.time() < deadline:
        job.refresh_from_db()
        if done(job):
            break
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    job.refresh_from_db()
