"""Finding work without KEYS or a keyspace scan (R-ARCH-3): the working set of webinars,
and per webinar a sorted set whose size and lowest score say how much is waiting."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple
from uuid import UUID

from watchtime import clock, keys
from watchtime.client import RedisClient
from watchtime.errors import redis_boundary


class Work(NamedTuple):
    webinar_id: UUID
    size: int
    oldest_age_ms: int


def _strings(members: Sequence[Any]) -> list[str]:
    return [m.decode() if isinstance(m, bytes) else str(m) for m in members]


async def webinars(redis: RedisClient) -> list[UUID]:
    with redis_boundary():
        members = await redis.zrange(keys.REGISTRY, 0, -1)
    return [UUID(m) for m in _strings(members)]


async def stranded(redis: RedisClient, webinar_ids: Sequence[UUID]) -> list[UUID]:
    """Those of the webinars out of the working set that have sessions open or owed, which
    a crash can leave there (``SessionStore.rest``)."""
    working = set(await webinars(redis))
    outside = [webinar_id for webinar_id in webinar_ids if webinar_id not in working]
    with redis_boundary():
        async with redis.pipeline(transaction=False) as pipe:  # split per node on a cluster
            for webinar_id in outside:
                pipe.exists(keys.active(webinar_id), keys.closed(webinar_id))  # one slot
            counts = await pipe.execute()
    return [webinar_id for webinar_id, count in zip(outside, counts, strict=True) if count]


async def backlog(redis: RedisClient, key_of: Callable[[UUID], str]) -> list[Work]:
    """Webinars whose set ``key_of(webinar)`` is not empty, oldest lowest score first."""
    ids = await webinars(redis)
    now_ms = await clock.server_ms(redis)
    with redis_boundary():
        async with redis.pipeline(transaction=False) as pipe:  # split per node on a cluster
            for webinar_id in ids:
                pipe.zcard(key_of(webinar_id))
                pipe.zrange(key_of(webinar_id), 0, 0, withscores=True)
            replies = await pipe.execute()
    work = [
        Work(webinar_id, size, now_ms - int(oldest[0][1]))
        for webinar_id, size, oldest in zip(ids, replies[::2], replies[1::2], strict=True)
        if size
    ]
    return sorted(work, key=lambda w: -w.oldest_age_ms)


async def below(redis: RedisClient, key: str, score: int, limit: int) -> list[str]:
    """Up to ``limit`` members of a sorted set scored below ``score``, lowest first."""
    with redis_boundary():
        return _strings(await redis.zrangebyscore(key, "-inf", f"({score}", start=0, num=limit))
