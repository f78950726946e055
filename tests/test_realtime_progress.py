"""The live progress sockets of bulk actions and exports (the shared ProgressConsumer behind
/ws/bulk/<id>/ and /ws/exports/<id>/): the job's progress, a close when it has ended, and
nothing of another tenant's jobs."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model

from contacts.models import BulkOperation
from imports.models import ExportJob
from penguinleads.realtime import TenantWebsocketStack, websocket_urlpatterns
from tests.conftest import client_for, host_of, in_schema, make_user

pytestmark = pytest.mark.django_db(transaction=True)

# The project's own routes, so the test also proves each path is wired to its consumer.
application = TenantWebsocketStack(URLRouter(websocket_urlpatterns))


def _cookie(tenant) -> str:
    user = make_user(tenant, "viewer", email=f"ws-jobs-{uuid.uuid4().hex[:12]}@example.com")
    client = client_for(tenant, user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _socket(host: str, path: str, cookie: str) -> WebsocketCommunicator:
    headers = [(b"host", host.encode()), (b"cookie", cookie.encode())]
    return WebsocketCommunicator(application, path, headers=headers)


@pytest.fixture
def cleanup(tenant, other_tenant):
    yield
    for t in (tenant, other_tenant):
        with in_schema(t):
            ExportJob.objects.all().delete()
            BulkOperation.objects.all().delete()
            get_user_model().objects.filter(email__startswith="ws-jobs-").delete()


def _export(tenant, **fields) -> ExportJob:
    with in_schema(tenant):
        return ExportJob.objects.create(file_format="csv", label="All contacts", **fields)


def _bulk(tenant, **fields) -> BulkOperation:
    with in_schema(tenant):
        return BulkOperation.objects.create(kind="add_tags", **fields)


def test_export_socket_sends_progress_until_the_export_ends(tenant, cleanup):
    cookie, host = _cookie(tenant), host_of(tenant)
    job = _export(tenant, status="running", total_rows=40_000, written_rows=10_000)

    async def scenario():
        socket = _socket(host, f"/ws/exports/{job.pk}/", cookie)
        assert (await socket.connect())[0] is True
        first = await socket.receive_json_from(timeout=5)
        assert (first["status"], first["processed_rows"], first["percent"]) == ("running", 10_000, 25)
        await _finish_export(job.pk, tenant)
        last = await socket.receive_json_from(timeout=5)
        assert (last["status"], last["is_active"]) == ("finished", False)
        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 1000}

    async_to_sync(scenario)()


async def _finish_export(pk: int, tenant) -> None:
    from channels.db import database_sync_to_async

    def finish():
        with in_schema(tenant):
            ExportJob.objects.filter(pk=pk).update(status="finished", written_rows=40_000)

    await database_sync_to_async(finish)()


def test_bulk_socket_sends_an_ended_operation_once_and_closes(tenant, cleanup):
    cookie, host = _cookie(tenant), host_of(tenant)
    op = _bulk(tenant, status="finished", total=7, processed=7, changed=6, failed=1)

    async def scenario():
        socket = _socket(host, f"/ws/bulk/{op.pk}/", cookie)
        assert (await socket.connect())[0] is True
        message = await socket.receive_json_from(timeout=5)
        assert (message["changed"], message["failed"], message["is_active"]) == (6, 1, False)
        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 1000}

    async_to_sync(scenario)()


def test_job_sockets_refuse_another_tenants_jobs(tenant, other_tenant, cleanup):
    cookie, host, their_host = _cookie(tenant), host_of(tenant), host_of(other_tenant)
    # ids are per schema: ones this tenant has not used
    export = _export(other_tenant, pk=987_654, status="running", total_rows=10)
    op = _bulk(other_tenant, pk=987_655, status="running", total=10)

    async def scenario():
        for path in (f"/ws/exports/{export.pk}/", f"/ws/bulk/{op.pk}/"):
            socket = _socket(host, path, cookie)
            assert await socket.connect() == (False, 4404)
            stolen = _socket(their_host, path, cookie)  # this tenant's cookie on theirs
            assert await stolen.connect() == (False, 4403)

    async_to_sync(scenario)()
