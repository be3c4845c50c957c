"""Real servers for the whole run (embedded Redis and PostgreSQL), clean state per test."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from watchtime.connections import redis_client
from watchtime.embedded import PostgresServer, RedisServer
from watchtime.migrate import migrate_url
from watchtime.scripts import Scripts
from watchtime.sessions import SessionStore
from watchtime.settings import Settings

TABLES = ("webinars",)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def redis_server(servers_dir: Path) -> Iterator[RedisServer]:
    server = RedisServer(servers_dir / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server(servers_dir: Path) -> Iterator[PostgresServer]:
    import anyio

    server = PostgresServer(servers_dir / "postgres")
    server.start()
    anyio.run(migrate_url, server.url)
    yield server
    server.stop()


@pytest.fixture
def settings(redis_server: RedisServer, postgres_server: PostgresServer) -> Settings:
    """SPEC defaults (interval 120 s, cap 360 s) against the test servers."""
    return Settings(
        redis_url=redis_server.url,
        database_url=postgres_server.url,
        admin_token="test-admin-token",
        viewer_token_secret="test-viewer-secret",
    )


def with_settings(settings: Settings, **changes: object) -> Settings:
    return dataclasses.replace(settings, **changes)


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = redis_client(settings)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
async def pg(postgres_server: PostgresServer) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(postgres_server.url)
    await conn.execute(f"TRUNCATE {', '.join(TABLES)}")
    yield conn
    await conn.close()


@pytest.fixture
async def store(redis: Redis, settings: Settings) -> SessionStore:
    return SessionStore(Scripts(redis), settings)
