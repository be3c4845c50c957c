"""The Redis client of every process: one server, or a Redis Cluster (``REDIS_CLUSTER``).

Nothing else changes with the topology: every script's keys share one hash tag, so
each script call runs on the one node that owns its webinar.
"""

from __future__ import annotations

from typing import TypeAlias

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster

from watchtime.settings import Settings

RedisClient: TypeAlias = Redis | RedisCluster

# Concurrent requests queue for a connection instead of failing; a reply slower than
# REDIS_TIMEOUT_SECONDS surfaces as 503 rather than a hung viewer request.
REDIS_MAX_CONNECTIONS = 64


def redis_client(settings: Settings) -> RedisClient:
    if not settings.redis_url:
        raise ValueError("REDIS_URL is not set")
    timeouts = {
        "socket_timeout": settings.redis_timeout_seconds,
        "socket_connect_timeout": settings.redis_timeout_seconds,
    }
    if settings.redis_cluster:
        return RedisCluster.from_url(
            settings.redis_url, max_connections=REDIS_MAX_CONNECTIONS, **timeouts
        )
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=REDIS_MAX_CONNECTIONS,
        timeout=settings.redis_timeout_seconds,
        **timeouts,
    )
    return Redis(connection_pool=pool)
