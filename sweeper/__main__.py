"""``watchtime-sweeper`` / ``python -m sweeper``: close stale sessions until stopped."""

from __future__ import annotations

import asyncio

from sweeper.jobs import jobs
from watchtime import scheduler
from watchtime.backends import backends
from watchtime.health import Liveness
from watchtime.settings import Settings


async def run(settings: Settings, stop: asyncio.Event, liveness: Liveness) -> None:
    async with backends(settings, pg_max_size=2) as b:
        scheduled = jobs(b, settings)
        await asyncio.gather(*(scheduler.every(*job, stop, liveness) for job in scheduled))


def main() -> None:
    scheduler.run_process(
        "watchtime-sweeper", __doc__, run, metrics_port=lambda s: s.sweeper_metrics_port
    )


if __name__ == "__main__":
    main()
