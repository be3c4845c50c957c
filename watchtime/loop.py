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
from prometheus_client import start_http_server

from watchtime import cli, logs
from watchtime.errors import BackendUnavailable
from watchtime.settings import Settings, load_or_exit

log = logging.getLogger("watchtime.loop")

# A job returns True when it left work behind and should run again at once.
Job = Callable[[], Awaitable[bool]]

BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _backoff(failures: int) -> float:
    return min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2.0 ** (failures - 1))


async def every(name: str, interval: float, job: Job, stop: asyncio.Event) -> None:
    """Runs ``job`` every ``interval`` seconds until ``stop``. A backend outage backs off;
    so does any other failure, logged with its traceback: a process that dies on one bad
    batch would stop flushing every webinar, while its lag and backlog metrics keep telling."""
    failures = 0
    while not stop.is_set():
        try:
            more = await job()
            failures = 0
        except BackendUnavailable as e:
            failures += 1
            log.warning("%s: %s (failure %d)", name, e, failures)
        except Exception:
            failures += 1
            log.exception("%s failed (failure %d)", name, failures)
        else:
            if not more:
                await _sleep(stop, interval)
            continue
        await _sleep(stop, _backoff(failures))
    log.info("%s stopped", name)


def run_process(
    program: str,
    doc: str | None,
    main: Callable[[Settings, asyncio.Event], Awaitable[None]],
    metrics_port: Callable[[Settings], int],
) -> None:
    """Console entry point: command line, settings, logging, metrics, signals, then
    ``main`` until stopped."""
    cli.parse(program, doc)
    settings = load_or_exit(program)
    logs.configure(settings)
    if port := metrics_port(settings):
        start_http_server(port, addr=settings.host)
        log.info("%s metrics on http://%s:%d/metrics", program, settings.host, port)

    async def supervised() -> None:
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            running.add_signal_handler(sig, stop.set)
        await main(settings, stop)

    uvloop.run(supervised())
