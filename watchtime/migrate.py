"""Versioned schema migrations (R-PG-3): ``watchtime-migrate`` applies the pending
``migrations/*.sql`` in order, each in its own transaction. An advisory lock makes
concurrent runs safe; a second run is a no-op."""

from __future__ import annotations

import asyncio
import logging
import sys
from importlib.resources import files

import asyncpg

from watchtime import cli, logs
from watchtime.settings import load_or_exit

log = logging.getLogger("watchtime.migrate")

# Any constant works: it only has to be the same for every migrating process.
ADVISORY_LOCK_KEY = 0x5741_5443_4854_494D

LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now())"""


def migrations() -> list[tuple[str, str]]:
    folder = files("watchtime") / "migrations"
    scripts = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text()) for p in scripts]


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Applies what is pending; returns the versions it applied."""
    await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    try:
        await conn.execute(LEDGER)
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        applied = []
        for version, sql in migrations():
            if version not in done:
                await _apply(conn, version, sql)
                applied.append(version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)


async def _apply(conn: asyncpg.Connection, version: str, sql: str) -> None:
    async with conn.transaction():
        await conn.execute(sql)
        await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
    log.info("applied migration %s", version)


async def migrate_url(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


def main() -> None:
    cli.parse("watchtime-migrate", __doc__)
    settings = load_or_exit("watchtime-migrate")
    logs.configure(settings)
    if not settings.database_url:
        sys.exit("watchtime-migrate: DATABASE_URL is not set")
    applied = asyncio.run(migrate_url(settings.database_url))
    log.info("schema up to date (%d applied)", len(applied))


if __name__ == "__main__":
    main()
