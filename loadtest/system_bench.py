"""``make bench`` (first): the whole service in steady state, every ping durable, against
the naive design it replaces, in one run.

    python -m loadtest.system_bench [--sessions 240000] [--seconds 60] [--runs 3]

Each run, on embedded Redis (AOF, fsync every second, as ``make run`` starts it) and
PostgreSQL (fsync on) in a temporary folder, all on 127.0.0.1:

1. the whole service as ``make run`` starts it (``watchtime.supervisor``: gateway
   workers, flusher, sweeper): ``--sessions`` sessions created through the API with wrk
   (``loadtest/audience.py``) and waited for in Postgres; then every session re-pinged
   in turn at saturation for ``--seconds`` (each ping credits time: a change for the
   flusher), with CPU per ping by component, Redis commands and scripts per ping,
   Postgres rows and WAL per ping, AOF bytes per ping and the flusher's lag; the drain
   (until Postgres holds what Redis holds); then 25, 50 and 75 % of saturation;
2. the gateway alone on the same Redis and sessions (no flusher, no sweeper);
3. the HTTP floor: a bare Starlette 204 (``loadtest/bare.py``) with the gateway's
   uvicorn settings and workers, under the same load: the most any app served this way
   could carry here, whatever Redis and Postgres cost;
4. the seed design (``loadtest/seed_design.py``, 2 workers) on the same PostgreSQL,
   the same number of sessions created and re-pinged the same way.

``--runs N`` repeats it and reports the median of each figure; the Markdown section is
appended to ``--output`` (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import psutil
import redis

from loadtest import meters, organiser, processes
from loadtest.audience import CONNECTIONS, SMALL_WEBINARS, Audience, Load, at_rate
from loadtest.bench import uvicorn_command
from loadtest.cpu import role, steal_pct
from loadtest.meters import Cpu, Psql, Sampler, ScriptClock, Writes
from loadtest.publishing import command_line, publish
from loadtest.seed_design import SCHEMA
from loadtest.system_report import markdown
from watchtime import keys
from watchtime.embedded import PostgresServer, RedisServer, free_port, started
from watchtime.settings import Settings

Figures = dict[str, float]

ADMIN_TOKEN = "bench-admin-token"
SHARES = (0.25, 0.5, 0.75)
SEED_WORKERS = 2
DRAIN_TIMEOUT_SECONDS = 300.0
STATS_SETTLE_SECONDS = 11.0
SESSIONS_TABLE = "webinar_user_sessions"


@dataclass(frozen=True)
class Options:
    sessions: int
    seconds: float
    rate_seconds: float
    runs: int
    min_ping_interval: float | None
    output: Path
    # `make run`'s gateway workers: the HTTP floor is served with as many, the report names them
    gateway_workers: int = field(default_factory=lambda: Settings.from_env().gateway_workers)


@dataclass
class Meters:
    """What one window reads; a component's CPU is read by its process id."""

    components: dict[str, int]
    redis: redis.Redis | None = None
    psql: Psql | None = None
    sampler: Sampler | None = None
    scripts: bool = False
    window: tuple[float, float] = field(default=(0.0, 0.0))


@contextlib.contextmanager
def serving(command: list[str], env: dict[str, str], log: Path, port: int) -> Iterator[int]:
    """A server process until the block ends (SIGINT: the supervisor stops its children
    in order); yields its process id once ``/healthz`` answers."""
    with processes.serving(command, env, log, f"http://127.0.0.1:{port}/healthz") as process:
        time.sleep(2)  # every worker up, not only the first
        yield process.pid


def window(
    audience: Audience,
    m: Meters,
    seconds: float,
    delay_ms: float = 0,
    after: Callable[[float], Figures] | None = None,
) -> Figures:
    """One load of ``seconds`` and what the meters read over it, per ping; ``after``
    (the drain) runs as soon as the load ends and is given the time it ended."""
    writes = _settled_writes(m.psql) if m.psql else None
    cpu = Cpu(m.components)
    commands = meters.commandstats(m.redis) if m.redis else {}
    clock = ScriptClock(m.redis) if m.scripts and m.redis else None
    timer = threading.Timer(seconds / 2, clock.sample) if clock else None
    if timer:
        timer.start()
    started_at = time.monotonic()
    load = audience.ping(seconds, delay_ms)
    m.window = (started_at, time.monotonic())
    if timer:
        timer.join()
    used = cpu.used() | {"wrk": load.wrk_cpu}
    f = _latency(load) | {f"cpu.{name}": 1e6 * s / load.requests for name, s in used.items()}
    if m.redis:
        delta = meters.command_delta(commands, meters.commandstats(m.redis))
        f |= _redis(delta, load)
        if clock:
            clock.stop()
            f |= _scripts(clock, delta.get("evalsha", (0, 0)), load)
    if m.sampler:
        f |= _sampled(m.sampler, m.window, load.rps)
    if after:
        f |= after(m.window[1])
    if writes and m.psql:
        f |= _writes(_settled_writes(m.psql) - writes, load.requests)
    return f


def _settled_writes(psql: Psql) -> Writes:
    """PostgreSQL's counters once every backend has reported: one that went idle less
    than a second after its last report sends the rest 10 s later."""
    time.sleep(STATS_SETTLE_SECONDS)
    return Writes.read(psql)


def _latency(load: Load) -> Figures:
    return {
        "rps": load.rps,
        "p50_ms": load.p50_ms,
        "p99_ms": load.p99_ms,
        "errors": load.errors,
        "requests": load.requests,
    }


def _redis(delta: dict[str, tuple[int, int]], load: Load) -> Figures:
    f: Figures = {}
    for name, (calls, usec) in delta.items():
        f[f"cmd.{name}.calls"] = calls / load.requests
        f[f"cmd.{name}.us"] = usec / load.requests
    return f


def _scripts(clock: ScriptClock, evalsha: tuple[int, int], load: Load) -> Figures:
    f: Figures = {}
    for name, (calls, us) in clock.per_ping(evalsha, load.requests).items():
        f[f"script.{name}.calls"], f[f"script.{name}.us"] = calls, us
    return f


def _writes(w: Writes, pings: int) -> Figures:
    return {
        "pg_rows": (w.inserted + w.updated) / pings,
        "pg_hot": w.hot / max(w.updated, 1),
        "wal_bytes": w.wal_bytes / pings,
    }


def _sampled(sampler: Sampler, span: tuple[float, float], rps: float) -> Figures:
    f = {"aof_bytes": sampler.aof_bytes_per_second(*span) / rps}
    if sampler.port:
        f["lag_max_s"] = sampler.lag_max(*span)
    return f


def prefixed(prefix: str, figures: Figures) -> Figures:
    return {f"{prefix}.{name}": value for name, value in figures.items()}


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``check()`` holds, polled every 0.2 s."""
    started_at = time.monotonic()
    while not check():
        if time.monotonic() - started_at > timeout:
            raise RuntimeError(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.2)
    return time.monotonic() - started_at


def create_sessions(audience: Audience, stored: Callable[[], bool]) -> Figures:
    """Every session tracked once, then the time until all are stored."""
    started_at = time.monotonic()
    load = audience.track(timeout=audience.sessions / 200 + 60)
    waited = wait_for(stored, DRAIN_TIMEOUT_SECONDS, "sessions stored")
    return {
        "create.rps": audience.sessions / load.seconds,
        "create.errors": load.errors,
        "create.stored_s": time.monotonic() - started_at,
        "create.wait_s": waited,
    }


def _in_list(webinars: list[UUID]) -> str:
    return ", ".join(f"'{w}'" for w in webinars)


def pg_sessions(psql: Psql, webinars: list[UUID]) -> tuple[int, int]:
    """Session rows of the benchmark's webinars in Postgres, and their pings."""
    count, pings = psql.numbers(
        f"SELECT count(*), coalesce(sum(ping_count), 0) FROM {SESSIONS_TABLE} "
        f"WHERE webinar_id IN ({_in_list(webinars)})"
    )
    return int(count), int(pings)


def drain(r: redis.Redis, psql: Psql, audience: Audience, ended: float) -> Figures:
    """Seconds from the end of the load until Postgres holds every session's last state:
    its ping count equals Redis's, for every session."""
    held = meters.session_total(
        r, (keys.session(w, s) for w, s in audience.session_keys()), "ping_count"
    )
    expected = (audience.sessions, held)
    try:
        wait_for(
            lambda: pg_sessions(psql, audience.webinars) == expected, DRAIN_TIMEOUT_SECONDS, "drain"
        )
    except RuntimeError:
        return {"drain_s": math.inf}
    return {"drain_s": time.monotonic() - ended}


def backlog_zero(sampler: Sampler, ended: float) -> Figures:
    """Seconds from the end of the load until the flusher's backlog gauge read 0 (it is
    set once a cycle, before the cycle's batch)."""
    with contextlib.suppress(RuntimeError):
        wait_for(lambda: sampler.backlog_empty_at(ended) is not None, 60, "backlog")
    empty = sampler.backlog_empty_at(ended)
    return {"backlog_zero_s": math.inf if empty is None else empty - ended}


def service_env(
    o: Options,
    redis_server: RedisServer,
    pg: PostgresServer,
    folder: Path,
    port: int,
    flusher_port: int,
) -> dict[str, str]:
    """``make run``'s settings, but the ports: free ones, so nothing else on the machine
    is in the way."""
    env = os.environ | {
        "REDIS_URL": redis_server.url,
        "DATABASE_URL": pg.url,
        "DATA_DIR": str(folder / "data"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "FLUSHER_METRICS_PORT": str(flusher_port),
        "SWEEPER_METRICS_PORT": str(free_port()),
    }
    if o.min_ping_interval is not None:
        env["MIN_PING_INTERVAL_SECONDS"] = f"{o.min_ping_interval:g}"
    return env


def create_webinars(port: int, webinars: list[UUID]) -> None:
    body = {"title": "system bench", "webinar_start_time": datetime.now(UTC).isoformat()}
    for webinar in webinars:
        url = f"http://127.0.0.1:{port}/api/webinars/{webinar}"
        organiser.call("PUT", url, ADMIN_TOKEN, body)


def roles(supervisor: int) -> dict[str, int]:
    """The supervisor's children by what they run: gateway, flusher, sweeper."""
    return {role(child): child.pid for child in psutil.Process(supervisor).children()}


class Run:
    """One run: the servers, the sessions, and the three designs in turn."""

    def __init__(self, o: Options, folder: Path) -> None:
        self.o, self.folder = o, folder
        self.redis_server = RedisServer(folder / "redis")
        self.pg = PostgresServer(folder / "postgres")
        self.port, self.flusher_port = free_port(), free_port()
        self.webinars = [uuid4() for _ in range(1 + SMALL_WEBINARS)]
        self.audience = Audience(self.port, self.webinars, o.sessions)

    def figures(self) -> Figures:
        with started([self.redis_server, self.pg]):
            assert self.redis_server.process and self.pg.process  # started
            self.servers = {"redis": self.redis_server.process.pid, "postgres": self.pg.process.pid}
            r = redis.Redis.from_url(self.redis_server.url)
            f = self.whole_service(r, Psql(self.pg))
            f |= self.gateway_only(r)
            f |= self.http_floor()
            f |= self.seed_design()
            return f | {
                "ratio.seed": f["sys.sat.rps"] / f["seed.sat.rps"],
                "ratio.gw": f["sys.sat.rps"] / f["gw.rps"],
            }

    def env(self) -> dict[str, str]:
        return service_env(
            self.o, self.redis_server, self.pg, self.folder, self.port, self.flusher_port
        )

    def whole_service(self, r: redis.Redis, psql: Psql) -> Figures:
        command = [sys.executable, "-m", "watchtime.supervisor"]
        with serving(command, self.env(), self.folder / "service.log", self.port) as pid:
            create_webinars(self.port, self.webinars)
            n = self.o.sessions
            f = create_sessions(self.audience, lambda: pg_sessions(psql, self.webinars)[0] == n)
            sampler = Sampler(r, self.flusher_port)
            sampler.start()
            try:
                return prefixed("sys", f | self.steady(r, psql, sampler, roles(pid)))
            finally:
                sampler.stop()

    def steady(
        self, r: redis.Redis, psql: Psql, sampler: Sampler, parts: dict[str, int]
    ) -> Figures:
        m = Meters(parts | self.servers, r, psql, sampler, scripts=True)
        drained = functools.partial(drain, r, psql, self.audience)
        f = prefixed("sat", window(self.audience, m, self.o.seconds, after=drained))
        f["sat.backlog_zero_s"] = backlog_zero(sampler, m.window[1])["backlog_zero_s"]
        for share in SHARES:
            m = Meters({}, sampler=sampler)
            f |= prefixed(f"at{share * 100:.0f}", self.paced(m, f["sat.rps"] * share))
        return f

    def paced(self, m: Meters, rate: float) -> Figures:
        trial = max(1.0, self.o.rate_seconds / 4)
        return at_rate(
            lambda s, d: _Rated(window(self.audience, m, s, d)),
            CONNECTIONS,
            rate,
            self.o.rate_seconds,
            trial,
        ).figures

    def gateway_only(self, r: redis.Redis) -> Figures:
        command = [sys.executable, "-m", "gateway"]
        with serving(command, self.env(), self.folder / "gateway.log", self.port) as pid:
            self.audience.ping(min(5.0, self.o.seconds))  # warm-up of the fresh workers
            sampler = Sampler(r, None)
            sampler.start()
            try:
                m = Meters({"gateway": pid, "redis": self.servers["redis"]}, r, sampler=sampler)
                return prefixed("gw", window(self.audience, m, self.o.seconds))
            finally:
                sampler.stop()

    def http_floor(self) -> Figures:
        """A bare Starlette 204 (loadtest/bare.py) with the gateway's uvicorn settings and
        workers, under the same load: what answering HTTP alone costs on this box."""
        port = free_port()
        command = uvicorn_command("loadtest.bare:app", port, self.o.gateway_workers)
        with serving(command, os.environ.copy(), self.folder / "floor.log", port) as pid:
            audience = Audience(port, self.webinars, self.o.sessions)
            return prefixed("floor", window(audience, Meters({"gateway": pid}), self.o.seconds))

    def seed_design(self) -> Figures:
        Psql(self.pg).rows("CREATE DATABASE seed")
        psql = Psql(self.pg, "seed")
        psql.rows(SCHEMA)
        port = free_port()
        command = uvicorn_command(
            "loadtest.seed_design:create_app", port, SEED_WORKERS, "--factory"
        )
        env = os.environ | {"SEED_DATABASE_URL": self.pg.url.rsplit("/", 1)[0] + "/seed"}
        audience = Audience(port, self.webinars, self.o.sessions)
        n = self.o.sessions
        with serving(command, env, self.folder / "seed.log", port) as pid:
            f = create_sessions(
                audience, lambda: psql.numbers("SELECT count(*) FROM seed_sessions")[0] == n
            )
            m = Meters({"gateway": pid, "postgres": self.servers["postgres"]}, psql=psql)
            return prefixed("seed", f | prefixed("sat", window(audience, m, self.o.seconds)))


class _Rated:
    """A window's figures with the rate ``at_rate`` paces by."""

    def __init__(self, figures: Figures) -> None:
        self.figures = figures

    @property
    def rps(self) -> float:
        return self.figures["rps"]


def median(runs: list[Figures]) -> Figures:
    """Each figure's median over the runs (a command or script absent from a run: 0)."""
    names = sorted({name for run in runs for name in run})
    return {name: statistics.median(run.get(name, 0.0) for run in runs) for name in names}


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=240_000)
    parser.add_argument("--seconds", type=float, default=60, help="load at saturation, s")
    parser.add_argument(
        "--rate-seconds",
        type=float,
        help="each load at a fixed rate, s (default: half of --seconds)",
    )
    parser.add_argument("--runs", type=int, default=1, help="report the median of this many")
    parser.add_argument(
        "--min-ping-interval",
        type=float,
        help="MIN_PING_INTERVAL_SECONDS, for runs of very few sessions",
    )
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    a = parser.parse_args(argv)
    rate_seconds = a.rate_seconds or a.seconds / 2
    return Options(a.sessions, a.seconds, rate_seconds, a.runs, a.min_ping_interval, a.output)


def measure(o: Options) -> list[Figures]:
    """Every run's figures; each is printed as JSON as soon as it is measured."""
    runs = []
    for _ in range(o.runs):
        before = psutil.cpu_times()
        with tempfile.TemporaryDirectory(prefix="watchtime-system-bench-") as folder:
            runs.append(Run(o, Path(folder)).figures())
        runs[-1]["machine.steal_pct"] = steal_pct(before, psutil.cpu_times())
        print(json.dumps(runs[-1]), flush=True)
    return runs


def main(argv: list[str] | None = None) -> None:
    o = parse(argv)
    before = os.getloadavg()
    runs = measure(o)
    loads = (before, os.getloadavg())
    section = markdown(median(runs), runs, o, command_line("loadtest.system_bench", argv), loads)
    publish(section, o.output)


if __name__ == "__main__":
    main()
