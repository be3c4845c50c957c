"""The idle service's Redis traffic: commands/s with many finished webinars and nothing
live.

    python -m loadtest.idle_bench [--webinars 20000] [--seconds 20]

On embedded Redis and PostgreSQL (as ``make run`` starts them), registers ``--webinars``
webinars that ended 30 days ago, without sessions, as the admin API does (stored, then
mirrored into Redis); starts the whole service with ``make run``'s defaults (gateway,
flusher, sweeper); lets it settle; then counts the commands Redis processes over
``--seconds`` from ``INFO commandstats`` (those of the scripts included, the
benchmark's own INFO calls left out). Appends the figures to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple
from uuid import UUID, uuid4

import redis

from loadtest import meters, publishing
from loadtest.system_bench import parse as system_options
from loadtest.system_bench import service_env, serving
from watchtime import webinars
from watchtime.backends import backends
from watchtime.embedded import PostgresServer, RedisServer, free_port, started
from watchtime.migrate import migrate_url
from watchtime.settings import Settings

CHUNK = 500  # webinars registered concurrently


async def register(settings: Settings, count: int) -> None:
    """``count`` webinars of one hour that ended 30 days ago, stored and mirrored."""
    start = datetime.now(UTC) - timedelta(days=30)
    schedule = webinars.Schedule(
        title="finished",
        webinar_start_time=start,
        webinar_scheduled_end_time=start + timedelta(hours=1),
    )
    async with backends(settings, pg_max_size=8) as b:

        async def one(webinar_id: UUID) -> None:
            await webinars.mirror(b.redis, await webinars.save(b.pg, webinar_id, schedule))

        for first in range(0, count, CHUNK):
            await asyncio.gather(*(one(uuid4()) for _ in range(first, min(first + CHUNK, count))))


def commands(r: redis.Redis, seconds: float) -> tuple[float, dict[str, float]]:
    """Commands/s over ``seconds``, in all and by command."""
    before = meters.commandstats(r)
    started_at = time.monotonic()
    time.sleep(seconds)
    delta = meters.command_delta(before, meters.commandstats(r))
    elapsed = time.monotonic() - started_at
    by_command = {name: calls / elapsed for name, (calls, _) in delta.items()}
    return sum(by_command.values()), by_command


class Idle(NamedTuple):
    per_second: float  # commands/s over the window
    by_command: dict[str, float]  # commands/s by command
    startup: int  # commands from the service's start to the window
    startup_seconds: float


def measure(count: int, settle: float, seconds: float, folder: Path) -> Idle:
    redis_server, pg = RedisServer(folder / "redis"), PostgresServer(folder / "postgres")
    with started([redis_server, pg]):
        asyncio.run(migrate_url(pg.url))
        settings = Settings(redis_url=redis_server.url, database_url=pg.url)
        asyncio.run(register(settings, count))
        r = redis.Redis.from_url(redis_server.url)
        port = free_port()
        env = service_env(system_options([]), redis_server, pg, folder, port, free_port())
        command = [sys.executable, "-m", "watchtime.supervisor"]
        before, started_at = meters.commandstats(r), time.monotonic()
        with serving(command, env, folder / "service.log", port):
            time.sleep(settle)
            startup = meters.command_delta(before, meters.commandstats(r))
            startup_seconds = time.monotonic() - started_at
            total, by_command = commands(r, seconds)
        startup_calls = sum(calls for calls, _ in startup.values())
        return Idle(total, by_command, startup_calls, startup_seconds)


def markdown(f: Idle, o: argparse.Namespace, command: str) -> str:
    busiest = sorted(f.by_command.items(), key=lambda item: -item[1])
    listed = ", ".join(f"{name.upper()} {rate:,.1f}" for name, rate in busiest if rate >= 0.05)
    return f"""
## Idle service: Redis commands with {o.webinars:,} finished webinars ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)

`{command}` — `make run`'s defaults (gateway, flusher, sweeper) on embedded Redis and
PostgreSQL, {o.webinars:,} webinars that ended 30 days ago, stored and mirrored into Redis
as the admin API does, no sessions, nothing live. Commands counted by `INFO commandstats`
(a script's own commands included, the benchmark's INFO calls left out).

| figure | value |
|---|---|
| Redis commands/s, {o.seconds:g} s after {o.settle:g} s of settling | **{f.per_second:,.1f}** |
| by command, per second | {listed or "none"} |
| commands from the service's start to the window (first passes) | {f.startup:,} in {f.startup_seconds:.0f} s |
"""  # noqa: E501


def main(argv: list[str] | None = None) -> None:
    parser = publishing.parser(__doc__)
    parser.add_argument("--webinars", type=int, default=20_000)
    parser.add_argument("--settle", type=float, default=10, help="seconds before counting")
    parser.add_argument("--seconds", type=float, default=20, help="seconds counted")
    o = parser.parse_args(argv)
    publishing.measure_and_publish(
        "loadtest.idle_bench",
        lambda folder: measure(o.webinars, o.settle, o.seconds, folder),
        lambda figures, command: markdown(figures, o, command),
        o.output,
        argv,
    )


if __name__ == "__main__":
    main()
