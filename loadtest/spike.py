"""``make spike``: a doors-open spike against ``make run`` defaults, then a Locust spike.

    python -m loadtest.spike [--connections 4000] [--seconds 40] [--sessions 200000]
                             [--users 600] [--minutes 2] [--record BENCHMARKS.md]

1. the whole service as ``make run`` runs it (``watchtime.supervisor``: AOF Redis,
   PostgreSQL, a gateway worker per core, flusher, sweeper, every setting at its
   default), its embedded servers started here so that their URLs are known;
2. wrk with ``--connections`` connections at full speed for ``--seconds`` s, pinging
   ``--sessions`` sessions of one webinar (``loadtest/ping.lua``): answers by status,
   refusals without Retry-After, socket timeouts (wrk's limit: 5 s), p50 and p99 of all
   answers; meanwhile ``/healthz`` is asked every second with a 2 s limit;
3. once the flusher has written everything, the pings Postgres holds are compared with
   the pings wrk saw acknowledged (204): never fewer (nothing acknowledged is lost), and
   never more than those plus the requests whose answer never came: socket errors, and
   one per connection for the requests in flight when wrk stopped, which wrk does not
   count (so none is counted twice);
4. a verified Locust run (``loadtest.run``) with the ``spike`` arrival shape: a third of
   ``--users``, then the rest at once; ``--locust-admission`` sets its gateway's
   ``ADMISSION_MAX_IN_FLIGHT`` (a small one makes a small audience a 3x overload).

Exits 0 only if every must-show holds: p99 <= 1 s, no socket timeout, ``/healthz`` 200 at
every probe, every refusal a 503 or 429 with Retry-After, the pings accounted for, and
the Locust run verified.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from loadtest import results, run, webinar
from watchtime.embedded import PostgresServer, RedisServer, free_port, started
from watchtime.settings import Settings

LUA = Path(__file__).with_name("ping.lua")
PING_PATH = "/api/webinars/{}/presence/ping"
THREADS = 2
WRK_TIMEOUT_SECONDS = 5
PROBE_LIMIT_SECONDS = 2.0
P99_LIMIT_MS = 1000
SETTLE_SECONDS = 3 * Settings().flush_interval_seconds  # Postgres unchanged this long: flushed
SETTLE_LIMIT_SECONDS = 300.0


@dataclass(frozen=True)
class Options:
    connections: int
    seconds: float
    sessions: int
    users: int
    minutes: float
    locust_admission: int | None
    out: Path
    record: Path | None


@dataclass
class Spike:
    """What wrk and the health probes saw, and what Postgres holds afterwards."""

    requests: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    # By status and error code ("204", "503 overloaded", ...); "bare": without Retry-After.
    answers: Counter[str] = field(default_factory=Counter)
    socket: Counter[str] = field(default_factory=Counter)  # connect, read, write, timeout
    probes: Counter[str] = field(default_factory=Counter)  # /healthz by status or failure
    stored_pings: int = 0  # Σ ping_count of the webinar's rows in Postgres, settled
    connections: int = 0  # wrk's

    @property
    def acknowledged(self) -> int:
        return self.answers["204"]

    @property
    def unanswered(self) -> int:
        """Requests that may have been applied without wrk seeing the answer: socket
        errors, and those in flight when it stopped (at most one per connection)."""
        errors = self.socket["read"] + self.socket["write"] + self.socket["timeout"]
        return errors + self.connections

    def checks(self) -> dict[str, bool]:
        refused = sum(n for k, n in self.answers.items() if k.startswith(("503 ", "429 ")))
        accounted = self.acknowledged <= self.stored_pings <= self.acknowledged + self.unanswered
        return {
            f"p99 of all answers <= {P99_LIMIT_MS} ms": self.p99_ms <= P99_LIMIT_MS,
            "no socket timeout": self.socket["timeout"] == 0,
            "/healthz 200 at every probe": set(self.probes) == {"200"},
            "every answer a 204, or a 503/429 with Retry-After": (
                self.acknowledged + refused == self.requests and self.answers["bare"] == 0
            ),
            "no acknowledged ping lost, none counted twice": accounted,
        }


class Prober(threading.Thread):
    """``/healthz`` every second, each with a limit of PROBE_LIMIT_SECONDS."""

    def __init__(self, base: str, probes: Counter[str]) -> None:
        super().__init__(daemon=True)
        self.url, self.probes = f"{base}/healthz", probes
        self.stop_event = threading.Event()

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            self.probes[self.probe()] += 1
            next_at += 1.0
            self.stop_event.wait(max(0.0, next_at - time.monotonic()))

    def probe(self) -> str:
        try:
            with urllib.request.urlopen(self.url, timeout=PROBE_LIMIT_SECONDS) as answer:
                return str(answer.status)
        except urllib.error.HTTPError as e:
            return str(e.code)
        except TimeoutError:
            return "timeout"
        except OSError as e:
            return f"error: {type(e).__name__}"

    def stop(self) -> None:
        self.stop_event.set()
        self.join()


def wrk(o: Options, url: str, spike: Spike) -> None:
    env = os.environ | {"SESSIONS": str(o.sessions // THREADS), "COUNT_ANSWERS": "1"}
    command = [
        "wrk",
        f"-t{THREADS}",
        f"-c{o.connections}",
        f"-d{o.seconds:.0f}s",
        f"--timeout={WRK_TIMEOUT_SECONDS}s",
        "-s",
        str(LUA),
        url,
    ]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    found = re.search(r"RESULT (.*)", out)
    if not found:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    figures = dict(pair.split("=") for pair in found.group(1).split())
    spike.requests = int(figures["requests"])
    spike.p50_ms, spike.p99_ms = int(figures["p50_us"]) / 1000, int(figures["p99_us"]) / 1000
    for name, count in re.findall(r"ANSWER (.+)=(\d+)", out):
        spike.answers[name] += int(count)
    socket = re.search(r"SOCKET (.*)", out)
    assert socket, out
    spike.socket.update({k: int(v) for k, v in (p.split("=") for p in socket.group(1).split())})


async def stored_pings(database_url: str, webinar_id: str) -> int:
    """Σ ping_count of the webinar's sessions once the flusher has written them all."""
    query = "SELECT coalesce(sum(ping_count), 0) FROM webinar_user_sessions WHERE webinar_id = $1"
    conn = await asyncpg.connect(database_url)
    try:
        last, since, deadline = -1, time.monotonic(), time.monotonic() + SETTLE_LIMIT_SECONDS
        while time.monotonic() - since < SETTLE_SECONDS and time.monotonic() < deadline:
            total = int(await conn.fetchval(query, webinar_id))
            if total != last:
                last, since = total, time.monotonic()
            await asyncio.sleep(1.0)
        return last
    finally:
        await conn.close()


def service_env(folder: Path, redis: RedisServer, postgres: PostgresServer) -> dict[str, str]:
    """``make run``'s settings: every default, metrics ports out of the way."""
    return os.environ | {
        "DATA_DIR": str(folder / "data"),
        "REDIS_URL": redis.url,
        "DATABASE_URL": postgres.url,
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "ADMIN_TOKEN": secrets.token_urlsafe(16),
        "FLUSHER_METRICS_PORT": "0",
        "SWEEPER_METRICS_PORT": "0",
        "LOG_LEVEL": "WARNING",
    }


def doors_open(o: Options) -> Spike:
    """Phases 1 to 3: the service, the spike with its probes, the pings accounted for."""
    spike = Spike(connections=o.connections)
    with tempfile.TemporaryDirectory(prefix="watchtime-spike-") as folder:
        redis = RedisServer(Path(folder) / "redis")  # appendonly yes, as make run's
        postgres = PostgresServer(Path(folder) / "postgres")
        with started([redis, postgres]):
            env = service_env(Path(folder), redis, postgres)
            base = f"http://127.0.0.1:{env['PORT']}"
            with run.service(env, o.out / "service.log"):
                webinar_id = webinar.create(base, env["ADMIN_TOKEN"], o.seconds)
                prober = Prober(base, spike.probes)
                prober.start()
                try:
                    wrk(o, base + PING_PATH.format(webinar_id), spike)
                finally:
                    prober.stop()
                spike.stored_pings = asyncio.run(stored_pings(postgres.url, webinar_id))
    return spike


def locust_spike(o: Options) -> results.Run:
    """Phase 4: a verified Locust run whose audience triples at once."""
    if o.locust_admission:
        os.environ["ADMISSION_MAX_IN_FLIGHT"] = str(o.locust_admission)
    options = run.Options(
        users=o.users,
        minutes=o.minutes,
        interval=2.0,
        workers=1,
        processes=1,
        out=o.out / "locust",
        record=None,
        seed=None,
        profile="spike",
    )
    command = (
        f"python -m loadtest.run --users {o.users} --minutes {o.minutes:g} --spawn-profile spike"
    )
    return run.execute(options, command)


def lines(o: Options, spike: Spike) -> list[tuple[str, str]]:
    answers = ", ".join(f"{k}: {n:,}" for k, n in sorted(spike.answers.items()))
    probes = ", ".join(f"{k}: {n}" for k, n in sorted(spike.probes.items()))
    return [
        (
            "load",
            f"wrk, {o.connections:,} connections, {o.seconds:g} s, "
            f"{o.sessions:,} sessions, timeout {WRK_TIMEOUT_SECONDS} s",
        ),
        ("answers", f"{spike.requests:,} ({spike.requests / o.seconds:,.0f}/s): {answers}"),
        ("latency of all answers", f"p50 {spike.p50_ms:,.1f} ms, p99 {spike.p99_ms:,.1f} ms"),
        ("socket errors", ", ".join(f"{k} {n:,}" for k, n in sorted(spike.socket.items()))),
        (f"/healthz every second ({PROBE_LIMIT_SECONDS:g} s limit)", probes),
        (
            "pings in Postgres / acknowledged / unanswered",
            f"{spike.stored_pings:,} / {spike.acknowledged:,} / {spike.unanswered:,}",
        ),
        *((check, "PASS" if passed else "FAIL") for check, passed in spike.checks().items()),
    ]


def markdown(o: Options, spike: Spike, locust: results.Run, command: str) -> str:
    rows = "\n".join(f"| {k} | {v} |" for k, v in lines(o, spike))
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    return f"""
## Spike: {o.connections:,} connections for {o.seconds:g} s against `make run` defaults ({when})

`{command}` — wrk on 127.0.0.1 against the whole service as `make run` starts it (AOF
Redis, PostgreSQL, a gateway worker per core, flusher, sweeper, default settings) on this
2-core machine; then a verified Locust run with the `spike` arrival shape (below).

| figure | value |
|---|---|
{rows}
{results.markdown(locust)}"""


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--connections", type=int, default=4000, help="wrk connections")
    add("--seconds", type=float, default=40.0, help="length of the spike")
    add("--sessions", type=int, default=200_000, help="sessions the pings go round")
    add("--users", type=int, default=600, help="people of the Locust spike")
    add("--minutes", type=float, default=2.0, help="length of the Locust run")
    add("--locust-admission", type=int, help="ADMISSION_MAX_IN_FLIGHT of the Locust run")
    add("--out", type=Path, help="logs (default: loadtest-results/spike-<time>)")
    add("--record", type=Path, help="append the figures to this file")
    a = parser.parse_args(argv)
    out = run.results_folder(a.out, "spike-")
    return Options(
        a.connections, a.seconds, a.sessions, a.users, a.minutes, a.locust_admission, out, a.record
    )


def main(argv: list[str] | None = None) -> None:
    o = parse(argv)
    o.out.mkdir(parents=True, exist_ok=True)
    command = "python -m loadtest.spike " + shlex.join(sys.argv[1:] if argv is None else argv)
    spike = doors_open(o)
    width = max(len(k) for k, _ in lines(o, spike))
    print("\n".join(f"{k:<{width}}  {v}" for k, v in lines(o, spike)), flush=True)
    locust = locust_spike(o)
    print(results.text(locust))
    if o.record:
        with o.record.open("a") as out:
            out.write(markdown(o, spike, locust, command))
    verified = locust.verdict is not None and locust.verdict.passed and not locust.total.failures
    sys.exit(0 if all(spike.checks().values()) and verified else 1)


if __name__ == "__main__":
    main()
