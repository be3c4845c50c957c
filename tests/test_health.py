"""Liveness of the background loops: ``/healthz`` on the metrics port answers 200 while
every loop finishes its cycles in time, and 503 once one is stuck."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx2
import pytest

from watchtime import health, scheduler
from watchtime.embedded import free_port
from watchtime.errors import BackendUnavailable
from watchtime.health import Liveness


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_loop_is_late_once_past_its_deadline() -> None:
    clock = Clock()
    liveness = Liveness(clock)
    assert liveness.late() == []
    liveness.due_within("flusher", 6)
    liveness.due_within("sweeper", 1800)
    clock.now += 6
    assert liveness.late() == []
    clock.now += 0.001
    assert liveness.late() == ["flusher"]
    liveness.due_within("flusher", 6)
    assert liveness.late() == []


@pytest.fixture
def served() -> Iterator[tuple[Liveness, Clock, str]]:
    clock = Clock()
    liveness = Liveness(clock)
    port = free_port()
    server = health.serve(liveness, "127.0.0.1", port)
    yield liveness, clock, f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


def probe(base: str) -> tuple[int, object]:
    answer = httpx2.get(f"{base}/healthz", timeout=5)
    return answer.status_code, answer.json()


@pytest.mark.anyio
async def test_healthz_follows_the_loops_progress(served: tuple[Liveness, Clock, str]) -> None:
    """One cycle finishes, the next one blocks: healthy, then unhealthy once it is past
    its deadline (on a clock of the test's), healthy again when the cycle finishes."""
    liveness, clock, base = served
    interval = 0.01
    finished, blocked, release, stop = (asyncio.Event() for _ in range(4))
    calls = 0

    async def job() -> bool:
        nonlocal calls
        calls += 1
        if calls == 2:
            blocked.set()
            await release.wait()
        if calls == 3:
            stop.set()
        finished.set()
        return False

    running = asyncio.create_task(scheduler.every("flusher", interval, job, stop, liveness))
    await asyncio.wait_for(blocked.wait(), 10)
    due = interval + max(
        scheduler.STALL_INTERVALS * interval, scheduler.STALL_MIN_SECONDS
    )  # wait, cycle
    clock.now += due  # just at the deadline
    assert await asyncio.to_thread(probe, base) == (200, {"status": "ok", "late": []})
    clock.now += 0.001
    assert await asyncio.to_thread(probe, base) == (503, {"status": "stalled", "late": ["flusher"]})
    release.set()
    await asyncio.wait_for(running, 10)
    assert await asyncio.to_thread(probe, base) == (200, {"status": "ok", "late": []})


@pytest.mark.anyio
async def test_a_failing_cycle_is_due_after_its_backoff(
    served: tuple[Liveness, Clock, str],
) -> None:
    """A backend outage is no stuck loop: the next try is due after the backoff."""
    liveness, clock, _ = served
    stop = asyncio.Event()

    async def job() -> bool:
        stop.set()
        raise BackendUnavailable("redis", "down")

    await asyncio.wait_for(scheduler.every("sweeper", 20.0, job, stop, liveness), 10)
    clock.now += scheduler.BACKOFF_FIRST_SECONDS + scheduler.STALL_INTERVALS * 20.0
    assert liveness.late() == []
    clock.now += 0.001
    assert liveness.late() == ["sweeper"]


def test_the_metrics_stay_on_the_same_port(served: tuple[Liveness, Clock, str]) -> None:
    _, _, base = served
    answer = httpx2.get(f"{base}/metrics", timeout=5)
    assert answer.status_code == 200
    assert "python_info" in answer.text
