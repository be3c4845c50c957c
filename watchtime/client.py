"""The Redis client of every process: one server, or a Redis Cluster (``REDIS_CLUSTER``).

Nothing else changes with the topology: every script's keys share one hash tag, so
each script call runs on the one node that owns its webinar.
"""

from __future__ import annotations

from typing import TypeAlias

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster

from watchtime.settings import Settings

RedisClient: TypeAlias = Redis | RedisCluster

# Concurrent requests queue for a connection instead of failing; a reply slower
# than the timeout surfaces as 503 rather than a hung viewer request.
REDIS_MAX_CONNECTIONS = 64
REDIS_TIMEOUT_SECONDS = 5.0


def redis_client(settings: Settings) -> RedisClient:
    if not settings.redis_url:
        raise ValueError("REDIS_URL is not set")
    timeouts = {
        "socket_timeout": REDIS_TIMEOUT_SECONDS,
        "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
    }
    if settings.redis_cluster:
        return RedisCluster.from_url(
            settings.redis_url, max_connections=REDIS_MAX_CONNECTIONS, **timeouts
        )
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=REDIS_MAX_CONNECTIONS,
        timeout=REDIS_TIMEOUT_SECONDS,
        **timeouts,
    )
    return Redis(connection_pool=pool)
