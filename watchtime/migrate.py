"""Versioned schema migrations (R-PG-3): ``watchtime-migrate`` applies the pending
``migrations/*.sql`` in order, each in its own transaction. An advisory lock makes
concurrent runs safe; a second run is a no-op.

Each applied file's sha256 is recorded with it, and a run refuses to start when an
applied file has changed since: a database must never silently differ from what its
recorded migrations say. Databases migrated before checksums existed get theirs recorded
from the files on their next run. That is also why a later migration repeats what it
replaces (0004 re-creates the sessions table partitioned, 0006 redefines
``watchtime_ensure_month``) instead of sharing it: an applied file is history, never
edited."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sys
from importlib.resources import files

import asyncpg

from watchtime import cli, logs
from watchtime.settings import load_or_exit

log = logging.getLogger("watchtime.migrate")

# Any constant works: it only has to be the same for every migrating process.
ADVISORY_LOCK_KEY = 0x5741_5443_4854_494D

# The checksum column came after the table: added to ledgers that lack it.
LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now());
ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text"""

Migration = tuple[str, str]  # version (the file name without .sql), SQL


class MigrationChanged(RuntimeError):
    """Applied migrations whose files differ from what was applied; the message names them."""


def migrations() -> list[Migration]:
    folder = files("watchtime") / "migrations"
    scripts = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text()) for p in scripts]


def checksum(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Applies what is pending; returns the versions it applied. Raises MigrationChanged,
    applying nothing, if an applied file has changed."""
    await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    try:
        await conn.execute(LEDGER)
        scripts = migrations()
        done = await _recorded(conn, scripts)
        applied = []
        for version, sql in scripts:
            if version not in done:
                await _apply(conn, version, sql)
                applied.append(version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)


async def _recorded(conn: asyncpg.Connection, scripts: list[Migration]) -> set[str]:
    """The applied versions, once their files are checked against the recorded checksums
    (recorded now where the ledger has none yet)."""
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
    recorded = {r["version"]: r["checksum"] for r in rows}
    current = {version: checksum(sql) for version, sql in scripts}
    changed = sorted(
        f"{version}.sql"
        for version, old in recorded.items()
        if old is not None and version in current and current[version] != old
    )
    if changed:
        raise MigrationChanged(
            f"applied migrations changed since they were applied: {', '.join(changed)}; "
            "restore them and put the change in a new migration"
        )
    for version, old in recorded.items():
        if old is None and version in current:
            await conn.execute(
                "UPDATE schema_migrations SET checksum = $2 WHERE version = $1",
                version,
                current[version],
            )
    return set(recorded)


async def _apply(conn: asyncpg.Connection, version: str, sql: str) -> None:
    async with conn.transaction():
        await conn.execute(sql)
        await conn.execute(
            "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
            version,
            checksum(sql),
        )
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
    try:
        applied = asyncio.run(migrate_url(settings.database_url))
    except MigrationChanged as e:
        sys.exit(f"watchtime-migrate: {e}")
    log.info("schema up to date (%d applied)", len(applied))


if __name__ == "__main__":
    main()
