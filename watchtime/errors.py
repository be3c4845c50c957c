"""Errors raised at the boundary between the service and its backends."""

from __future__ import annotations

from types import TracebackType

import asyncpg
from redis.exceptions import RedisClusterException, RedisError

# What a Redis that does not answer looks like; the cluster client's own errors (no
# reachable node, a slot not covered while a cluster restarts) are not RedisErrors.
REDIS_ERRORS = (RedisError, RedisClusterException)

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


# Redis at maxmemory with noeviction refusing a write: redis-py raises OutOfMemoryError
# for a command; a script that met it carries it inside its error reply (Redis < 7 checks
# memory at a script's first write, later ones before the script runs: never halfway).
OUT_OF_MEMORY = "OOM command not allowed"


class BackendUnavailable(Exception):
    """Redis or Postgres did not answer, or Redis is full: the caller must not acknowledge
    the request. ``reason`` is ``full`` or ``unavailable``."""

    def __init__(self, backend: str, error: BaseException | str) -> None:
        super().__init__(f"{backend}: {error}")
        self.backend = backend
        self.reason = "full" if OUT_OF_MEMORY in str(error) else "unavailable"


class _Boundary:
    """``with``: a backend's outage errors leave as BackendUnavailable, others as they are.
    A plain class rather than @contextmanager: it guards every ping, and costs less."""

    __slots__ = ("backend", "errors")

    def __init__(self, backend: str, errors: tuple[type[BaseException], ...]) -> None:
        self.backend = backend
        self.errors = errors

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: TracebackType | None
    ) -> None:
        if isinstance(error, self.errors):
            raise BackendUnavailable(self.backend, error) from error


_REDIS = _Boundary("redis", REDIS_ERRORS)
_POSTGRES = _Boundary("postgres", POSTGRES_ERRORS)


def redis_boundary() -> _Boundary:
    return _REDIS


def postgres_boundary() -> _Boundary:
    return _POSTGRES
