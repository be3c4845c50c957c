"""Errors raised at the boundary between the service and its backends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import asyncpg
from redis.exceptions import RedisClusterException, RedisError

# What a Redis that does not answer looks like; the cluster client's own errors (no
# reachable node, a slot not covered while a cluster restarts) are not RedisErrors.
REDIS_ERRORS = (RedisError, RedisClusterException)


class BackendUnavailable(Exception):
    """Redis or Postgres did not answer: the caller must not acknowledge the request."""

    def __init__(self, backend: str, error: BaseException | str) -> None:
        super().__init__(f"{backend}: {error}")
        self.backend = backend


@contextmanager
def _boundary(backend: str, errors: tuple[type[BaseException], ...]) -> Iterator[None]:
    try:
        yield
    except errors as e:
        raise BackendUnavailable(backend, e) from e


def redis_boundary() -> AbstractContextManager[None]:
    return _boundary("redis", REDIS_ERRORS)


# A Postgres that is down, starting, shutting down (class 57: operator intervention,
# statement timeouts included), out of connections or resources (class 53), or slow.
POSTGRES_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)


def postgres_boundary() -> AbstractContextManager[None]:
    return _boundary("postgres", POSTGRES_ERRORS)
