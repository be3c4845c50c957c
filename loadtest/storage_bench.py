"""Benchmark of the storage side: flusher rows/s, sweeper closes/s, report latency and
Redis bytes per session, on embedded servers in a temporary folder.

    python -m loadtest.storage_bench --sessions 100000   (make bench-storage)

Appends its figures, with the command, to BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from flusher.flusher import Flusher
from gateway import report_queries
from loadtest import publishing
from sweeper.stale import StaleSessions
from watchtime import webinars
from watchtime.backends import Backends, backends
from watchtime.batching import ScriptBatcher
from watchtime.client import RedisClient
from watchtime.embedded import PostgresServer, RedisServer, started
from watchtime.migrate import migrate_url
from watchtime.scripts import Scripts
from watchtime.sessions import SessionStore
from watchtime.settings import Settings

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0"
PIPELINE = 500  # script calls per round trip while seeding


async def used_memory(redis: RedisClient) -> int:
    return int((await redis.info("memory"))["used_memory"])


async def timed(work: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def seed(b: Backends, webinar: UUID, sessions: int, t0: int) -> None:
    """Two tabs per person; each tab watched, hid, came back: two intervals each. Calls
    go through the gateway's batcher, so each step of a slice is one round trip."""
    settings = Settings()
    batcher = ScriptBatcher(b.redis, settings.redis_timeout_seconds, max_batch=PIPELINE)
    store = SessionStore(Scripts(b.redis), settings, batcher)
    extras = {
        "user_agent": USER_AGENT,
        "ip_address": "203.0.113.7",
        "referrer": "https://example.org/",
    }
    for first in range(0, sessions, PIPELINE):
        tabs = [
            (f"session_{t0 + i}_{i:07d}", str(UUID(int=i // 2 + 1)), t0 + i)
            for i in range(first, min(first + PIPELINE, sessions))
        ]
        await asyncio.gather(
            *(store.track(webinar, s, user, extras=extras, now_ms=start) for s, user, start in tabs)
        )
        for offset, visible in ((120_000, False), (200_000, True), (260_000, True)):
            await asyncio.gather(
                *(
                    store.ping(
                        webinar, s, user, f"r{offset}", visible=visible, now_ms=start + offset
                    )
                    for s, user, start in tabs
                )
            )


async def drain(flusher: Flusher) -> None:
    while await flusher.cycle():
        pass
    await flusher.cycle()


async def run(folder: Path, sessions: int) -> dict[str, float]:
    redis_server, pg_server = RedisServer(folder / "redis"), PostgresServer(folder / "postgres")
    with started([redis_server, pg_server]):
        await migrate_url(pg_server.url)
        settings = Settings(redis_url=redis_server.url, database_url=pg_server.url)
        async with backends(settings, pg_max_size=4) as b:
            return await measure(b, settings, sessions)


async def measure(b: Backends, settings: Settings, sessions: int) -> dict[str, float]:
    webinar = uuid4()
    t0 = round(time.time() * 1000) - 24 * 3600 * 1000  # a day ago: all stale by now
    start = datetime.fromtimestamp(t0 / 1000, UTC)
    saved = await webinars.save(b.pg, webinar, webinars.Schedule(webinar_start_time=start))
    await webinars.mirror(b.redis, saved)
    before = await used_memory(b.redis)
    seeding = await timed(lambda: seed(b, webinar, sessions, t0))
    active_bytes = (await used_memory(b.redis) - before) / sessions

    flusher = Flusher(b, settings)
    flush_open = await timed(lambda: drain(flusher))
    report_ms = await report_latency(b, settings, webinar, t0)

    sweeper = StaleSessions(b, settings)
    sweep = await timed(lambda: sweeper.sweep_webinar(webinar))
    flush_closed = await timed(lambda: drain(flusher))
    closed_bytes = (await used_memory(b.redis) - before) / sessions
    version = float((await b.redis.info("server"))["redis_version"].rsplit(".", 1)[0])
    return {
        "redis_version": version,
        "sessions": sessions,
        "seed_s": seeding,
        "active_bytes": active_bytes,
        "flush_open_rows_s": sessions / flush_open,
        "sweep_closed_s": sessions / sweep,
        "flush_closed_rows_s": sessions / flush_closed,
        "closed_bytes": closed_bytes,
        "report_median_ms": statistics.median(report_ms),
        "report_min_ms": min(report_ms),
    }


async def report_latency(b: Backends, settings: Settings, webinar: UUID, t0: int) -> list[float]:
    """The report's statement for the first page of 1,000 people, five times."""
    now = round(time.time() * 1000)
    first = report_queries.Cursor(report_queries.Window(t0, t0 + 3600_000, t0 + 3600_000, now), "")
    runs = []
    for _ in range(5):
        seconds = await timed(
            lambda: report_queries.watch_time(b.pg, webinar, settings.stale_after_ms, 1000, first)
        )
        runs.append(seconds * 1000)
    return runs


def markdown(figures: dict[str, float], command: str) -> str:
    f = figures
    return f"""
## Storage: flusher, sweeper, report, Redis memory ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)

`{command}` — embedded Redis {f["redis_version"]:g} and PostgreSQL 18 on this 2-core machine,
{f["sessions"]:,.0f} sessions of {f["sessions"] / 2:,.0f} people (two tabs each, two watched
intervals per tab, a 70-byte user agent).

| figure | value |
|---|---|
| flusher, open sessions (insert) | {f["flush_open_rows_s"]:,.0f} rows/s |
| flusher, closed sessions (update + retire to tombstone) | {f["flush_closed_rows_s"]:,.0f} rows/s |
| sweeper, stale sessions closed | {f["sweep_closed_s"]:,.0f} sessions/s |
| report, first page of 1,000 of {f["sessions"] / 2:,.0f} people (5 runs) | median {f["report_median_ms"]:.0f} ms, min {f["report_min_ms"]:.0f} ms |
| Redis bytes per open session (hash, details, interval log, index entries) | {f["active_bytes"]:,.0f} |
| Redis bytes per closed session once in Postgres (tombstone) | {f["closed_bytes"]:,.0f} |
| seeding through the Lua scripts, pipelined ({PIPELINE}/round trip, 4 calls/session) | {f["seed_s"]:.1f} s |
"""  # noqa: E501


def main() -> None:
    publishing.main(__doc__, "loadtest.storage_bench", run, markdown, sessions=100_000)


if __name__ == "__main__":
    main()
