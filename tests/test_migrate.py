"""Schema migrations (R-PG-3): applied once, each file's checksum recorded, and a run
refused when an applied file has changed. Each test migrates a database of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest

from watchtime.embedded import PostgresServer
from watchtime.migrate import MigrationChanged, checksum, migrate, migrations

pytestmark = pytest.mark.anyio


@pytest.fixture
async def database(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """The URL of a new, empty database, dropped afterwards."""
    name = f"migrate_{uuid4().hex}"
    admin = await asyncpg.connect(postgres_server.url)
    await admin.execute(f"CREATE DATABASE {name}")
    yield postgres_server.url.rsplit("/", 1)[0] + f"/{name}"
    await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    await admin.close()


@pytest.fixture
async def conn(database: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database)
    yield connection
    await connection.close()


async def ledger(conn: asyncpg.Connection) -> dict[str, str | None]:
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
    return {r["version"]: r["checksum"] for r in rows}


def file_checksums() -> dict[str, str]:
    return {version: checksum(sql) for version, sql in migrations()}


def run_migrate(database_url: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"DATABASE_URL": database_url}
    command = [sys.executable, "-m", "watchtime.migrate"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


async def test_the_first_run_applies_every_file_and_records_its_sha256(
    conn: asyncpg.Connection,
) -> None:
    versions = [version for version, _ in migrations()]
    assert versions[0] == "0001_webinars"
    assert await migrate(conn) == versions
    assert await ledger(conn) == file_checksums()
    # sha256 of the file's text, as `sha256sum` prints it
    assert len(file_checksums()["0001_webinars"]) == 64


async def test_applying_twice_is_a_no_op(conn: asyncpg.Connection) -> None:
    await migrate(conn)
    before = await conn.fetch("SELECT version, checksum, applied_at FROM schema_migrations")
    assert await migrate(conn) == []
    after = await conn.fetch("SELECT version, checksum, applied_at FROM schema_migrations")
    assert [tuple(r) for r in after] == [tuple(r) for r in before]


async def test_a_ledger_from_before_checksums_gets_them_on_the_next_run(
    conn: asyncpg.Connection,
) -> None:
    await migrate(conn)
    await conn.execute("ALTER TABLE schema_migrations DROP COLUMN checksum")
    assert await migrate(conn) == []
    assert await ledger(conn) == file_checksums()


async def test_a_changed_applied_migration_is_refused_and_nothing_is_applied(
    conn: asyncpg.Connection,
) -> None:
    await migrate(conn)
    # What the database holds was applied from another text than the file has now;
    # the last migration is left pending to show that nothing else runs either.
    await conn.execute(
        "UPDATE schema_migrations SET checksum = $1 WHERE version = '0002_sessions'", "0" * 64
    )
    last = migrations()[-1][0]
    await conn.execute("DELETE FROM schema_migrations WHERE version = $1", last)
    with pytest.raises(MigrationChanged, match=r"0002_sessions\.sql"):
        await migrate(conn)
    assert last not in await ledger(conn)


async def test_the_command_refuses_a_changed_migration_with_a_clear_message(
    database: str, conn: asyncpg.Connection
) -> None:
    assert run_migrate(database).returncode == 0
    await conn.execute(
        "UPDATE schema_migrations SET checksum = $1 WHERE version = '0001_webinars'", "0" * 64
    )
    refused = run_migrate(database)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        "watchtime-migrate: applied migrations changed since they were applied: "
        "0001_webinars.sql; restore them and put the change in a new migration"
    )
