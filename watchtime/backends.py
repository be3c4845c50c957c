"""The backends of one process: Redis, a Postgres pool and the session store."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NamedTuple

import asyncpg
from redis.exceptions import RedisError

from watchtime.batching import ScriptBatcher
from watchtime.client import RedisClient, redis_client
from watchtime.postgres import postgres_pool
from watchtime.scripts import Scripts
from watchtime.sessions import SessionStore
from watchtime.settings import Settings

log = logging.getLogger("watchtime.backends")


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
    scripts = Scripts(redis)
    try:
        await _warm(scripts, batcher)
        yield Backends(redis, pg, SessionStore(scripts, settings, batcher))
    finally:
        if batcher:
            await batcher.aclose()
        await pg.close()
        await redis.aclose()


async def _warm(scripts: Scripts, batcher: ScriptBatcher | None) -> None:
    """Scripts loaded and the batcher's connections open before the first request: a
    flood meeting a cold gateway kept its first calls waiting on both for seconds
    (BENCHMARKS.md, the spike). A Redis that is not there yet is met on first use."""
    try:
        await scripts.load()
        if batcher:
            await batcher.open()
    except (RedisError, OSError) as e:
        log.warning("Redis not ready at start (connecting on first use): %s", e)
