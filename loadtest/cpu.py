"""CPU use during a load test, by role: the machine as a whole, and the processes of
Locust and of the service (gateway, flusher, sweeper, Redis, PostgreSQL) with their
children. psutil comes with Locust.

A role's figure is its CPU seconds over the wall seconds watched, in percent of one
core (200 % = both cores of a 2-core machine). Processes that come and go between two
samples (a short-lived PostgreSQL backend) are missed; the long-lived ones are not.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psutil

PERIOD_SECONDS = 2.0


def role(process: psutil.Process) -> str:
    """A direct child of the supervisor by what it runs: redis, postgres, or the
    module of ``python -m <module>`` (gateway, flusher, sweeper)."""
    try:
        command: list[str] = process.cmdline()
    except psutil.Error:
        return "other"
    if "-m" in command[:-1]:
        return command[command.index("-m") + 1]
    name: str = process.name()
    return "redis" if "redis" in name else "postgres" if "postgres" in name else name


def steal_pct(before: Any, after: Any) -> float:
    """The share of the machine's CPU time its hypervisor gave to others (steal) between
    two ``psutil.cpu_times()``: a virtual machine's speed varies with it, unseen by the
    load average. Guest time is already counted in user time."""
    spent = {name: getattr(after, name) - getattr(before, name) for name in after._fields}
    total = sum(spent.values()) - spent.get("guest", 0) - spent.get("guest_nice", 0)
    return 100 * spent.get("steal", 0) / total if total > 0 else 0.0


def _tree(process: psutil.Process) -> list[psutil.Process]:
    try:
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return []


def service_roles(supervisor: psutil.Process) -> dict[str, list[psutil.Process]]:
    """The service's processes by role, each with its children (a gateway's workers)."""
    found: dict[str, list[psutil.Process]] = {}
    try:
        children = supervisor.children()
    except psutil.Error:
        children = []
    for child in children:
        found.setdefault(role(child), []).extend(_tree(child))
    return found


class CpuMonitor(threading.Thread):
    def __init__(self, locust_pid: int, supervisor_pid: int) -> None:
        super().__init__(daemon=True)
        self.locust = psutil.Process(locust_pid)
        self.supervisor = psutil.Process(supervisor_pid)
        self.stop_event = threading.Event()
        self.started = time.monotonic()
        self.seconds: dict[str, float] = {}  # CPU seconds by role
        self.system: list[float] = []  # machine-wide CPU percent, per sample
        self.last: dict[int, float] = {}  # CPU seconds of each process at its last sample

    def roles(self) -> dict[str, list[psutil.Process]]:
        return {"locust": _tree(self.locust)} | service_roles(self.supervisor)

    def sample(self) -> None:
        self.system.append(psutil.cpu_percent(interval=None))
        for name, processes in self.roles().items():
            for process in processes:
                try:
                    times = process.cpu_times()
                except psutil.Error:
                    continue
                used = times.user + times.system
                delta = used - self.last.get(process.pid, used)
                self.last[process.pid] = used
                self.seconds[name] = self.seconds.get(name, 0.0) + delta

    def run(self) -> None:
        psutil.cpu_percent(interval=None)  # the first reading only sets the baseline
        self.sample()
        while not self.stop_event.wait(PERIOD_SECONDS):
            self.sample()

    def stop(self) -> dict[str, float]:
        """Percent of one core by role, and the machine's mean and peak (of 100 %)."""
        self.stop_event.set()
        self.join()
        wall = max(time.monotonic() - self.started, 1e-9)
        figures = {name: 100 * used / wall for name, used in sorted(self.seconds.items())}
        busy = self.system[1:] or [0.0]
        return figures | {"machine mean": sum(busy) / len(busy), "machine peak": max(busy)}
