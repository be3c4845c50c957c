"""The backends of one process: Redis, a Postgres pool and the session store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NamedTuple

import asyncpg

from watchtime.batching import ScriptBatcher
from watchtime.client import RedisClient, redis_client
from watchtime.postgres import postgres_pool
from watchtime.scripts import Scripts
from watchtime.sessions import SessionStore, run_directly
from watchtime.settings import Settings


class Backends(NamedTuple):
    redis: RedisClient
    pg: asyncpg.Pool
    store: SessionStore


@asynccontextmanager
async def backends(
    settings: Settings, pg_max_size: int, batched: bool = False
) -> AsyncIterator[Backends]:
    """Both clients and the session store of one process, closed on the way out.

    The Postgres pool connects lazily: the ping path needs only Redis and keeps
    working while Postgres is down. ``batched`` coalesces concurrent script calls."""
    redis = redis_client(settings)
    pg = await postgres_pool(settings, min_size=0, max_size=pg_max_size)
    batcher = ScriptBatcher(redis, settings.redis_timeout_seconds) if batched else None
    try:
        yield Backends(redis, pg, SessionStore(Scripts(redis), settings, batcher or run_directly))
    finally:
        if batcher:
            await batcher.aclose()
        await pg.close()
        await redis.aclose()
