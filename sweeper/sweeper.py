"""The sweeper: closes abandoned sessions, records per-minute concurrency, and keeps
Postgres within its retention (R-SEM-5, R-PG-5).

Sessions are closed by a Lua script that re-checks each one, so a ping that lands
while the sweeper works wins; replicas share webinars through leases and a second
sweeper finds nothing left to close.
"""

from __future__ import annotations

import logging
import time
from uuid import UUID

from prometheus_client import Counter, Gauge, Histogram

from watchtime import clock, keys, registry, webinars
from watchtime.connections import Backends, rows_changed
from watchtime.errors import postgres_boundary
from watchtime.leases import Claims
from watchtime.metrics import SESSIONS_CLOSED
from watchtime.settings import Settings

log = logging.getLogger("watchtime.sweeper")

RUNS = Counter("watchtime_sweeper_runs_total", "Sweeps completed")
RUN_SECONDS = Histogram("watchtime_sweeper_run_duration_seconds", "Duration of one sweep")
LAST_RUN = Gauge("watchtime_sweeper_last_run_timestamp_seconds", "When the last sweep completed")
SNAPSHOTS = Counter("watchtime_sweeper_snapshots_total", "Per-minute viewer snapshots written")
RETENTION_DROPPED_MONTHS = Counter(
    "watchtime_sweeper_retention_dropped_partitions_total",
    "Monthly partitions of webinar_user_sessions dropped by retention",
)
RETENTION_DELETED = Counter(
    "watchtime_sweeper_retention_deleted_rows_total", "Rows deleted by retention", ["table"]
)

INSERT_SNAPSHOTS = """
INSERT INTO webinar_viewer_snapshots (webinar_id, bucket_at, viewers, active_sessions)
SELECT w, to_timestamp($2 / 1000.0), v, a
FROM unnest($1::uuid[], $3::int4[], $4::int4[]) AS t(w, v, a)
ON CONFLICT (webinar_id, bucket_at) DO NOTHING"""

ENSURE_MONTHS = """
SELECT watchtime_ensure_month(now() + n * interval '1 month') FROM generate_series(0, $1) AS n"""

# SKIP LOCKED: two replicas delete different rows instead of waiting on each other.
DELETE_OLD = {
    "webinar_user_sessions": """
        DELETE FROM webinar_user_sessions WHERE id IN (
            SELECT id FROM webinar_user_sessions
            WHERE entered_at < now() - make_interval(days => $1)
            LIMIT $2 FOR UPDATE SKIP LOCKED)""",
    "webinar_viewer_snapshots": """
        DELETE FROM webinar_viewer_snapshots WHERE (webinar_id, bucket_at) IN (
            SELECT webinar_id, bucket_at FROM webinar_viewer_snapshots
            WHERE bucket_at < now() - make_interval(days => $1)
            LIMIT $2 FOR UPDATE SKIP LOCKED)""",
}


class Sweeper:
    def __init__(self, backends: Backends, settings: Settings) -> None:
        self.redis, self.pg, self.store = backends
        self.stale_ms = settings.stale_after_ms
        self.retention_days = settings.retention_days
        self.claims = Claims(self.store, "sweep", settings.lease_ttl_ms)

    async def sweep(self) -> bool:
        """Closes every stale session of every webinar; a background-loop job."""
        started = time.perf_counter()
        await self.remirror()
        closed = 0
        for work in await registry.backlog(self.redis, keys.active):
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
                self.redis, keys.active(webinar_id), cutoff, keys.SWEEP_BATCH_SIZE
            )
            if stale:
                closed += await self.store.sweep(webinar_id, stale, now_ms)
            if len(stale) < keys.SWEEP_BATCH_SIZE:
                return closed

    async def remirror(self) -> None:
        """Heals a Redis that lost webinar schedules (e.g. restarted without its AOF)."""
        healed = await webinars.heal(self.redis, await webinars.still_open(self.pg))
        if healed:
            log.warning("mirrored %d webinar schedules Redis had lost", healed)

    async def snapshot(self) -> bool:
        """One row per webinar with viewers for the current minute; a background-loop job."""
        now_ms = await clock.server_ms(self.redis)
        counts = [(w, await self.store.live(w)) for w in await registry.webinars(self.redis)]
        seen = [(w, c) for w, c in counts if c is not None and (c.viewers or c.active_sessions)]
        if seen:
            args = ([w for w, _ in seen], now_ms - now_ms % 60_000,
                    [c.viewers for _, c in seen], [c.active_sessions for _, c in seen])  # fmt: skip
            with postgres_boundary():
                status = await self.pg.execute(INSERT_SNAPSHOTS, *args)
            SNAPSHOTS.inc(rows_changed(status))
        return False

    async def retention(self) -> bool:
        """Keeps the next months' partitions ready, drops the months past the retention,
        then deletes what is left of older rows in bounded batches (the month that
        straddles the limit, rows in the default partition, old snapshots)."""
        with postgres_boundary():
            await self.pg.execute(ENSURE_MONTHS, keys.PARTITION_MONTHS_AHEAD)
            dropped = await self.pg.fetchval(
                "SELECT watchtime_drop_months($1)", self.retention_days
            )
        RETENTION_DROPPED_MONTHS.inc(dropped)
        for table, statement in DELETE_OLD.items():
            while await self._delete_old(table, statement) == keys.RETENTION_BATCH_SIZE:
                pass  # a full batch: there may be more
        return False

    async def _delete_old(self, table: str, statement: str) -> int:
        with postgres_boundary():
            status = await self.pg.execute(
                statement, self.retention_days, keys.RETENTION_BATCH_SIZE
            )
        deleted = rows_changed(status)
        RETENTION_DELETED.labels(table).inc(deleted)
        return deleted
