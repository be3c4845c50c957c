"""The one shape of every background process: run a job, log, sleep, stop on an event.

SIGTERM or SIGINT sets the event; the job in progress finishes, so the flusher's
batch is either committed and acknowledged or left whole for the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

import uvloop

from watchtime import cli, health, logs
from watchtime.errors import BackendUnavailable
from watchtime.health import Liveness
from watchtime.settings import Settings, load_or_exit

# The logger keeps the name operators filter on from when this module was loop.py.
log = logging.getLogger("watchtime.loop")

# A job returns True when it left work behind and should run again at once.
Job = Callable[[], Awaitable[bool]]

BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
# A cycle that has not finished this many intervals after it was due means a stuck loop;
# never less than the floor, so a short interval on a busy machine does not look stuck.
STALL_INTERVALS = 3
STALL_MIN_SECONDS = 30.0


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _backoff(failures: int) -> float:
    return min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2.0 ** (failures - 1))


async def every(
    name: str, interval: float, job: Job, stop: asyncio.Event, liveness: Liveness | None = None
) -> None:
    """Runs ``job`` every ``interval`` seconds until ``stop``. A backend outage backs off;
    so does any other failure, logged with its traceback: a process that dies on one bad
    batch would stop flushing every webinar, while its lag and backlog metrics keep telling.
    After each cycle, ``liveness`` learns when the next one is due: after its wait, within
    STALL_INTERVALS intervals (STALL_MIN_SECONDS at least), or the loop is stuck."""
    progress = liveness or Liveness()
    allowance = max(STALL_INTERVALS * interval, STALL_MIN_SECONDS)
    progress.due_within(name, allowance)
    failures = 0
    while not stop.is_set():
        try:
            wait = 0.0 if await job() else interval
            failures = 0
        except BackendUnavailable as e:
            failures += 1
            log.warning("%s: %s (failure %d)", name, e, failures)
            wait = _backoff(failures)
        except Exception:
            failures += 1
            log.exception("%s failed (failure %d)", name, failures)
            wait = _backoff(failures)
        progress.due_within(name, wait + allowance)
        if wait:
            await _sleep(stop, wait)
    log.info("%s stopped", name)


def run_process(
    program: str,
    doc: str | None,
    main: Callable[[Settings, asyncio.Event, Liveness], Awaitable[None]],
    metrics_port: Callable[[Settings], int],
) -> None:
    """Console entry point: command line, settings, logging, metrics and liveness, signals,
    then ``main`` until stopped."""
    cli.parse(program, doc)
    settings = load_or_exit(program)
    logs.configure(settings)
    liveness = Liveness()
    if port := metrics_port(settings):
        health.serve(liveness, settings.host, port)
        log.info(
            "%s metrics on http://%s:%d/metrics, liveness on /healthz", program, settings.host, port
        )

    async def supervised() -> None:
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            running.add_signal_handler(sig, stop.set)
        await main(settings, stop, liveness)

    uvloop.run(supervised())
