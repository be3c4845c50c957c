"""What the system benchmark reads around a load: CPU by component, Redis command and
script statistics, PostgreSQL rows and WAL, the Redis AOF and the flusher's gauges.

Each meter is read before and after a window; the figures are the differences.
"""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterable
from importlib.resources import files
from typing import Any, NamedTuple

import psutil
import redis
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from watchtime.embedded import PostgresServer
from watchtime.fields import session_hash
from watchtime.scripts import source

# Commands the benchmark itself sends to Redis while it measures.
HARNESS_COMMANDS = frozenset({"info", "slowlog", "config"})
# During a window SLOWLOG keeps every script call at least this long (whole batches of the
# flusher and the sweeper); shorter ones are sampled for a moment (``ScriptClock``).
LONG_CALL_US = 1000
SAMPLE_SECONDS = 0.5
SLOWLOG_MAX = 200_000
FLUSHER_GAUGES = ("watchtime_flusher_dirty_sessions", "watchtime_flusher_oldest_dirty_age_seconds")


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its descendants, with those of the children they
    waited for (a Redis AOF rewrite, an exited PostgreSQL worker): the sum only grows."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            t = process.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return float(total)


class Cpu:
    """CPU seconds by component (name -> process id) over a window."""

    def __init__(self, components: dict[str, int]) -> None:
        self.components = components
        self.before = {name: cpu_seconds(pid) for name, pid in components.items()}

    def used(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) - self.before[name] for name, pid in self.components.items()}


def commandstats(r: redis.Redis) -> dict[str, tuple[int, int]]:
    """Calls and microseconds by command (lower case), scripts' own commands included."""
    stats: dict[str, Any] = r.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): (int(s["calls"]), int(s["usec"]))
        for name, s in stats.items()
        if name.removeprefix("cmdstat_") not in HARNESS_COMMANDS
    }


def command_delta(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> dict[str, tuple[int, int]]:
    return {
        name: (calls - before.get(name, (0, 0))[0], usec - before.get(name, (0, 0))[1])
        for name, (calls, usec) in after.items()
        if calls > before.get(name, (0, 0))[0]
    }


def script_names() -> dict[str, str]:
    """SHA1 -> name of every script of the package (what EVALSHA names)."""
    names = [p.name.removesuffix(".lua") for p in (files("watchtime") / "lua").iterdir()]
    return {
        hashlib.sha1(source(name).encode()).hexdigest(): name
        for name in names
        if name != "lib" and not name.startswith("_")
    }


class ScriptClock:
    """Redis time by script, from SLOWLOG, stratified: every call of at least
    ``LONG_CALL_US`` is kept for the whole window (the flusher's and the sweeper's
    batches), shorter ones are logged for ``SAMPLE_SECONDS`` in its middle."""

    def __init__(self, r: redis.Redis) -> None:
        self.r = r
        self.names = script_names()
        self.long: dict[str, list[int]] = {}
        self.short: dict[str, list[int]] = {}
        r.config_set("slowlog-max-len", SLOWLOG_MAX)
        r.slowlog_reset()
        r.config_set("slowlog-log-slower-than", LONG_CALL_US)

    def sample(self) -> None:
        self._collect()
        self.r.config_set("slowlog-log-slower-than", 0)
        time.sleep(SAMPLE_SECONDS)
        self.r.config_set("slowlog-log-slower-than", LONG_CALL_US)
        self._collect(sampled=True)

    def stop(self) -> None:
        self._collect()
        self.r.config_set("slowlog-log-slower-than", 10_000)  # Redis's defaults
        self.r.config_set("slowlog-max-len", 128)

    def _collect(self, sampled: bool = False) -> None:
        entries = self.r.slowlog_get(SLOWLOG_MAX)
        self.r.slowlog_reset()
        for entry in entries:
            words = bytes(entry["command"]).split(b" ", 2)
            if words[0].lower() != b"evalsha" or len(words) < 2:
                continue
            name = self.names.get(words[1].decode(errors="replace"), "other")
            if entry["duration"] >= LONG_CALL_US:
                self.long.setdefault(name, []).append(entry["duration"])
            elif sampled:
                self.short.setdefault(name, []).append(entry["duration"])

    def per_ping(self, evalsha: tuple[int, int], pings: int) -> dict[str, tuple[float, float]]:
        """Calls per ping and Redis µs per ping, by script. ``evalsha`` is the window's
        (calls, µs) from ``commandstats``: the calls shorter than ``LONG_CALL_US`` share
        what the long ones leave of it as they share the sample (the sample's own
        durations run long: logging the scripts' commands takes time inside them)."""
        short_calls = evalsha[0] - sum(len(d) for d in self.long.values())
        short_us = evalsha[1] - sum(sum(d) for d in self.long.values())
        sampled_calls = sum(len(d) for d in self.short.values()) or 1
        sampled_us = sum(sum(d) for d in self.short.values()) or 1
        found: dict[str, tuple[float, float]] = {}
        for name in sorted({*self.long, *self.short}):
            long, short = self.long.get(name, []), self.short.get(name, [])
            calls = len(long) + short_calls * len(short) / sampled_calls
            us = sum(long) + short_us * sum(short) / sampled_us
            found[name] = (calls / pings, us / pings)
        return found


class Psql:
    """One statement at a time through psql; answers as lists of text fields."""

    def __init__(self, server: PostgresServer, database: str = "postgres") -> None:
        self.command = [
            server.bin("psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(server.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-At",
            "-F",
            "\t",
            "-v",
            "ON_ERROR_STOP=1",
        ]

    def rows(self, sql: str) -> list[list[str]]:
        done = subprocess.run([*self.command, "-c", sql], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr}")
        return [line.split("\t") for line in done.stdout.splitlines() if line]

    def numbers(self, sql: str) -> list[float]:
        return [float(value or 0) for value in self.rows(sql)[0]]


WRITES = """
SELECT coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0),
       coalesce(sum(n_tup_hot_upd), 0), pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')
FROM pg_stat_user_tables"""


class Writes(NamedTuple):
    """PostgreSQL's counters of one database (rows) and of the server (WAL bytes)."""

    inserted: float
    updated: float
    hot: float
    wal_bytes: float

    @classmethod
    def read(cls, psql: Psql) -> Writes:
        return cls(*psql.numbers(WRITES))

    def __sub__(self, other: tuple[Any, ...]) -> Writes:
        return Writes(*(a - b for a, b in zip(self, other, strict=True)))


class Sampler(threading.Thread):
    """Every second: the flusher's backlog gauges (if it has a metrics port) and the
    Redis AOF's size, with its size after the last rewrite (which changes when a rewrite
    ends and replaces the file)."""

    def __init__(self, r: redis.Redis, flusher_metrics_port: int | None) -> None:
        super().__init__(daemon=True)
        self.r = r
        self.metrics = f"http://127.0.0.1:{flusher_metrics_port}/metrics"
        self.port = flusher_metrics_port
        self.stopping = threading.Event()
        self.flusher: list[tuple[float, float, float]] = []  # time, backlog, oldest age (s)
        self.aof: list[tuple[float, int, int]] = []  # time, size, size after the last rewrite

    def run(self) -> None:
        while not self.stopping.wait(1.0 - time.monotonic() % 1.0):
            now = time.monotonic()
            persistence: dict[str, Any] = self.r.info("persistence")
            size, base = persistence["aof_current_size"], persistence["aof_base_size"]
            self.aof.append((now, int(size), int(base)))
            if self.port:
                self.flusher.append((now, *_gauges(self.metrics)))

    def stop(self) -> None:
        self.stopping.set()
        self.join()

    def lag_max(self, start: float, end: float) -> float:
        return max((age for t, _, age in self.flusher if start <= t <= end), default=0.0)

    def backlog_empty_at(self, after: float) -> float | None:
        return next((t for t, backlog, _ in self.flusher if t > after and backlog == 0), None)

    def aof_bytes_per_second(self, start: float, end: float) -> float:
        """Growth of the AOF over the seconds of the window without a rewrite's end."""
        grown, seconds = 0, 0.0
        inside = [s for s in self.aof if start <= s[0] <= end]
        for (t0, size0, base0), (t1, size1, base1) in itertools.pairwise(inside):
            if base0 == base1 and size1 >= size0:
                grown, seconds = grown + size1 - size0, seconds + t1 - t0
        return grown / seconds if seconds else 0.0


def metric_families(url: str, timeout: float) -> dict[str, Metric]:
    """A ``/metrics`` page by family name (a counter's without ``_total``)."""
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        text = answer.read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def _gauges(url: str) -> tuple[float, float]:
    found = metric_families(url, timeout=2)
    backlog, lag = (found[n].samples[0].value if n in found else 0.0 for n in FLUSHER_GAUGES)
    return backlog, lag


def session_total(r: redis.Redis, keys: Iterable[str], field: str, chunk: int = 10_000) -> int:
    """The sum of one field over many session hashes, pipelined."""
    total, batch = 0, []
    for key in keys:
        batch.append(key)
        if len(batch) == chunk:
            total += _session_sum(r, batch, field)
            batch = []
    return total + (_session_sum(r, batch, field) if batch else 0)


def _session_sum(r: redis.Redis, keys: list[str], field: str) -> int:
    pipe = r.pipeline(transaction=False)
    for key in keys:
        pipe.hgetall(key)
    return sum(int(session_hash(raw).get(field, 0)) for raw in pipe.execute())
