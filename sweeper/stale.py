"""Abandoned sessions closed at their last heartbeat (R-SEM-5).

Sessions are closed by a Lua script that re-checks each one, so a ping that lands
while the sweeper works wins; replicas share webinars through leases and a second
sweeper finds nothing left to close.
"""

from __future__ import annotations

import logging
import time
from uuid import UUID

from prometheus_client import Counter, Gauge, Histogram

from sweeper import mirror
from watchtime import clock, keys, registry
from watchtime.backends import Backends
from watchtime.claims import Claims
from watchtime.metrics import SESSIONS_CLOSED
from watchtime.settings import Settings

log = logging.getLogger("watchtime.sweeper")

RUNS = Counter("watchtime_sweeper_runs_total", "Sweeps completed")
RUN_SECONDS = Histogram("watchtime_sweeper_run_duration_seconds", "Duration of one sweep")
LAST_RUN = Gauge("watchtime_sweeper_last_run_timestamp_seconds", "When the last sweep completed")

# Sessions closed per sweep script call.
SWEEP_BATCH_SIZE = 1000


class StaleSessions:
    def __init__(self, backends: Backends, settings: Settings) -> None:
        self.redis, self.pg, self.store = backends
        self.stale_ms = settings.stale_after_ms
        self.claims = Claims(self.store, "sweep", settings.lease_ttl_ms)

    async def sweep(self) -> bool:
        """Closes every stale session of every webinar; a scheduled job. Lost schedules
        are copied back first, so that their webinars' sessions close at the right time."""
        started = time.perf_counter()
        await mirror.remirror(self.redis, self.pg, self.store)
        closed = 0
        for work in await registry.backlog(self.redis, keys.indexes):
            if work.oldest_age_ms > self.stale_ms:
                closed += await self._sweep_claimed(work.webinar_id)
        SESSIONS_CLOSED.labels("timeout").inc(closed)
        RUNS.inc()
        RUN_SECONDS.observe(time.perf_counter() - started)
        LAST_RUN.set_to_current_time()
        log.info("sweep closed %d stale sessions in %.3fs", closed, time.perf_counter() - started)
        return False

    async def _sweep_claimed(self, webinar_id: UUID) -> int:
        if not await self.claims.take(webinar_id):
            return 0  # another replica is on it
        try:
            return await self.sweep_webinar(webinar_id)
        finally:
            await self.claims.release(webinar_id)

    async def sweep_webinar(self, webinar_id: UUID, now_ms: int | None = None) -> int:
        closed = 0
        while True:
            cutoff = (now_ms or await clock.server_ms(self.redis)) - self.stale_ms
            stale = await registry.below(
                self.redis, keys.indexes(webinar_id), cutoff, SWEEP_BATCH_SIZE
            )
            if stale:
                closed += await self.store.sweep(webinar_id, stale, now_ms)
            if len(stale) < SWEEP_BATCH_SIZE:
                return closed
