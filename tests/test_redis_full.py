"""The Redis-full drill: Redis at ``maxmemory`` with ``noeviction`` refuses every write.

The gateway answers 503 ``redis_full`` with Retry-After (never 500) and changes nothing;
what it acknowledged before reaches Postgres; once Redis has memory again the same
gateway process serves pings without a restart. ``/metrics`` exports Redis's used memory
and its limit, for the alert that fires before Redis is full (alerts.yml)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import uuid4

import pytest
from redis import Redis
from starlette.testclient import TestClient
from support import acknowledged, both_topologies, flush, session_rows, snapshot, with_settings
from test_flusher import at

from flusher.flusher import Flusher
from watchtime import keys
from watchtime.backends import Backends
from watchtime.settings import Settings

ADMIN = {"Authorization": "Bearer test-admin-token"}
W = uuid4()
SESSIONS = [f"s{i}" for i in range(5)]


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    return with_settings(settings, min_ping_interval_seconds=0)


@contextmanager
def redis_full(redis: Redis) -> Iterator[None]:
    """Redis at maxmemory: any limit below what it uses now makes it full at once."""
    assert redis.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    redis.config_set("maxmemory", 1)
    try:
        yield
    finally:
        redis.config_set("maxmemory", 0)


def post(client: TestClient, path: str, session_id: str) -> int:
    answer = client.post(f"/api/webinars/{W}/{path}", json={"session_id": session_id})
    return answer.status_code


def metric(client: TestClient, name: str) -> float:
    found = re.search(rf"^{name}\{{node=\"[^\"]+\"\}} (\S+)$", client.get("/metrics").text, re.M)
    assert found, f"{name} not exported"
    return float(found.group(1))


def test_redis_full_refuses_with_503_loses_nothing_and_recovers(
    client: TestClient, sync_redis: Redis, settings: Settings
):
    schedule = {"webinar_start_time": "2026-11-29T10:00:00Z"}
    assert client.put(f"/api/webinars/{W}", json=schedule, headers=ADMIN).status_code == 200
    assert [post(client, "access/track", s) for s in SESSIONS] == [200] * len(SESSIONS)
    assert [post(client, "presence/ping", s) for s in SESSIONS] == [204] * len(SESSIONS)
    before = acknowledged(sync_redis, W, SESSIONS)
    assert metric(client, "watchtime_redis_maxmemory_bytes") == 0

    with redis_full(sync_redis):
        assert metric(client, "watchtime_redis_used_memory_bytes") > 1
        assert metric(client, "watchtime_redis_maxmemory_bytes") == 1
        redis_before = snapshot(sync_redis)
        for path, session_id in [
            ("presence/ping", "s0"),  # an open session
            ("presence/ping", "new"),  # a ping that would create one
            ("access/track", "new"),
            ("access/exit", "s1"),
        ]:
            answer = client.post(f"/api/webinars/{W}/{path}", json={"session_id": session_id})
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"] == "redis_full"
            assert answer.headers["retry-after"] == "1"
        assert client.get("/healthz").status_code == 200
        assert snapshot(sync_redis) == redis_before  # nothing half-written

    # Memory is back: the same gateway serves again, and every acknowledgement is kept.
    assert [post(client, "presence/ping", s) for s in SESSIONS] == [204] * len(SESSIONS)
    assert post(client, "access/exit", "s1") == 204
    after = acknowledged(sync_redis, W, SESSIONS)
    assert all(after[s][1] == before[s][1] + 1 for s in SESSIONS)
    flush(settings)  # the flusher writes what Redis holds
    assert session_rows(settings.database_url or "") == after


@both_topologies
def test_metrics_export_the_memory_of_every_redis_node(client: TestClient, topology: str):
    text = client.get("/metrics").text
    used = re.findall(r'^watchtime_redis_used_memory_bytes\{node="([^"]+)"\} (\S+)$', text, re.M)
    limits = re.findall(r'^watchtime_redis_maxmemory_bytes\{node="([^"]+)"\} (\S+)$', text, re.M)
    assert len(used) == (3 if topology == "cluster" else 1)  # the primaries
    assert {node for node, _ in used} == {node for node, _ in limits}
    assert all(float(value) > 0 for _, value in used)
    assert all(float(value) == 0 for _, value in limits)  # the test servers have no limit


@pytest.mark.anyio
async def test_a_full_redis_is_still_flushed_and_retiring_frees_its_memory(
    store, redis, pg_pool, pg, settings, webinar
):
    for session_id in SESSIONS:
        await store.track(webinar, session_id, "", extras={"user_agent": "UA"}, now_ms=at(0))
    await store.exit(webinar, "s1", "", now_ms=at(30))
    await redis.config_set("maxmemory", 1)
    try:
        assert (
            await Flusher(Backends(redis, pg_pool, store), settings).cycle(now_ms=at(31)) is False
        )
        assert await redis.exists(keys.extras(webinar, "s1")) == 0  # retired: memory freed
        assert (await store.pending(webinar, 0, now_ms=at(31))).owed == 0
    finally:
        await redis.config_set("maxmemory", 0)
    rows = await pg.fetch("SELECT session_id, closed_reason, user_agent FROM webinar_user_sessions")
    assert sorted(tuple(r) for r in rows) == [
        (s, "exit" if s == "s1" else None, "UA") for s in SESSIONS
    ]
