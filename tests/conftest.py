"""Real servers for the whole run (embedded Redis and PostgreSQL), clean state per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from uuid import UUID, uuid4

import anyio
import asyncpg
import pytest
from redis import Redis as SyncRedis
from starlette.testclient import TestClient
from support import truncate

from gateway.app import create_app
from watchtime import keys
from watchtime.batching import ScriptBatcher
from watchtime.client import RedisClient, redis_client
from watchtime.embedded import PostgresServer, RedisClusterServer, RedisServer, started
from watchtime.migrate import migrate_url
from watchtime.scripts import Scripts
from watchtime.sessions import Direct, SessionStore
from watchtime.settings import Settings

# Chromium and the gateway process for the browser tests.
pytest_plugins = ["browsers"]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def redis_server(servers_dir: Path) -> Iterator[RedisServer]:
    server = RedisServer(servers_dir / "redis")
    with started([server]):
        yield server


@pytest.fixture(scope="session")
def postgres_server(servers_dir: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(servers_dir / "postgres")
    with started([server]):
        anyio.run(migrate_url, server.url)
        yield server


@pytest.fixture(scope="session")
def redis_cluster(servers_dir: Path) -> Iterator[RedisClusterServer]:
    cluster = RedisClusterServer(servers_dir / "cluster")
    with started([cluster]):
        yield cluster


@pytest.fixture(params=["standalone"])
def topology(request: pytest.FixtureRequest) -> str:
    """Redis as one server; ``both_topologies`` runs a module on a cluster as well."""
    return str(request.param)


@pytest.fixture
def settings(
    topology: str,
    request: pytest.FixtureRequest,
    redis_server: RedisServer,
    postgres_server: PostgresServer,
) -> Settings:
    """The defaults of docs/operations.md (interval 120 s, cap 360 s) against the test servers."""
    cluster = topology == "cluster"
    redis_url = request.getfixturevalue("redis_cluster").url if cluster else redis_server.url
    return Settings(
        redis_url=redis_url,
        redis_cluster=cluster,
        database_url=postgres_server.url,
        admin_token="test-admin-token",
        viewer_token_secret="test-viewer-secret",
    )


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[RedisClient]:
    client = redis_client(settings)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
async def pg(postgres_server: PostgresServer) -> AsyncIterator[asyncpg.Connection]:
    await truncate(postgres_server.url)
    conn = await asyncpg.connect(postgres_server.url)
    yield conn
    await conn.close()


@pytest.fixture(params=["direct", "batched"])
async def store(
    redis: RedisClient, settings: Settings, request: pytest.FixtureRequest
) -> SessionStore:
    """The session scripts called one by one, and coalesced as the gateway calls them."""
    batched = request.param == "batched"
    scripts = Scripts(redis)
    run = ScriptBatcher(redis, settings.redis_timeout_seconds) if batched else Direct(scripts)
    return SessionStore(scripts, settings, run)


@pytest.fixture
async def webinar(redis: RedisClient) -> UUID:
    """A webinar known to Redis and to its registry, as the admin API leaves it."""
    webinar_id = uuid4()
    await redis.hset(keys.meta(webinar_id), mapping={"start": 0})
    await redis.zadd(keys.REGISTRY, {str(webinar_id): "+inf"})
    return webinar_id


@pytest.fixture
def sync_redis(settings: Settings) -> Iterator[SyncRedis]:
    client = SyncRedis.from_url(settings.redis_url or "")
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def clean_pg(postgres_server: PostgresServer) -> None:
    anyio.run(truncate, postgres_server.url)


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    """Override in a test module to serve the app with other settings."""
    return settings


@pytest.fixture
def client(app_settings: Settings, sync_redis: SyncRedis, clean_pg: None) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings)) as test_client:
        yield test_client


@pytest.fixture
def s0(sync_redis: SyncRedis) -> int:
    """A content start for seeded sessions: an hour ago on the Redis clock, on a whole
    second, in ms."""
    seconds, _ = sync_redis.time()
    return (int(seconds) - 3600) * 1000


@pytest.fixture
async def pg_pool(postgres_server: PostgresServer) -> AsyncIterator[asyncpg.Pool]:
    await truncate(postgres_server.url)
    pool = await asyncpg.create_pool(postgres_server.url, min_size=0, max_size=4)
    yield pool
    await pool.close()
