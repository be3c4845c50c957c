"""The audience of the system benchmark: wrk (Debian's package) running
``loadtest/audience.lua`` against a server on 127.0.0.1.

Sessions ``s-0`` … ``s-<n-1>`` are spread over a few webinars (half on the first, the
rest round the others); each wrk thread owns one block of them. ``track`` creates every
session once; ``ping`` re-pings them in turn, each load going on where the last one
stopped, so a session is pinged again only after all the others.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, Protocol, TypeVar
from uuid import UUID

LUA = Path(__file__).with_name("audience.lua")
THREADS = 2
CONNECTIONS = 128  # 64 per thread, as loadtest/bench.py loads one gateway worker
SMALL_WEBINARS = 10  # besides the big one, which has half of the sessions
SOCKET_TIMEOUT = "10s"  # a reply slower than this counts as an error


class Load(NamedTuple):
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors and non-2xx answers
    wrk_cpu: float  # CPU seconds of wrk itself

    @property
    def rps(self) -> float:
        return self.requests / max(self.seconds, 1e-9)


class Audience:
    def __init__(self, port: int, webinars: list[UUID], sessions: int) -> None:
        self.url = f"http://127.0.0.1:{port}/"
        self.webinars = webinars
        self.sessions = sessions
        self.stopped = [0] * THREADS  # where each thread goes on from

    def session_keys(self) -> list[tuple[UUID, str]]:
        """Each session's webinar and id, as the wrk script assigns them."""
        half, others = self.sessions // 2, self.webinars[1:]
        return [
            (
                self.webinars[0] if i < half or not others else others[(i - half) % len(others)],
                f"s-{i}",
            )
            for i in range(self.sessions)
        ]

    def _env(self, mode: str, delay_ms: float) -> dict[str, str]:
        return os.environ | {
            "MODE": mode,
            "SESSIONS": str(self.sessions),
            "THREADS": str(THREADS),
            "WEBINARS": ",".join(str(w) for w in self.webinars),
            "DELAY_MS": f"{delay_ms:.3f}",
            "START": ",".join(str(n) for n in self.stopped),
        }

    def _command(self, seconds: float) -> list[str]:
        return [
            "wrk",
            f"-t{THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{max(seconds, 1):.0f}s",
            "--timeout",
            SOCKET_TIMEOUT,
            "-s",
            str(LUA),
            self.url,
        ]

    def track(self, timeout: float) -> Load:
        """Creates every session once; wrk is stopped as soon as all its threads are done."""
        command = self._command(timeout)
        before = children_cpu()
        wrk = subprocess.Popen(
            command, env=self._env("track", 0), stdout=subprocess.PIPE, text=True
        )
        _wait_threads(wrk.pid, lambda n: n > 1, time.monotonic() + 10)  # started
        _wait_threads(wrk.pid, lambda n: n == 1, time.monotonic() + timeout)  # all stopped
        wrk.send_signal(signal.SIGINT)  # its main thread sleeps out -d otherwise
        out, _ = wrk.communicate(timeout=30)
        return _load(out, children_cpu() - before)

    def ping(self, seconds: float, delay_ms: float = 0) -> Load:
        """Pings for ``seconds``; each connection waits ``delay_ms`` between a reply and
        its next request."""
        before = children_cpu()
        done = subprocess.run(
            self._command(seconds),
            env=self._env("ping", delay_ms),
            capture_output=True,
            text=True,
            check=True,
        )
        stopped = re.search(r"STOPPED (\S+)", done.stdout)
        if stopped:
            self.stopped = [int(n) for n in stopped.group(1).split(",")]
        return _load(done.stdout, children_cpu() - before)


def _wait_threads(pid: int, done: Callable[[int], bool], deadline: float) -> None:
    while not done(len(os.listdir(f"/proc/{pid}/task"))) and time.monotonic() < deadline:
        time.sleep(0.1)


def children_cpu() -> float:
    """CPU seconds of this process's children that have been waited for (wrk's)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def result(out: str) -> dict[str, float]:
    """The figures of the RESULT line that the wrk scripts print."""
    found = re.search(r"RESULT (.*)", out)
    if not found:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    return {k: float(v) for k, v in (pair.split("=") for pair in found.group(1).split())}


def _load(out: str, cpu: float) -> Load:
    r = result(out)
    return Load(
        int(r["requests"]),
        r["seconds"],
        r["p50_us"] / 1000,
        r["p99_us"] / 1000,
        int(r["errors"] + r["non2xx"]),
        cpu,
    )


class Rated(Protocol):
    @property
    def rps(self) -> float: ...


R = TypeVar("R", bound=Rated)


def at_rate(
    measure: Callable[[float, float], R],
    connections: int,
    rate: float,
    seconds: float,
    trial_seconds: float,
) -> R:
    """A load of ``rate`` requests/s from ``measure(seconds, delay_ms)``. wrk paces a
    connection by a delay between a reply and its next request, so the delay is the
    connection's period less the latency: a trial finds the latency, the measured run
    subtracts it."""
    period_ms = 1000 * connections / rate
    trial = measure(trial_seconds, period_ms)
    latency_ms = 1000 * connections / trial.rps - period_ms  # a connection's cycle less its delay
    return measure(seconds, max(period_ms - latency_ms, 0))
