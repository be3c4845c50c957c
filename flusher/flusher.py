"""The flusher: dirty sessions from Redis into Postgres, in batches (R-PG-4).

One cycle reads up to ``FLUSH_BATCH_SIZE`` dirty sessions (oldest change first),
writes them in one transaction with a version-guarded upsert, and only after the
commit clears each dirty mark whose version is still the one written. A crash at
any point leaves the marks, so the next cycle writes again; a replayed write of an
old version changes nothing. Replicas share webinars through leases, and stay
correct without them.
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple
from uuid import UUID

from prometheus_client import Counter, Gauge, Histogram

from flusher import rows
from watchtime import keys, registry
from watchtime.connections import Backends, rows_changed
from watchtime.errors import postgres_boundary
from watchtime.leases import Claims
from watchtime.sessions import Collected
from watchtime.settings import Settings

log = logging.getLogger("watchtime.flusher")

BATCHES = Counter("watchtime_flusher_batches_total", "Batches committed to Postgres")
ROWS = Counter("watchtime_flusher_rows_total", "Session rows inserted or updated")
BATCH_SIZE = Histogram(
    "watchtime_flusher_batch_sessions",
    "Sessions per batch",
    buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000),
)
BATCH_SECONDS = Histogram(
    "watchtime_flusher_batch_duration_seconds", "Read, write and acknowledge of one batch"
)
BACKLOG = Gauge(
    "watchtime_flusher_dirty_sessions", "Sessions changed in Redis, not yet in Postgres"
)
LAG = Gauge(
    "watchtime_flusher_oldest_dirty_age_seconds", "Age of the oldest change not yet in Postgres"
)


class Part(NamedTuple):
    """One webinar's share of a batch."""

    webinar_id: UUID
    sessions: list[Collected]


class Flusher:
    def __init__(self, backends: Backends, settings: Settings) -> None:
        self.redis, self.pg, self.store = backends
        self.batch_size = settings.flush_batch_size
        self.claims = Claims(self.store, "flush", settings.lease_ttl_ms)

    async def cycle(self) -> bool:
        """One batch end to end; True if it was full and more may be waiting."""
        started = time.perf_counter()
        batch = await self.read()
        try:
            written = await self.write(batch)
            await self.ack(batch)
        finally:
            await self.release(batch)
        count = sum(len(part.sessions) for part in batch)
        if count:
            BATCHES.inc()
            ROWS.inc(written)
            BATCH_SIZE.observe(count)
            BATCH_SECONDS.observe(time.perf_counter() - started)
            log.debug("flushed %d sessions (%d rows changed)", count, written)
        return count >= self.batch_size

    async def read(self) -> list[Part]:
        """Claims webinars with dirty sessions, oldest change first, up to the batch size."""
        backlog = await registry.backlog(self.redis, keys.dirty)
        BACKLOG.set(sum(w.size for w in backlog))
        LAG.set(max((w.oldest_age_ms for w in backlog), default=0) / 1000)
        batch: list[Part] = []
        budget = self.batch_size
        for webinar in backlog:
            if budget <= 0:
                break
            if await self.claims.take(webinar.webinar_id):
                part = await self._read_webinar(webinar.webinar_id, budget)
                batch.append(part)
                budget -= len(part.sessions)
        return batch

    async def _read_webinar(self, webinar_id: UUID, limit: int) -> Part:
        session_ids = await registry.oldest(self.redis, keys.dirty(webinar_id), limit)
        return Part(webinar_id, await self.store.collect(webinar_id, session_ids))

    async def write(self, batch: list[Part]) -> int:
        """One transaction for the whole batch; returns the rows it changed."""
        found = [rows.row(p.webinar_id, s) for p in batch for s in p.sessions if _exists(s)]
        if not found:
            return 0
        with postgres_boundary():
            async with self.pg.acquire() as conn, conn.transaction():
                status = await conn.execute(rows.UPSERT, *rows.columns(found))
        return rows_changed(status)

    async def ack(self, batch: list[Part]) -> None:
        for part in batch:
            written = [(s.session_id, _version(s)) for s in part.sessions]
            await self.store.ack(part.webinar_id, written)

    async def release(self, batch: list[Part]) -> None:
        for part in batch:
            await self.claims.release(part.webinar_id)


def _exists(session: Collected) -> bool:
    """A dirty mark can outlive its session (e.g. deleted by hand); such marks are dropped."""
    return "version" in session.fields


def _version(session: Collected) -> int:
    return int(session.fields["version"]) if _exists(session) else 0
