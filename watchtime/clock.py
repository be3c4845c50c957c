"""Redis TIME: the one clock of the service (R-ARCH-2), for code outside the scripts."""

from __future__ import annotations

from datetime import UTC, datetime

from watchtime.client import RedisClient
from watchtime.errors import redis_boundary


def epoch_ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


async def server_ms(redis: RedisClient) -> int:
    with redis_boundary():
        seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def server_time(redis: RedisClient) -> datetime:
    return datetime.fromtimestamp(await server_ms(redis) / 1000, tz=UTC)
