"""Admission control (R-EXT-2) at the HTTP level: a gateway process with a tiny bound
and a Redis that stops answering script calls (CLIENT PAUSE WRITE), so requests pile
up. Past the bound requests are refused at once with 503 + Retry-After and change
nothing; the operations endpoints answer throughout; what was admitted is served once
Redis answers again, and nothing it acknowledged is lost."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from uuid import uuid4

import httpx2
import pytest
from redis import Redis
from starlette.testclient import TestClient
from support import running, service_env, snapshot, with_settings

from gateway.access import AccessLog
from gateway.admission import Admission
from gateway.app import create_app
from watchtime import keys
from watchtime.embedded import PostgresServer, RedisServer
from watchtime.settings import Settings, SettingsError

pytestmark = pytest.mark.anyio
ADMIN = {"Authorization": "Bearer admission-admin-token"}
BOUND, CROWD = 4, 20


@pytest.fixture
def gateway(
    redis_server: RedisServer, postgres_server: PostgresServer, sync_redis: Redis
) -> Iterator[str]:
    env = service_env(
        redis_server.url,
        postgres_server.url,
        ADMIN_TOKEN="admission-admin-token",
        GATEWAY_WORKERS="1",
        ADMISSION_MAX_IN_FLIGHT=str(BOUND),
        ADMISSION_RETRY_AFTER_SECONDS="3",
        REDIS_TIMEOUT_SECONDS="30",  # the paused Redis is held, not failed
    )
    with running("gateway", env) as (base, _):
        yield base


def refused_total(base: str) -> float:
    text = httpx2.get(f"{base}/metrics").text
    found = re.search(r'^watchtime_gateway_refused_total\{reason="overloaded"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def first_answers(
    tasks: list[asyncio.Future[httpx2.Response]], count: int
) -> list[httpx2.Response]:
    """The first ``count`` answers to arrive; the other requests keep waiting."""
    answered: list[httpx2.Response] = []
    while len(answered) < count:
        done, _ = await asyncio.wait(
            [t for t in tasks if not t.done()], return_when=asyncio.FIRST_COMPLETED
        )
        answered += [task.result() for task in done]
    return answered


async def test_past_the_bound_requests_are_refused_at_once(gateway: str, sync_redis: Redis):
    webinar = uuid4()
    schedule = {"webinar_start_time": "2026-11-29T10:00:00Z"}
    put = httpx2.put(f"{gateway}/api/webinars/{webinar}", json=schedule, headers=ADMIN)
    assert put.status_code == 200
    url = f"{gateway}/api/webinars/{webinar}/presence/ping"
    async with httpx2.AsyncClient(timeout=30) as client:
        sync_redis.execute_command("CLIENT", "PAUSE", 30_000, "WRITE")  # script calls wait
        try:
            pings = {
                f"s{i}": asyncio.ensure_future(client.post(url, json={"session_id": f"s{i}"}))
                for i in range(CROWD)
            }
            for answer in await first_answers(list(pings.values()), CROWD - BOUND):
                assert answer.status_code == 503, answer.text
                assert answer.json()["error"] == "overloaded"
                assert answer.headers["retry-after"] == "3"
            for path in ("/healthz", "/metrics", "/readyz"):  # ahead of the bound
                assert (await client.get(f"{gateway}{path}")).status_code == 200
            assert sum(not task.done() for task in pings.values()) == BOUND  # held, not lost
        finally:
            sync_redis.execute_command("CLIENT", "UNPAUSE")
        answers = {session: await task for session, task in pings.items()}
    accepted = {s for s, answer in answers.items() if answer.status_code == 204}
    assert len(accepted) == BOUND
    assert {s.decode() for s in sync_redis.zrange(keys.guests(webinar), 0, -1)} == accepted
    assert refused_total(gateway) == CROWD - BOUND
    for session in answers.keys() - accepted:  # a refused ping sent again is served
        retried = httpx2.post(url, json={"session_id": session})
        assert retried.status_code == 204
    assert sync_redis.zcard(keys.guests(webinar)) == CROWD


def test_a_refusal_carries_cors_headers_for_pages_on_other_origins(
    settings: Settings, sync_redis: Redis
):
    site = "https://site.example"
    app = create_app(with_settings(settings, cors_allow_origins=(site,)))
    assert isinstance(app, Admission)
    with TestClient(app) as client:
        app.in_flight = app.bound  # as if that many requests were being served
        answer = client.post(
            f"/api/webinars/{uuid4()}/presence/ping",
            json={"session_id": "s1"},
            headers={"Origin": site},
        )
        assert (answer.status_code, answer.json()["error"]) == (503, "overloaded")
        assert answer.headers["retry-after"] == "2"
        assert answer.headers["access-control-allow-origin"] == site
        assert answer.headers["access-control-expose-headers"] == "retry-after"
        assert client.get("/healthz").status_code == 200
    assert snapshot(sync_redis) == {}


def test_the_access_log_records_the_refusals_too(
    settings: Settings, sync_redis: Redis, caplog: pytest.LogCaptureFixture
):
    """The access log wraps admission control: a refused request is a line, with its 503."""
    app = create_app(with_settings(settings, access_log=True))
    assert isinstance(app, AccessLog) and isinstance(app.app, Admission)
    path = f"/api/webinars/{uuid4()}/presence/ping"
    with TestClient(app) as client, caplog.at_level(logging.INFO, "watchtime.access"):
        app.app.in_flight = app.app.bound
        assert client.post(path, json={"session_id": "s1"}).status_code == 503
    [line] = [r for r in caplog.records if r.name == "watchtime.access"]
    assert (line.method, line.path, line.status) == ("POST", path, 503)  # type: ignore[attr-defined]
    assert snapshot(sync_redis) == {}


def test_the_admission_settings_are_read_and_bounded():
    settings = Settings.from_env(
        {"ADMISSION_MAX_IN_FLIGHT": "64", "ADMISSION_RETRY_AFTER_SECONDS": "5"}
    )
    assert (settings.admission_max_in_flight, settings.admission_retry_after_seconds) == (64, 5)
    assert Settings.from_env({}).admission_max_in_flight == 500
    for name, value in [
        ("ADMISSION_MAX_IN_FLIGHT", "0"),
        ("ADMISSION_RETRY_AFTER_SECONDS", "0"),
        ("ADMISSION_RETRY_AFTER_SECONDS", "301"),
    ]:
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: value})


def test_a_stalled_redis_is_an_answer_within_its_timeout(
    redis_server: RedisServer, postgres_server: PostgresServer, sync_redis: Redis
):
    """Pings wait on a Redis that stopped answering no longer than REDIS_TIMEOUT_SECONDS:
    a 503 with Retry-After before a client gives up (3 s here; the default is 5 s), and the
    ping sent again once Redis answers is served."""
    env = service_env(
        redis_server.url,
        postgres_server.url,
        ADMIN_TOKEN="admission-admin-token",
        GATEWAY_WORKERS="1",
        REDIS_TIMEOUT_SECONDS="0.5",
    )
    webinar = uuid4()
    with running("gateway", env) as (base, _):
        schedule = {"webinar_start_time": "2026-11-29T10:00:00Z"}
        put = httpx2.put(f"{base}/api/webinars/{webinar}", json=schedule, headers=ADMIN)
        assert put.status_code == 200
        url = f"{base}/api/webinars/{webinar}/presence/ping"
        sync_redis.execute_command("CLIENT", "PAUSE", 30_000, "WRITE")
        try:
            stalled = httpx2.post(url, json={"session_id": "s1"}, timeout=3)
        finally:
            sync_redis.execute_command("CLIENT", "UNPAUSE")
        assert (stalled.status_code, stalled.json()["error"]) == (503, "redis_unavailable")
        assert stalled.headers["retry-after"] == "1"
        assert httpx2.post(url, json={"session_id": "s1"}).status_code == 204
    assert sync_redis.zrange(keys.guests(webinar), 0, -1) == [b"s1"]
