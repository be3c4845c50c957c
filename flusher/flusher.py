"""The flusher: changed sessions from Redis into Postgres, in batches (R-PG-4).

One cycle asks each webinar of the working set what it owes (``pending.lua``: closed
sessions, and open ones whose last change is at or after the webinar's watermark), reads
up to ``FLUSH_BATCH_SIZE`` of them, writes them in one transaction with a
version-guarded upsert, and only after the commit moves each watermark forward, trims
the intervals written from the sessions' logs (a row's intervals are a union with the
ones a batch carries: a session's flush costs what changed, not its age) and retires
the closed sessions written (``ack.lua``). A crash at any point leaves the
watermark where it was, so the next cycle writes again; a replayed write of an old
version changes nothing. A webinar with nothing open, owed or present leaves the working
set (``rest.lua``). Replicas share webinars through leases, and stay correct without them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import NamedTuple
from uuid import UUID

from prometheus_client import Counter, Gauge, Histogram

from flusher import rows
from watchtime import registry
from watchtime.backends import Backends
from watchtime.claims import Claims
from watchtime.errors import postgres_boundary
from watchtime.postgres import rows_changed
from watchtime.sessions import Collected, Pending
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


# Webinars asked at once what they owe: within the Redis client's connection pool.
SURVEY_CONCURRENCY = 32
# Sessions read per transaction. Redis runs one to its end, and the pings behind it wait:
# 500 sessions take it about 2 ms, a whole batch of 5,000 tens of ms.
COLLECT_CHUNK = 500


class Part(NamedTuple):
    """One webinar's share of a batch."""

    webinar_id: UUID
    sessions: list[Collected]
    watermark: int  # ms: where the webinar's watermark moves once the part is written
    closed_ids: list[str]


class Flusher:
    def __init__(self, backends: Backends, settings: Settings) -> None:
        self.redis, self.pg, self.store = backends
        self.batch_size = settings.flush_batch_size
        self.claims = Claims(self.store, "flush", settings.lease_ttl_ms)

    async def cycle(self, now_ms: int | None = None) -> bool:
        """One batch end to end; True if it was full and more may be waiting. Tests pass
        ``now_ms``; production reads the Redis clock."""
        started = time.perf_counter()
        batch = await self.read(now_ms)
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

    async def read(self, now_ms: int | None = None) -> list[Part]:
        """Claims webinars that owe sessions and reads them, up to the batch size; takes
        the webinars with nothing to do out of the working set."""
        survey = await self.survey(now_ms)
        BACKLOG.set(sum(p.owed for _, p in survey))
        LAG.set(max((p.lag_ms for _, p in survey), default=0) / 1000)
        batch: list[Part] = []
        budget = self.batch_size
        for webinar_id, pending in survey:
            if not pending.owed and not pending.open_sessions:
                await self.store.rest(webinar_id, now_ms)
            elif budget > 0 and pending.owed and await self.claims.take(webinar_id):
                part = await self._read_webinar(webinar_id, budget, now_ms)
                batch.append(part)
                budget -= len(part.sessions)
        return batch

    async def survey(self, now_ms: int | None) -> list[tuple[UUID, Pending]]:
        """What each webinar of the working set owes, the longest waiting first."""
        webinars = await registry.webinars(self.redis)
        owed: list[Pending] = []
        for start in range(0, len(webinars), SURVEY_CONCURRENCY):
            chunk = webinars[start : start + SURVEY_CONCURRENCY]
            owed += await asyncio.gather(*(self.store.pending(w, 0, now_ms) for w in chunk))
        return sorted(zip(webinars, owed, strict=True), key=lambda item: _oldest(item[1]))

    async def _read_webinar(self, webinar_id: UUID, limit: int, now_ms: int | None) -> Part:
        pending = await self.store.pending(webinar_id, limit, now_ms)
        ids = pending.closed_ids + pending.open_ids
        sessions: list[Collected] = []
        for start in range(0, len(ids), COLLECT_CHUNK):  # one after another: see COLLECT_CHUNK
            sessions += await self.store.collect(webinar_id, ids[start : start + COLLECT_CHUNK])
        return Part(webinar_id, sessions, pending.next_watermark, pending.closed_ids)

    async def write(self, batch: list[Part]) -> int:
        """One transaction for the whole batch; returns the rows it changed."""
        found = [rows.row(p.webinar_id, s) for p in batch for s in p.sessions if s.exists]
        if not found:
            return 0
        with postgres_boundary():
            async with self.pg.acquire() as conn, conn.transaction():
                status = await conn.execute(rows.UPSERT, rows.encode(found))
        return rows_changed(status)

    async def ack(self, batch: list[Part]) -> None:
        for part in batch:
            await self.store.ack(part.webinar_id, part.watermark, part.closed_ids, part.sessions)

    async def release(self, batch: list[Part]) -> None:
        for part in batch:
            await self.claims.release(part.webinar_id)


def _oldest(pending: Pending) -> float:
    return pending.oldest_ms if pending.oldest_ms >= 0 else float("inf")
