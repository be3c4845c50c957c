"""The access log's cost on the ping path: one gateway worker under wrk with
``ACCESS_LOG`` off and on, alternately in one run (the log goes to a file, as a
container's stderr would to its log driver). Appends the figures to BENCHMARKS.md."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

from loadtest import publishing
from loadtest.bench import (
    ADMIN_TOKEN,
    Load,
    create_webinar,
    gateway,
    measure,
    serving,
)
from watchtime.embedded import PostgresServer, RedisServer, started
from watchtime.migrate import migrate_url

MODES = {
    "off": {},
    "text": {"ACCESS_LOG": "true"},
    "json": {"ACCESS_LOG": "true", "LOG_FORMAT": "json"},
}


def run(folder: Path, seconds: float, rounds: int) -> dict[str, Load]:
    redis, pg = RedisServer(folder / "redis"), PostgresServer(folder / "postgres")
    with started([redis, pg]):
        asyncio.run(migrate_url(pg.url))
        assert redis.process is not None  # started
        env = os.environ | {
            "REDIS_URL": redis.url,
            "DATABASE_URL": pg.url,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "LOG_LEVEL": "INFO",
        }
        best: dict[str, Load] = {}
        for _ in range(rounds):
            for mode, extra in MODES.items():
                load = one(env | extra, folder / f"{mode}.log", seconds, redis.process.pid)
                if mode not in best or load.rps > best[mode].rps:
                    best[mode] = load
        return best


def one(env: dict[str, str], log: Path, seconds: float, redis_pid: int) -> Load:
    with log.open("ab") as out, serving(*gateway(env, 1), 1, redis_pid, stderr=out) as gw:
        create_webinar(gw.port)
        measure(gw, 3)  # warm-up: most sessions exist before the measured run
        return measure(gw, seconds)


def markdown(best: dict[str, Load], command: str, seconds: float) -> str:
    off = best["off"]
    rows = "\n".join(
        f"| {mode} | {load.rps:,.0f} | {load.rps / off.rps:.2f} | {load.cpu_us:.1f} µs "
        f"| {load.p50_ms:.2f} ms | {load.p99_ms:.2f} ms | {load.errors} |"
        for mode, load in best.items()
    )
    extra_us = best["json"].cpu_us - off.cpu_us
    return f"""
## Access log: its cost on the ping path ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)

`{command}` — one gateway worker saturated by wrk (`loadtest/ping.lua`, 64 connections)
for {seconds:.0f} s per mode, modes alternating in one run, best run of each; the log
written to a file; Redis and wrk on the same {os.cpu_count()}-core machine.

A JSON access line costs the worker about {extra_us:.0f} µs of CPU per ping: hence
`ACCESS_LOG` off by default.

| ACCESS_LOG | pings/s | of off | worker CPU per ping | p50 | p99 | errors |
|---|---|---|---|---|---|---|
{rows}
"""


def main() -> None:
    parser = publishing.parser(__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    o = parser.parse_args()
    publishing.measure_and_publish(
        "loadtest.access_bench",
        lambda folder: run(folder, o.seconds, o.rounds),
        lambda best, command: markdown(best, command, o.seconds),
        o.output,
    )


if __name__ == "__main__":
    main()
