"""Live progress of an import over WebSocket: sent while the job runs, the socket closes when
the job ends, and no one reads another tenant's job."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import path

from imports.consumers import ImportProgressConsumer
from imports.models import ImportJob, ImportStatus
from penguinleads.realtime import TenantWebsocketStack
from tests.conftest import client_for, host_of, in_schema, make_user

pytestmark = pytest.mark.django_db(transaction=True)

application = TenantWebsocketStack(
    URLRouter([path("ws/imports/<int:job_id>/", ImportProgressConsumer.as_asgi())])
)


def _cookie(tenant, user) -> str:
    client = client_for(tenant, user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _socket(host: str, job_id: int, cookie: str = "") -> WebsocketCommunicator:
    headers = [(b"host", host.encode())]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, f"/ws/imports/{job_id}/", headers=headers)


def _job(tenant, **fields) -> ImportJob:
    with in_schema(tenant):
        return ImportJob.objects.create(
            file="imports/x/leads.csv", original_name="leads.csv", file_format="csv", **fields
        )


def _user(tenant, role: str):
    return make_user(tenant, role, email=f"ws-progress-{uuid.uuid4().hex[:12]}@example.com")


@pytest.fixture
def cleanup(tenant, other_tenant):
    """Transactional tests commit, and the tenant tables outlive the flush: remove what the
    test made."""
    yield
    for t in (tenant, other_tenant):
        with in_schema(t):
            ImportJob.objects.all().delete()
            get_user_model().objects.filter(email__startswith="ws-progress-").delete()


def test_import_progress_socket_sends_changes_and_closes_when_finished(tenant, cleanup):
    user = _user(tenant, "viewer")
    cookie, host = _cookie(tenant, user), host_of(tenant)
    job = _job(tenant, status=ImportStatus.RUNNING, total_rows=100, processed_rows=10, created=10)

    def advance(**fields):
        with in_schema(tenant):
            ImportJob.objects.filter(pk=job.pk).update(**fields)

    async def scenario():
        socket = _socket(host, job.pk, cookie)
        assert (await socket.connect())[0] is True
        first = await socket.receive_json_from(timeout=5)
        assert (first["id"], first["status"], first["percent"], first["created"]) == (
            job.pk,
            "running",
            10,
            10,
        )
        await database_sync_to_async(advance)(processed_rows=60, created=55, updated=5)
        second = await socket.receive_json_from(timeout=5)
        assert (second["percent"], second["created"], second["updated"], second["is_active"]) == (
            60,
            55,
            5,
            True,
        )
        await database_sync_to_async(advance)(
            status=ImportStatus.FINISHED, processed_rows=100, created=90
        )
        last = await socket.receive_json_from(timeout=5)
        assert (last["status"], last["status_label"], last["is_active"]) == (
            "finished",
            "Finished",
            False,
        )
        closed = await socket.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 1000}
        await socket.wait()

    async_to_sync(scenario)()


def test_import_progress_socket_for_ended_job_sends_once_and_closes(tenant, cleanup):
    user = _user(tenant, "owner")
    cookie, host = _cookie(tenant, user), host_of(tenant)
    job = _job(tenant, status=ImportStatus.READY, total_rows=8, created=8)

    async def scenario():
        socket = _socket(host, job.pk, cookie)
        assert (await socket.connect())[0] is True
        message = await socket.receive_json_from(timeout=5)
        assert (message["status"], message["created"], message["is_active"]) == ("ready", 8, False)
        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 1000}

    async_to_sync(scenario)()


def test_import_progress_socket_refuses_other_tenants_job_and_strangers(
    tenant, other_tenant, cleanup
):
    alpha_user = _user(tenant, "owner")
    alpha_cookie, alpha_host = _cookie(tenant, alpha_user), host_of(tenant)
    beta_host = host_of(other_tenant)
    mine = _job(tenant, status=ImportStatus.RUNNING, total_rows=10)
    # ids are per schema: one that alpha has not used
    theirs = _job(other_tenant, pk=987_654, status=ImportStatus.RUNNING, total_rows=10)

    async def scenario():
        cross = _socket(alpha_host, theirs.pk, alpha_cookie)
        assert await cross.connect() == (False, 4404)
        stolen = _socket(beta_host, theirs.pk, alpha_cookie)  # alpha's cookie on beta's host
        assert await stolen.connect() == (False, 4403)
        anonymous = _socket(alpha_host, mine.pk)
        assert await anonymous.connect() == (False, 4403)

    async_to_sync(scenario)()
