"""Benchmark: the activity timeline of one contact with 10,000 events, and event → visible.

    .venv/bin/python bench/timeline_bench.py [--events 10000] [--runs 20]

Tenant `bench` (seeded with `seed_demo --tenant bench --contacts 1000000`). Only the contact
with the highest id is touched: it gets --events email events (one set-based INSERT … SELECT
generate_series, ON CONFLICT DO NOTHING on the event ids, so a re-run adds nothing) and 300
score changes (once), then its score is recomputed.

1. Timeline render: the timeline view (engagement.timeline_views, RequestFactory on the
   tenant: view, selector, template; no middleware), median and worst of --runs, for the
   panel the profile loads (first page), a deep page (cursor 9,000 entries down), a filtered
   page (replies only) and the whole page without JavaScript. Target ≤ 150 ms.
2. Event → visible: a consumer subscribed to /ws/contacts/<id>/activity/ (the project's
   routes, in this process), one event ingested through engagement.services.ingest_events;
   time from the call until the socket's message arrives, median and worst of --runs: once
   with the push after commit (same process or a shared channel layer), once with the push
   off (another process with the in-memory layer: only the 1 s poll tells). Target ≤ 1 s.
   The events of this step are deleted afterwards (and the score recomputed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penguinleads.settings")

import django  # noqa: E402

django.setup()

from channels.db import database_sync_to_async  # noqa: E402
from channels.routing import URLRouter  # noqa: E402
from channels.testing import WebsocketCommunicator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.urls import resolve  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from engagement import services  # noqa: E402
from engagement.scoring import recompute_scores  # noqa: E402
from engagement.timeline import Cursor, activity_head  # noqa: E402
from engagement.timeline_views import contact_timeline_view  # noqa: E402
from penguinleads.realtime import websocket_urlpatterns  # noqa: E402
from penguinleads.tenants.models import Tenant  # noqa: E402

SCHEMA = "bench"
PREFIX = "tlbench"

_SEED_EVENTS = """
INSERT INTO engagement_emailevent
    (event_id, contact_id, campaign_id, type, occurred_at, received_at, url, subject, preview,
     message_id, bounce_type)
SELECT %(prefix)s || '-' || %(cid)s || '-' || g, %(cid)s,
       (%(campaigns)s::bigint[])[1 + g %% greatest(cardinality(%(campaigns)s::bigint[]), 1)],
       (ARRAY['sent','sent','sent','sent','sent','sent','sent','sent','opened','opened',
              'opened','opened','opened','opened','clicked','clicked','clicked','replied',
              'bounced','unsubscribed'])[1 + g %% 20],
       %(now)s - g * interval '23 minutes', %(now)s,
       CASE WHEN g %% 20 IN (14, 15, 16) THEN 'https://example.com/offer/' || g ELSE '' END,
       'Quick question #' || (g / 4), 'Hi there, I wanted to follow up on our last note…',
       '<' || %(prefix)s || '-' || (g / 4) || '@mail.example.com>',
       CASE WHEN g %% 20 = 18 THEN 'soft' ELSE '' END
FROM generate_series(1, %(events)s) AS g
ON CONFLICT (event_id) DO NOTHING
"""

_SEED_SCORES = """
INSERT INTO engagement_scorechange
    (contact_id, old_score, new_score, old_band, new_band, reason, created_at)
SELECT %(cid)s, g, g + 1, 'cold', 'cold', 'timeline bench', %(now)s - g * interval '13 hours'
FROM generate_series(1, 300) AS g
WHERE NOT EXISTS (SELECT 1 FROM engagement_scorechange
                  WHERE contact_id = %(cid)s AND reason = 'timeline bench')
"""


def seed(events: int) -> tuple[int, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, email FROM contacts_contact ORDER BY id DESC LIMIT 1")
        cid, email = cursor.fetchone()
        cursor.execute("SELECT id FROM segments_campaign ORDER BY id LIMIT 5")
        campaigns = [row[0] for row in cursor.fetchall()]
        now = timezone.now()
        t0 = time.perf_counter()
        params = {"prefix": PREFIX, "cid": cid, "campaigns": campaigns, "events": events,
                  "now": now}
        cursor.execute(_SEED_EVENTS, params)
        added = cursor.rowcount
        cursor.execute(_SEED_SCORES, params)
        recompute_scores(contact_ids=[cid], reason="timeline bench")
        cursor.execute("SELECT count(*) FROM engagement_emailevent WHERE contact_id = %s", [cid])
        total = cursor.fetchone()[0]
    print(f"contact {cid} ({email}): {total:,} email events ({added:,} added now, "
          f"{time.perf_counter() - t0:.2f} s), campaigns {campaigns}")
    return cid, email


def deep_cursor(cid: int, depth: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT occurred_at, id FROM engagement_emailevent WHERE contact_id = %s "
            "ORDER BY occurred_at DESC, id DESC OFFSET %s LIMIT 1", [cid, depth])
        when, pk = cursor.fetchone()
    return Cursor(when, "e", pk).encode()


def time_view(tenant, user, cid: int, params: dict, *, htmx: bool, runs: int) -> str:
    factory = RequestFactory(HTTP_HOST=tenant.domains.get(is_primary=True).domain)
    headers = {"HX-Request": "true"} if htmx else {}
    timings, size = [], 0
    for i in range(runs + 2):
        request = factory.get(f"/contacts/{cid}/timeline/", params, headers=headers)
        request.user, request.tenant = user, tenant
        request.resolver_match = resolve(request.path)  # base.html's navigation reads it
        t0 = time.perf_counter()
        response = contact_timeline_view(request, pk=cid)
        body = response.content
        elapsed = time.perf_counter() - t0
        assert response.status_code == 200, body[:300]
        size = len(body)
        if i >= 2:  # two warm-up requests
            timings.append(elapsed * 1000)
    return (f"median {statistics.median(timings):6.1f} ms, worst {max(timings):6.1f} ms "
            f"({size / 1024:.0f} KB)")


def bench_render(tenant, user, cid: int, runs: int) -> None:
    deep = deep_cursor(cid, 9000)
    cases = [
        ("panel, first page (what the profile loads)", {}, True),
        ("panel, deep page (9,000 entries down)", {"cursor": deep}, True),
        ("panel, replies only, first page", {"types": "replied"}, True),
        ("panel, replies only, deep page", {"types": "replied", "cursor": deep}, True),
        ("whole page without JavaScript", {}, False),
    ]
    print(f"timeline render, {runs} runs each (target ≤ 150 ms):")
    for label, params, htmx in cases:
        print(f"  {label:45s} {time_view(tenant, user, cid, params, htmx=htmx, runs=runs)}")
    timings = []
    for _ in range(200):
        t0 = time.perf_counter()
        activity_head(contact_id=cid)
        timings.append((time.perf_counter() - t0) * 1000)
    print(f"  poll statement (activity_head), 200 runs: median "
          f"{statistics.median(timings):.2f} ms, worst {max(timings):.2f} ms")


def _app(tenant, user):
    router = URLRouter(websocket_urlpatterns)

    async def app(scope, receive, send):  # the signed-in user without a session row
        scope = dict(scope, tenant=tenant, user=user, schema_name=tenant.schema_name)
        return await router(scope, receive, send)

    return app


async def _latency(tenant, user, cid: int, email: str, runs: int, tag: str) -> list[float]:
    socket = WebsocketCommunicator(_app(tenant, user), f"/ws/contacts/{cid}/activity/")
    connected, code = await socket.connect()
    assert connected, code

    def ingest(n: int) -> None:
        with schema_context(SCHEMA):
            event = {"event_id": f"{PREFIX}-live-{tag}-{time.time_ns()}-{n}", "type": "opened",
                     "email": email, "occurred_at": timezone.now().isoformat(),
                     "campaign": None, "subject": "Live", "message_id": f"live-{n}"}
            result, = services.ingest_events(events=[event], source="events:bench")
            assert result.status == "accepted", result

    timings = []
    for n in range(runs):
        await asyncio.sleep(0.3)  # apart from the previous one, at a random poll phase
        t0 = time.perf_counter()
        await database_sync_to_async(ingest)(n)
        message = await socket.receive_json_from(timeout=5)
        timings.append((time.perf_counter() - t0) * 1000)
        assert message == {"action": "activity", "contact_id": cid}, message
        while not await socket.receive_nothing(timeout=0.05):
            await socket.receive_json_from()
    await socket.disconnect()
    return timings


def bench_latency(tenant, user, cid: int, email: str, runs: int) -> None:
    started = timezone.now()
    print(f"event → WebSocket message, {runs} events each (target ≤ 1 s; layer: "
          f"{settings.CHANNEL_LAYERS['default']['BACKEND'].rsplit('.', 1)[-1]}):")
    try:
        timings = asyncio.run(_latency(tenant, user, cid, email, runs, "push"))
        print(f"  pushed after commit              median {statistics.median(timings):6.1f} ms, "
              f"worst {max(timings):6.1f} ms")
        pushed = services.push_contact_activity
        services.push_contact_activity = lambda **kwargs: None
        try:
            timings = asyncio.run(_latency(tenant, user, cid, email, runs, "poll"))
        finally:
            services.push_contact_activity = pushed
        print(f"  no push (another process: poll)  median {statistics.median(timings):6.1f} ms, "
              f"worst {max(timings):6.1f} ms")
    finally:
        with schema_context(SCHEMA), connection.cursor() as cursor:
            cursor.execute("DELETE FROM engagement_emailevent WHERE contact_id = %s "
                           "AND event_id LIKE %s", [cid, f"{PREFIX}-live-%"])
            recompute_scores(contact_ids=[cid], reason="timeline bench")
            cursor.execute("DELETE FROM engagement_scorechange WHERE contact_id = %s "
                           "AND created_at >= %s", [cid, started])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    tenant = Tenant.objects.get(schema_name=SCHEMA)
    with schema_context(SCHEMA):
        cid, email = seed(args.events)
        user = get_user_model().objects.filter(is_active=True).order_by("pk").first()
        bench_render(tenant, user, cid, args.runs)
    bench_latency(tenant, user, cid, email, args.runs)


if __name__ == "__main__":
    main()
