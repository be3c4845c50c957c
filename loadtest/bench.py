"""``make bench``: pings/s of the gateway against a bare Starlette 204 endpoint, in one run.

Starts an embedded Redis and PostgreSQL, the gateway and the bare endpoint
(``loadtest/bare.py``) under the same uvicorn settings, and loads them alternately
with wrk (Debian's package) on 127.0.0.1: saturation with one worker each (the ratio
is the headline), p50/p99 latency at 50% and 90% of each one's saturation, server
CPU per request from the workers' own CPU time, and the whole box with two gateway
workers. Appends the figures, with the command, to BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, NamedTuple
from uuid import UUID

import httpx2

from loadtest import publishing
from loadtest.audience import at_rate, children_cpu, result
from watchtime.embedded import PostgresServer, RedisServer, free_port, started
from watchtime.migrate import migrate_url

WEBINAR = UUID("5e1ec7ed-0000-4000-8000-00000000be9c")
PING_PATH = f"/api/webinars/{WEBINAR}/presence/ping"
LUA = Path(__file__).with_name("ping.lua")
CONNECTIONS_PER_WORKER = 64
ADMIN_TOKEN = "bench-admin-token"
VIEWER_INTERVAL_SECONDS = 120  # a viewer-equivalent pings once per heartbeat interval


class Load(NamedTuple):
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float  # CPU per request: the server's workers,
    redis_us: float  # Redis,
    wrk_us: float  # and the load generator


class Server(NamedTuple):
    process: subprocess.Popen[bytes]
    port: int
    workers: int
    redis_pid: int


def wrk(server: Server, seconds: float, delay_ms: float = 0) -> dict[str, float]:
    """wrk's figures, and its own CPU seconds as ``cpu``."""
    env = os.environ | {"DELAY_MS": f"{delay_ms:.3f}", "SESSIONS": "50000"}
    connections = CONNECTIONS_PER_WORKER * server.workers
    command = [
        "wrk",
        f"-t{server.workers}",
        f"-c{connections}",
        f"-d{seconds:.0f}s",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{server.port}{PING_PATH}",
    ]
    before = children_cpu()
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return result(out) | {"cpu": children_cpu() - before}


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def workers_of(server: Server) -> list[int]:
    """uvicorn's worker processes, or the server itself when it runs just one."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children] or [pid]


def measure(server: Server, seconds: float, delay_ms: float = 0) -> Load:
    pids = workers_of(server)
    before = cpu_seconds(pids), cpu_seconds([server.redis_pid])
    r = wrk(server, seconds, delay_ms)
    cpu = cpu_seconds(pids) - before[0], cpu_seconds([server.redis_pid]) - before[1]
    per_request = 1e6 / max(r["requests"], 1)
    return Load(
        r["requests"] / r["seconds"],
        r["p50_us"] / 1000,
        r["p99_us"] / 1000,
        int(r["errors"] + r["non2xx"]),
        cpu[0] * per_request,
        cpu[1] * per_request,
        r["cpu"] * per_request,
    )


def at_share(server: Server, seconds: float, saturation: float, share: float) -> Load:
    """Latency at ``share`` of saturation (paced as ``audience.at_rate`` says)."""
    connections = CONNECTIONS_PER_WORKER * server.workers
    return at_rate(
        lambda s, delay_ms: measure(server, s, delay_ms),
        connections,
        saturation * share,
        seconds,
        seconds / 2,
    )


@contextmanager
def serving(
    command: list[str],
    env: dict[str, str],
    port: int,
    workers: int,
    redis_pid: int,
    stderr: IO[bytes] | None = None,
) -> Iterator[Server]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        _wait_listening(port)
        time.sleep(1 + workers)  # every worker up, not only the first
        yield Server(process, port, workers, redis_pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except httpx2.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port}")


def gateway(env: dict[str, str], workers: int) -> tuple[list[str], dict[str, str], int]:
    port = free_port()
    # wrk cycles through a fixed pool of sessions and may come back to one within the
    # production limit (1 s) across runs; a lower limit keeps every answer a 204 while
    # the script still makes the same check.
    env = env | {
        "PORT": str(port),
        "GATEWAY_WORKERS": str(workers),
        "MIN_PING_INTERVAL_SECONDS": "0.05",
    }
    return [sys.executable, "-m", "gateway"], env, port


def bare(env: dict[str, str], workers: int) -> tuple[list[str], dict[str, str], int]:
    port = free_port()
    return uvicorn_command("loadtest.bare:app", port, workers), env, port


def uvicorn_command(app: str, port: int, workers: int, *options: str) -> list[str]:
    """A peer of the gateway served as the gateway is: uvloop, httptools, no access log."""
    command = [sys.executable, "-m", "uvicorn", *options, app, "--port", str(port)]
    command += ["--workers", str(workers), "--loop", "uvloop", "--http", "httptools"]
    return [*command, "--no-access-log", "--log-level", "warning"]


def create_webinar(port: int) -> None:
    body = {"title": "bench", "webinar_start_time": datetime.now(UTC).isoformat()}
    answer = httpx2.put(
        f"http://127.0.0.1:{port}/api/webinars/{WEBINAR}",
        json=body,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    answer.raise_for_status()


def one_worker(env: dict[str, str], seconds: float, redis_pid: int) -> dict[str, Load]:
    """Bare and gateway side by side, saturation measured alternately, best of two."""
    with (
        serving(*gateway(env, 1), 1, redis_pid) as gw,
        serving(*bare(env, 1), 1, redis_pid) as br,
    ):
        create_webinar(gw.port)
        measure(gw, 8)  # warm-up: the gateway creates (most of) the sessions it will ping
        measure(br, 3)
        runs = [(measure(br, seconds), measure(gw, seconds)) for _ in range(2)]
        bare_sat = max((b for b, _ in runs), key=lambda load: load.rps)
        gw_sat = max((g for _, g in runs), key=lambda load: load.rps)
        return {
            "bare": bare_sat,
            "gateway": gw_sat,
            "bare_50": at_share(br, seconds, bare_sat.rps, 0.5),
            "gateway_50": at_share(gw, seconds, gw_sat.rps, 0.5),
            "bare_90": at_share(br, seconds, bare_sat.rps, 0.9),
            "gateway_90": at_share(gw, seconds, gw_sat.rps, 0.9),
        }


def whole_box(env: dict[str, str], seconds: float, redis_pid: int) -> Load:
    with serving(*gateway(env, 2), 2, redis_pid) as gw:
        measure(gw, 5)
        return measure(gw, seconds)


def run(folder: Path, seconds: float) -> dict[str, Load]:
    redis, pg = RedisServer(folder / "redis"), PostgresServer(folder / "postgres")
    with started([redis, pg]):
        asyncio.run(migrate_url(pg.url))
        env = os.environ | {
            "REDIS_URL": redis.url,
            "DATABASE_URL": pg.url,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "LOG_LEVEL": "WARNING",
        }
        assert redis.process is not None  # started
        figures = one_worker(env, seconds, redis.process.pid)
        figures["box"] = whole_box(env, seconds, redis.process.pid)
        return figures


def _row(name: str, b: Load, g: Load) -> str:
    return (
        f"| {name} | {b.rps:,.0f}/s, p50 {b.p50_ms:.2f} ms, p99 {b.p99_ms:.2f} ms "
        f"| {g.rps:,.0f}/s, p50 {g.p50_ms:.2f} ms, p99 {g.p99_ms:.2f} ms |"
    )


def markdown(f: dict[str, Load], command: str) -> str:
    bare, gw, box = f["bare"], f["gateway"], f["box"]
    cores = os.cpu_count() or 1

    def cpu(load: Load) -> float:
        return load.cpu_us + load.redis_us + load.wrk_us

    return f"""
## Ping path: gateway against a bare Starlette 204 ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)

`{command}` — wrk on 127.0.0.1, {CONNECTIONS_PER_WORKER} connections per worker, uvicorn
with uvloop and httptools for both, Redis on the same {cores}-core machine.

**Gateway/bare throughput per worker, same run: {gw.rps / bare.rps:.2f} (target 0.8).**
Worker CPU per request, bare/gateway: {bare.cpu_us / gw.cpu_us:.2f} (what a gateway worker
carries against a bare one when Redis and the load generator have cores of their own).

| one worker | bare Starlette 204 | gateway `/presence/ping` |
|---|---|---|
| saturation | {bare.rps:,.0f} req/s | {gw.rps:,.0f} pings/s |
| CPU per request: the worker | {bare.cpu_us:.1f} µs | {gw.cpu_us:.1f} µs |
| CPU per request: Redis | {bare.redis_us:.1f} µs | {gw.redis_us:.1f} µs |
| CPU per request: wrk | {bare.wrk_us:.1f} µs | {gw.wrk_us:.1f} µs |
| CPU per request: all three | {cpu(bare):.1f} µs | {cpu(gw):.1f} µs |
{_row("at 50% of saturation", f["bare_50"], f["gateway_50"])}
{_row("at 90% of saturation", f["bare_90"], f["gateway_90"])}
| errors or non-2xx | {bare.errors} | {gw.errors} |

The bare run is bound by its one worker (at most {1e6 / bare.cpu_us:,.0f} req/s at
{bare.cpu_us:.1f} µs); the gateway run by the {cores} cores that its worker, Redis and wrk
share: at most {cores * 1e6 / cpu(gw):,.0f} pings/s at {cpu(gw):.1f} µs, that is a ratio of
{cores * 1e6 / cpu(gw) / bare.rps:.2f} at best on this machine.

Whole box, two gateway workers + Redis (+ wrk): **{box.rps:,.0f} pings/s** (p50
{box.p50_ms:.2f} ms, p99 {box.p99_ms:.2f} ms, {box.errors} errors), that is
**{box.rps * VIEWER_INTERVAL_SECONDS:,.0f} viewer-equivalents** at the 120-s interval.
"""


def main() -> None:
    publishing.main(__doc__, "loadtest.bench", run, markdown, seconds=10.0)


if __name__ == "__main__":
    main()
