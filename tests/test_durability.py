"""Crashes and outages: a killed flusher, a stopped Postgres. Nothing credited is lost."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from decimal import Decimal
from uuid import UUID

import asyncpg
import pytest
from redis.asyncio import Redis
from support import both_topologies, with_settings
from test_flusher import assert_matches_redis, at, rows

from flusher.flusher import Flusher
from watchtime.backends import Backends
from watchtime.embedded import PostgresServer
from watchtime.errors import BackendUnavailable
from watchtime.sessions import SessionStore
from watchtime.settings import Settings

pytestmark = [pytest.mark.anyio, both_topologies]


class Viewers:
    """Simulated viewers with explicit clocks (or the Redis clock, for a flusher process
    that reads it), and a ledger of what each exit credited."""

    def __init__(
        self, store: SessionStore, webinar: UUID, count: int, explicit: bool = True
    ) -> None:
        self.store, self.webinar, self.explicit = store, webinar, explicit
        self.open = [f"s{i}" for i in range(count)]
        self.exited: dict[str, int] = {}
        self.t = 0
        self.rng = random.Random(7)

    def now_ms(self) -> int | None:
        return at(self.t) if self.explicit else None

    async def enter(self) -> None:
        for session_id in self.open:
            await self.store.track(self.webinar, session_id, "", now_ms=self.now_ms())

    async def step(self) -> None:
        self.t += 5
        for session_id in self.rng.sample(self.open, min(20, len(self.open))):
            visible = self.rng.random() < 0.7
            await self.store.ping(
                self.webinar,
                session_id,
                "",
                f"{session_id}-{self.t}",
                visible=visible,
                now_ms=self.now_ms(),
            )
        if self.rng.random() < 0.3 and len(self.open) > 10:
            session_id = self.open.pop(self.rng.randrange(len(self.open)))
            outcome = await self.store.exit(self.webinar, session_id, "", now_ms=self.now_ms())
            self.exited[session_id] = outcome.watched_ms

    async def check(self, redis: Redis, pg: asyncpg.Connection) -> None:
        stored = await rows(pg)
        assert sorted(stored) == sorted(self.open + list(self.exited))
        for session_id, watched_ms in self.exited.items():
            r = stored[session_id]
            assert (r["closed_reason"], r["watched_seconds_raw"]) == (
                "exit",
                Decimal(watched_ms) / 1000,
            )
        await assert_matches_redis(redis, pg, self.webinar)


async def test_postgres_down_then_up_every_session_arrives(
    store, redis, pg_pool, settings, postgres_server: PostgresServer, webinar
):
    viewers = Viewers(store, webinar, 40)
    await viewers.enter()
    flusher = Flusher(
        Backends(redis, pg_pool, store), with_settings(settings, flush_batch_size=5000)
    )
    await flusher.cycle(now_ms=at(1))

    postgres_server.stop()
    try:
        for _ in range(30):  # pings and exits go on: they only need Redis
            await viewers.step()
        with pytest.raises(BackendUnavailable):
            await flusher.cycle(now_ms=at(viewers.t))
        assert (await store.pending(webinar, 0, now_ms=at(viewers.t))).owed == 40
    finally:
        postgres_server.start()

    while await flusher.cycle(now_ms=at(viewers.t + 1)):
        pass
    await flusher.cycle(now_ms=at(viewers.t + 1))
    assert (await store.pending(webinar, 0, now_ms=at(viewers.t + 1))).owed == 0
    conn = await asyncpg.connect(postgres_server.url)
    try:
        await viewers.check(redis, conn)
    finally:
        await conn.close()


def spawn_flusher(settings: Settings) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "REDIS_URL": settings.redis_url or "",
        "REDIS_CLUSTER": "true" if settings.redis_cluster else "false",
        "DATABASE_URL": settings.database_url or "",
        "FLUSH_INTERVAL_SECONDS": "0.02",
        "FLUSH_BATCH_SIZE": "25",
        "FLUSHER_METRICS_PORT": "0",
        "LEASE_TTL_SECONDS": "0.2",  # a killed holder's webinars wait this long
    }
    return subprocess.Popen([sys.executable, "-m", "flusher"], env=env)


async def test_kill_9_of_the_flusher_at_random_points_loses_nothing(
    store, redis, pg_pool, settings, webinar
):
    viewers = Viewers(store, webinar, 150, explicit=False)
    await viewers.enter()
    rng = random.Random(11)
    for _ in range(10):
        flusher = spawn_flusher(settings)
        for _ in range(rng.randrange(2, 12)):
            await viewers.step()
            await asyncio.sleep(0.02)
        flusher.send_signal(signal.SIGKILL)
        flusher.wait()

    await viewers.step()  # work that only the last flusher can do: it is running when done
    flusher = spawn_flusher(settings)
    try:
        async with pg_pool.acquire() as conn:
            await settled(viewers, redis, conn)
    finally:
        flusher.send_signal(signal.SIGTERM)
        assert flusher.wait(10) == 0  # a graceful stop


async def settled(viewers: Viewers, redis: Redis, pg: asyncpg.Connection) -> None:
    """Waits up to 10 s for Postgres to hold what Redis holds."""
    for _ in range(500):
        try:
            return await viewers.check(redis, pg)
        except (AssertionError, KeyError):
            await asyncio.sleep(0.02)
    await viewers.check(redis, pg)
