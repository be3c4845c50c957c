"""Benchmark of the storage side: flusher rows/s (and, for the steady state's update of
stored rows, CPU per row of flusher and Postgres), sweeper closes/s, report latency and
Redis bytes per session, on embedded servers in a temporary folder.

    python -m loadtest.storage_bench --sessions 100000   (make bench-storage)

Appends its figures, with the command, to BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from flusher.flusher import Flusher
from gateway import report_queries
from loadtest import publishing
from loadtest.meters import Cpu
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
# After the last session's start, ms: the seed's pings are all earlier. The first flush
# runs at this clock, so that the re-pings, later, score at or after its watermark.
SEEDED_MS = 300_000
PINGS_STORED = "SELECT sum(ping_count) FROM webinar_user_sessions"


async def used_memory(redis: RedisClient) -> int:
    return int((await redis.info("memory"))["used_memory"])


async def timed(work: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


def seeding_store(b: Backends) -> SessionStore:
    """Calls go through the gateway's batcher, so each step of a slice is one round trip."""
    settings = Settings()
    batcher = ScriptBatcher(b.redis, settings.redis_timeout_seconds, max_batch=PIPELINE)
    return SessionStore(Scripts(b.redis), settings, batcher)


def tabs(sessions: int, t0: int) -> Iterator[list[tuple[str, str, int]]]:
    """The sessions in slices of PIPELINE: id, user and start (ms), two tabs a person."""
    for first in range(0, sessions, PIPELINE):
        yield [
            (f"session_{t0 + i}_{i:07d}", str(UUID(int=i // 2 + 1)), t0 + i)
            for i in range(first, min(first + PIPELINE, sessions))
        ]


async def ping(
    store: SessionStore, webinar: UUID, part: list[tuple[str, str, int]], offset: int, visible: bool
) -> None:
    """One ping from each tab of ``part``, ``offset`` ms after its start."""
    await asyncio.gather(
        *(
            store.ping(webinar, s, user, f"r{offset}", visible=visible, now_ms=start + offset)
            for s, user, start in part
        )
    )


async def seed(store: SessionStore, webinar: UUID, sessions: int, t0: int) -> None:
    """Two tabs per person; each tab watched, hid, came back: two intervals each."""
    extras = {
        "user_agent": USER_AGENT,
        "ip_address": "203.0.113.7",
        "referrer": "https://example.org/",
    }
    for part in tabs(sessions, t0):
        await asyncio.gather(
            *(store.track(webinar, s, user, extras=extras, now_ms=start) for s, user, start in part)
        )
        for offset, visible in ((120_000, False), (200_000, True), (260_000, True)):
            await ping(store, webinar, part, offset, visible)


async def reflush(
    store: SessionStore, flusher: Flusher, webinar: UUID, sessions: int, t0: int, postgres_pid: int
) -> tuple[float, float, float]:
    """The system benchmark's steady state: every open session, its row stored, pinged
    once more, then written. Rows/s and the CPU µs per row of the flusher (this process,
    which does nothing else meanwhile) and of Postgres."""
    stored = await flusher.pg.fetchval(PINGS_STORED)
    for part in tabs(sessions, t0):
        await ping(store, webinar, part, sessions + SEEDED_MS, True)
    postgres = Cpu({"postgres": postgres_pid})
    started = time.process_time()
    seconds = await timed(lambda: drain(flusher))
    flusher_us = (time.process_time() - started) / sessions * 1e6
    if await flusher.pg.fetchval(PINGS_STORED) != stored + sessions:  # measured nothing
        raise RuntimeError("the flusher did not write every session pinged again")
    return sessions / seconds, flusher_us, postgres.used()["postgres"] / sessions * 1e6


async def drain(flusher: Flusher, now_ms: int | None = None) -> None:
    while await flusher.cycle(now_ms):
        pass
    await flusher.cycle(now_ms)


async def run(folder: Path, sessions: int) -> dict[str, float]:
    redis_server, pg_server = RedisServer(folder / "redis"), PostgresServer(folder / "postgres")
    with started([redis_server, pg_server]):
        assert pg_server.process  # started
        await migrate_url(pg_server.url)
        settings = Settings(redis_url=redis_server.url, database_url=pg_server.url)
        # Batched, as the flusher runs (flusher/__main__.py).
        async with backends(settings, pg_max_size=4, batched=True) as b:
            return await measure(b, settings, sessions, pg_server.process.pid)


async def measure(
    b: Backends, settings: Settings, sessions: int, postgres_pid: int
) -> dict[str, float]:
    webinar = uuid4()
    t0 = round(time.time() * 1000) - 24 * 3600 * 1000  # a day ago: all stale by now
    start = datetime.fromtimestamp(t0 / 1000, UTC)
    saved = await webinars.save(b.pg, webinar, webinars.Schedule(webinar_start_time=start))
    await webinars.mirror(b.redis, saved)
    before = await used_memory(b.redis)
    store = seeding_store(b)
    seeding = await timed(lambda: seed(store, webinar, sessions, t0))
    active_bytes = (await used_memory(b.redis) - before) / sessions

    flusher = Flusher(b, settings)
    flush_open = await timed(lambda: drain(flusher, t0 + sessions + SEEDED_MS))
    report_ms = await report_latency(b, settings, webinar, t0)
    update_rows_s, flusher_us, postgres_us = await reflush(
        store, flusher, webinar, sessions, t0, postgres_pid
    )

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
        "flush_update_rows_s": update_rows_s,
        "flush_update_flusher_us": flusher_us,
        "flush_update_postgres_us": postgres_us,
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
| flusher, open sessions pinged once more (update of a stored row) | {f["flush_update_rows_s"]:,.0f} rows/s |
| CPU per row of that update: flusher, Postgres | {f["flush_update_flusher_us"]:.1f} µs, {f["flush_update_postgres_us"]:.1f} µs |
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
