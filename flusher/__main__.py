"""``watchtime-flusher`` / ``python -m flusher``: write changed sessions to Postgres until
stopped."""

from __future__ import annotations

import asyncio

from flusher.flusher import Flusher
from watchtime import scheduler
from watchtime.backends import backends
from watchtime.health import Liveness
from watchtime.settings import Settings


async def run(settings: Settings, stop: asyncio.Event, liveness: Liveness) -> None:
    # Batched: a batch names three keys per session, which hiredis packs for less CPU than
    # redis-py's own packer, and the survey's calls leave in one write.
    async with backends(settings, pg_max_size=2, batched=True) as b:
        flusher = Flusher(b, settings)
        await scheduler.every(
            "flusher", settings.flush_interval_seconds, flusher.cycle, stop, liveness
        )


def main() -> None:
    scheduler.run_process(
        "watchtime-flusher", __doc__, run, metrics_port=lambda s: s.flusher_metrics_port
    )


if __name__ == "__main__":
    main()
