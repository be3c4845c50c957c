"""Helpers shared by the tests."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import IO, Any
from uuid import UUID, uuid4

import anyio
import asyncpg
import httpx2
import pytest
from prometheus_client import Histogram
from redis import Redis

from flusher.flusher import Flusher
from loadtest.tokens import viewer_token as viewer_token  # shared with the load test
from watchtime import keys
from watchtime.backends import backends
from watchtime.batching import ScriptBatcher
from watchtime.client import RedisClient
from watchtime.embedded import free_port
from watchtime.fields import session_hash
from watchtime.scripts import Scripts
from watchtime.sessions import SessionStore
from watchtime.settings import Settings

Actions = Callable[[SessionStore], Awaitable[object]]

T0 = 1_800_000_000_000  # ms; an arbitrary server time, in 2027

# A session hash as a release before the packed `state` wrote it, a field at a time and
# with no current runs: entered at T0, 10 s watched up to its heartbeat at T0 + 10 s,
# visible, not active, one ping.
OLDER_LAYOUT: dict[str, str | int] = {
    "user_id": "",
    "entered_at": T0,
    "last_heartbeat_at": T0 + 10_000,
    "watched_ms": 10_000,
    "visible": "1",
    "active": "0",
    "ping_count": 1,
    "version": 2,
}
TABLES = ("webinars", "webinar_user_sessions", "webinar_viewer_snapshots")

# Runs a module on a Redis Cluster as well as on one server (conftest's topology fixture).
both_topologies = pytest.mark.parametrize("topology", ["standalone", "cluster"], indirect=True)

# Real user agents, for the report's device and browser.
DESKTOP_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


async def known_webinar(redis: RedisClient) -> UUID:
    """A webinar whose schedule Redis holds, started at T0."""
    webinar = uuid4()
    await redis.hset(keys.meta(webinar), mapping={"start": T0})
    return webinar


async def gateway_store(redis: RedisClient, settings: Settings) -> SessionStore:
    """A store as the gateway's: calls pipelined by a ScriptBatcher, the scripts loaded."""
    store = SessionStore(
        Scripts(redis), settings, ScriptBatcher(redis, settings.redis_timeout_seconds)
    )
    await store.scripts.load()
    return store


def observed(histogram: Histogram) -> tuple[float, float]:
    """(observations, their sum) of a histogram without labels, so far."""
    [family] = histogram.collect()
    samples = {s.name: s.value for s in family.samples}
    return samples[f"{family.name}_count"], samples[f"{family.name}_sum"]


def with_settings(settings: Settings, **changes: object) -> Settings:
    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]


async def truncate(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"TRUNCATE {', '.join(TABLES)}")
    finally:
        await conn.close()


def snapshot(redis: Redis) -> dict[bytes, bytes | None]:
    """Every key with its serialized value: equal snapshots mean nothing changed."""
    return {key: redis.dump(key) for key in sorted(redis.scan_iter(count=1000))}


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    """Waits until the service started as ``process`` answers ``/readyz`` at ``base``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the service exited"
        try:
            if httpx2.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the service never became ready")


def service_env(redis_url: str, database_url: str, **settings: str) -> dict[str, str]:
    """A service process's environment against the test servers: quiet logs, then
    ``settings`` (the variables' names and values)."""
    servers = {"REDIS_URL": redis_url, "DATABASE_URL": database_url}
    return os.environ | servers | {"LOG_LEVEL": "WARNING", **settings}


@contextmanager
def running(
    module: str, env: Mapping[str, str], stderr: IO[bytes] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python -m <module>`` on a free port: yields its base URL once it is ready, and its
    process for the block to stop as it means to. At the end whatever still runs is
    stopped, workers included: the process leads a group of its own, so a worker whose
    supervisor was killed does not outlive the test."""
    port = free_port()
    command = [sys.executable, "-m", module]
    environment = {**env, "PORT": str(port)}
    process = subprocess.Popen(command, env=environment, stderr=stderr, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, process)
        yield base, process
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(30)
    with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def at(s0: int, seconds: float) -> int:
    """``seconds`` after ``s0``, in ms."""
    return s0 + round(seconds * 1000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def run_async(function: Callable[[], Awaitable[None]]) -> None:
    """Runs ``function`` to its end in a thread of its own: the calling thread may run an
    event loop already (Playwright's sync API does)."""
    with ThreadPoolExecutor(1) as thread:
        thread.submit(anyio.run, function).result()


def seed(settings: Settings, actions: Actions) -> None:
    """Runs viewer actions through the scripts (explicit times), then one flush."""

    async def run() -> None:
        async with backends(settings, pg_max_size=2) as b:
            await actions(b.store)
            while await Flusher(b, settings).cycle():
                pass

    run_async(run)


def flush(settings: Settings) -> None:
    """The flusher's cycles until Redis holds nothing unwritten."""

    async def nothing(store: SessionStore) -> None:
        pass

    seed(settings, nothing)


def session_rows(database_url: str) -> dict[str, tuple[Decimal, int]]:
    """Session id -> (watched_seconds_raw, ping_count) of every row in Postgres."""

    async def read() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetch(
                "SELECT session_id, watched_seconds_raw, ping_count FROM webinar_user_sessions"
            )
        finally:
            await conn.close()

    return {r["session_id"]: (r["watched_seconds_raw"], r["ping_count"]) for r in anyio.run(read)}


def acknowledged(
    redis: Redis, webinar: UUID, sessions: Iterable[str]
) -> dict[str, tuple[Decimal, int]]:
    """Session id -> (watched seconds, pings) as Redis holds them: what the gateway
    acknowledged, in the shape of ``session_rows``."""
    state = {}
    for session_id in sessions:
        fields = session_hash(redis.hgetall(keys.session(webinar, session_id)))
        watched = Decimal(fields["watched_ms"]) / 1000
        state[session_id] = (watched, int(fields["ping_count"]))
    return state


def add_snapshots(
    settings: Settings, webinar: UUID, points: Iterable[tuple[int, int, int]]
) -> None:
    """Rows of webinar_viewer_snapshots, as the sweeper takes them: (at in ms, viewers,
    active sessions)."""
    rows = [(webinar, datetime.fromtimestamp(ms / 1000, UTC), *counts) for ms, *counts in points]

    async def run() -> None:
        conn = await asyncpg.connect(settings.database_url)
        try:
            await conn.executemany(
                "INSERT INTO webinar_viewer_snapshots VALUES ($1, $2, $3, $4)", rows
            )
        finally:
            await conn.close()

    run_async(run)


def routes_of(app: Any) -> Any:
    """The route table of the gateway's Starlette app, under the ASGI layers around it
    (admission control, the ping shortcut, ...)."""
    while not hasattr(app, "routes"):
        app = app.app
    return app.routes
