"""The Postgres side of a process: its connection pool, and what a command's status says."""

from __future__ import annotations

import asyncpg

from watchtime.settings import Settings


async def postgres_pool(settings: Settings, min_size: int, max_size: int) -> asyncpg.Pool:
    """A command slower than ``POSTGRES_COMMAND_TIMEOUT_SECONDS`` is cancelled on the server
    and raises TimeoutError, which the boundary turns into BackendUnavailable: a Postgres
    that is slow, not down, makes the flusher back off instead of hang."""
    if not settings.database_url:
        raise ValueError("DATABASE_URL is not set")
    pool: asyncpg.Pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=min_size,
        max_size=max_size,
        command_timeout=settings.postgres_command_timeout_seconds,
    )
    return pool


def rows_changed(status: str) -> int:
    """The row count of a command status such as ``INSERT 0 42`` or ``DELETE 7``."""
    return int(status.rsplit(" ", 1)[-1])
