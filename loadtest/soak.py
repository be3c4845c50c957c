"""``make soak DURATION=30``: a long verified load test that watches the service age.

    python -m loadtest.soak --minutes 30 [--users 1000] [--interval 2] [--every 10]
                            [--record BENCHMARKS.md]

A verified Locust run (``loadtest.run``: the whole service with embedded AOF Redis and
PostgreSQL, the Locust scenarios, the verifier at the end) during which every
``--every`` seconds the sampler writes down, to ``soak.csv`` in ``--out``: the resident
memory (RSS) and open file descriptors of every process of the service (each gateway
worker, the flusher, the sweeper, Redis, PostgreSQL's long-lived processes), and Redis's
used memory and number of keys. The report compares each process that lived through
the run at the end of the warm-up (the first ``--warmup`` share of the run: arrivals,
caches, pools) with the end of the load: RSS growth, descriptor growth, Redis memory;
then the verifier's result. Exits 0 only if every process grew less than 5 % in memory
and not at all in descriptors after the warm-up, and the verifier passed.

PostgreSQL's processes are judged by their private memory (USS) instead of RSS, which
counts the shared buffers each one has touched so far, past a floor of 1 MiB (their
private memory is a few hundred KiB, where a page is a percent), and their descriptors
are not judged: each keeps a cache of open table files up to ``max_files_per_process``.
"""

from __future__ import annotations

import contextlib
import csv
import shlex
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
import redis

from loadtest import results, run
from loadtest.cpu import service_roles

RSS_GROWTH_LIMIT = 0.05  # after the warm-up, per process
POSTGRES_FLOOR_BYTES = 2**20


@dataclass
class Samples:
    """Time series: (seconds since start, value) per (kind, name)."""

    started: float = field(default_factory=time.monotonic)
    series: dict[tuple[str, str], list[tuple[float, float]]] = field(default_factory=dict)

    def add(self, kind: str, name: str, value: float) -> None:
        at = time.monotonic() - self.started
        self.series.setdefault((kind, name), []).append((at, value))

    def at(self, kind: str, name: str, moment: float) -> float | None:
        """The first value at or after ``moment`` seconds."""
        return next((v for t, v in self.series.get((kind, name), []) if t >= moment), None)

    def last(self, kind: str, name: str) -> float | None:
        points = self.series.get((kind, name))
        return points[-1][1] if points else None

    def write(self, path: Path) -> None:
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(("seconds", "kind", "name", "value"))
            for (kind, name), points in sorted(self.series.items()):
                writer.writerows((f"{t:.1f}", kind, name, v) for t, v in points)


class Sampler(threading.Thread):
    def __init__(self, supervisor: int, every: float, samples: Samples) -> None:
        super().__init__(daemon=True)
        self.supervisor = psutil.Process(supervisor)
        self.every, self.samples = every, samples
        self.stop_event = threading.Event()
        self.redis: redis.Redis | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            while True:
                self.sample()
                if self.stop_event.wait(self.every):
                    return
        except Exception as e:  # the soak fails on it, in the main thread
            self.error = e

    def sample(self) -> None:
        for role, processes in service_roles(self.supervisor).items():
            for process in processes:
                with contextlib.suppress(psutil.Error):  # a backend that just ended
                    name = _name(role, process)
                    memory = process.memory_full_info()
                    self.samples.add("rss_bytes", name, memory.rss)
                    self.samples.add("uss_bytes", name, memory.uss)
                    self.samples.add("open_fds", name, process.num_fds())
                    if role == "redis" and self.redis is None:
                        self.redis = _redis_of(process)
        if self.redis is not None:
            used = self.redis.info("memory")["used_memory"]
            self.samples.add("redis", "used_memory_bytes", used)
            self.samples.add("redis", "keys", self.redis.dbsize())

    def stop(self) -> None:
        self.stop_event.set()
        self.join()
        if self.error:
            raise RuntimeError("the soak's sampler failed") from self.error


def _name(role: str, process: psutil.Process) -> str:
    """``gateway:<pid>``; PostgreSQL's by their title, ``postgres: checkpointer:<pid>``, a
    backend's without its state (idle, INSERT …), which changes all the time."""
    title = process.cmdline()[0] if role == "postgres" else role
    if not title.startswith("postgres"):
        return f"{role}:{process.pid}"
    client, found, _ = title.partition(")")
    return f"{(client + found) if found else title.strip()}:{process.pid}"


def _redis_of(process: psutil.Process) -> redis.Redis:
    """A client of the embedded Redis, by the port it listens on."""
    ports = [c.laddr.port for c in process.net_connections("tcp") if c.status == "LISTEN"]
    return redis.Redis(host="127.0.0.1", port=ports[0])


@dataclass(frozen=True)
class Aged:
    """One long-lived process from the end of the warm-up to the end of the load."""

    name: str
    rss: tuple[float, float]
    uss: tuple[float, float]
    fds: tuple[float, float]

    @property
    def postgres(self) -> bool:
        return self.name.startswith("postgres:")

    @property
    def growth(self) -> float:
        """Of RSS; of private memory (USS) for PostgreSQL (see the module's doc)."""
        before, after = self.uss if self.postgres else self.rss
        return after / before - 1

    @property
    def passed(self) -> bool:
        if self.postgres:
            return (
                self.growth < RSS_GROWTH_LIMIT or self.uss[1] - self.uss[0] < POSTGRES_FLOOR_BYTES
            )
        return self.growth < RSS_GROWTH_LIMIT and self.fds[1] <= self.fds[0]


def aged(samples: Samples, warm: float) -> list[Aged]:
    """Every process sampled at the end of the warm-up and still at the end."""
    end = max((p[-1][0] for p in samples.series.values()), default=0.0)
    found = []
    for kind, name in sorted(samples.series):
        if kind != "rss_bytes":
            continue
        rss, uss, fds = (
            (samples.at(k, name, warm), samples.last(k, name))
            for k in (kind, "uss_bytes", "open_fds")
        )
        points = samples.series[(kind, name)]
        if points[0][0] <= warm and points[-1][0] >= end - 1 and None not in (*rss, *uss, *fds):
            found.append(Aged(name, rss, uss, fds))  # type: ignore[arg-type]
    return found


def report(samples: Samples, warm: float, locust: results.Run) -> list[str]:
    rows = [
        f"| {a.name} | {a.rss[0] / 2**20:,.1f} → {a.rss[1] / 2**20:,.1f} | "
        f"{a.uss[0] / 2**20:,.1f} → {a.uss[1] / 2**20:,.1f} | {100 * a.growth:+.1f} % | "
        f"{a.fds[0]:.0f} → {a.fds[1]:.0f} | {'PASS' if a.passed else 'FAIL'} |"
        for a in aged(samples, warm)
    ]
    used = [v for _, v in samples.series.get(("redis", "used_memory_bytes"), [])]
    keys = [v for _, v in samples.series.get(("redis", "keys"), [])]
    warm_used = samples.at("redis", "used_memory_bytes", warm) or 0.0
    warm_keys = samples.at("redis", "keys", warm) or 0.0
    verdict = locust.verdict
    return [
        "| process | RSS, MiB | private (USS), MiB | growth judged | open fds | |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Redis used memory: {warm_used / 2**20:,.1f} MiB after the warm-up, "
        f"peak {max(used, default=0) / 2**20:,.1f} MiB, {(used or [0])[-1] / 2**20:,.1f} MiB "
        f"at the end; keys {warm_keys:,.0f} after the warm-up, peak {max(keys, default=0):,.0f},"
        f" {(keys or [0])[-1]:,.0f} at the end.",
        "",
        f"Verifier: {'PASS' if verdict and verdict.passed else 'FAIL'}"
        + (
            f" (lost {verdict.lost}, duplicated {verdict.duplicated}, people over one interval "
            f"{len(verdict.over_interval)})"
            if verdict
            else " (the service never settled)"
        ),
    ]


@dataclass(frozen=True)
class Options:
    load: run.Options
    every: float
    warmup: float


def parse(argv: list[str] | None) -> Options:
    """``make loadtest``'s options (30 minutes of 1,000 people by default), and the
    sampling's; the results go to loadtest-results/soak-<time> by default."""
    parser = run.parser(__doc__, users=1000, minutes=30.0)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument(
        "--warmup", type=float, default=0.2, help="share of the run before the baseline"
    )
    a = parser.parse_args(argv)
    return Options(run.options(a, "soak-"), a.every, a.warmup)


def main(argv: list[str] | None = None) -> None:
    o = parse(argv)
    command = "python -m loadtest.soak " + shlex.join(sys.argv[1:] if argv is None else argv)
    samples = Samples()

    @contextlib.contextmanager
    def sampled(supervisor: int) -> Iterator[None]:
        sampler = Sampler(supervisor, o.every, samples)
        samples.started = time.monotonic()
        sampler.start()
        try:
            yield
        finally:
            sampler.stop()

    locust = run.execute(o.load, command, watch=sampled)
    samples.write(o.load.out / "soak.csv")
    warm = o.warmup * o.load.minutes * 60
    lines = report(samples, warm, locust)
    print(results.text(locust), "", *lines, sep="\n")
    if o.load.record:
        with o.load.record.open("a") as out:
            out.write(markdown(o, command, lines, locust))
    processes = aged(samples, warm)
    passed = bool(processes) and all(a.passed for a in processes)
    sys.exit(0 if passed and locust.verdict and locust.verdict.passed else 1)


def markdown(o: Options, command: str, lines: list[str], locust: results.Run) -> str:
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    load = o.load
    return f"""
## Soak: {load.users:,} viewers, {load.minutes:g} minutes ({when})

`{command}` — samples every {o.every:g} s in `soak.csv`; baseline at the end of the
warm-up ({100 * o.warmup:.0f} % of the run), compared with the end of the load.

{chr(10).join(lines)}
{results.markdown(locust)}"""


if __name__ == "__main__":
    main()
