"""Finding work without KEYS or a keyspace scan (R-ARCH-3): the working set of webinars,
and per webinar a sorted set whose size and lowest score say how much is waiting."""

from __future__ import annotations

import itertools
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
                pipe.exists(*keys.indexes(webinar_id), keys.closed(webinar_id))  # one slot
            counts = await pipe.execute()
    return [webinar_id for webinar_id, count in zip(outside, counts, strict=True) if count]


async def backlog(redis: RedisClient, sets_of: Callable[[UUID], Sequence[str]]) -> list[Work]:
    """Webinars with members in their sorted sets ``sets_of(webinar)``, the one whose
    lowest score is oldest first."""
    sets = {webinar_id: sets_of(webinar_id) for webinar_id in await webinars(redis)}
    now_ms = await clock.server_ms(redis)
    with redis_boundary():
        async with redis.pipeline(transaction=False) as pipe:  # split per node on a cluster
            for key in itertools.chain.from_iterable(sets.values()):
                pipe.zcard(key)
                pipe.zrange(key, 0, 0, withscores=True)
            replies = iter(await pipe.execute())
    work = []
    for webinar_id, webinar_sets in sets.items():
        found = [(next(replies), next(replies)) for _ in webinar_sets]
        if size := sum(count for count, _ in found):
            oldest = min(int(first[0][1]) for _, first in found if first)
            work.append(Work(webinar_id, size, now_ms - oldest))
    return sorted(work, key=lambda w: -w.oldest_age_ms)


async def below(redis: RedisClient, sets: Sequence[str], score: int, limit: int) -> list[str]:
    """Up to ``limit`` members of sorted sets of one webinar scored below ``score``, lowest
    first."""
    with redis_boundary():
        async with redis.pipeline(transaction=False) as pipe:  # one slot: one node
            for key in sets:
                pipe.zrangebyscore(key, "-inf", f"({score}", start=0, num=limit, withscores=True)
            found = [member for members in await pipe.execute() for member in members]
    return _strings([member for member, _ in sorted(found, key=lambda m: m[1])[:limit]])
