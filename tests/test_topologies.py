"""The same scenario on one Redis server and on a 3-primary Redis Cluster gives the same report."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from uuid import UUID

import msgspec
import pytest
from support import T0, truncate

from flusher.flusher import Flusher
from gateway import report_queries
from sweeper.stale import StaleSessions
from watchtime import webinars
from watchtime.backends import backends
from watchtime.embedded import PostgresServer, RedisClusterServer, RedisServer
from watchtime.sessions import SessionStore
from watchtime.settings import Settings

pytestmark = pytest.mark.anyio

WEBINARS = [UUID(int=i + 1) for i in range(3)]  # several, so a cluster spreads them


async def audience(store: SessionStore, webinar: UUID, rng: random.Random) -> None:
    """Thirty people over an hour: tabs, flips, sleeps past the cap, exits and abandons."""
    for person in range(30):
        user = str(UUID(int=1000 + person)) if person % 3 else ""
        for tab in range(1 + person % 2):
            session_id = f"p{person}-t{tab}"
            t = T0 + rng.randrange(-60_000, 600_000)
            await store.track(webinar, session_id, user, visible=rng.random() < 0.8, now_ms=t)
            for step in range(rng.randrange(3, 30)):
                t += rng.choice([1_000, 30_000, 120_000, 500_000])
                await store.ping(
                    webinar,
                    session_id,
                    user,
                    f"r{step}",
                    visible=rng.random() < 0.7,
                    active=rng.random() < 0.6,
                    now_ms=t,
                )
            if rng.random() < 0.6:
                await store.exit(webinar, session_id, user, now_ms=t + rng.randrange(0, 90_000))


async def reports(settings: Settings, database_url: str) -> list[object]:
    await truncate(database_url)
    async with backends(settings, pg_max_size=2, batched=True) as b:
        await b.redis.flushall()
        window = report_queries.Window(T0, T0 + 3_600_000, T0 + 3_600_000, T0 + 86_400_000)
        pages = []
        for webinar in WEBINARS:
            schedule = webinars.Schedule(webinar_start_time=datetime.fromtimestamp(T0 / 1000, UTC))
            await webinars.mirror(b.redis, await webinars.save(b.pg, webinar, schedule))
            await audience(b.store, webinar, random.Random(str(webinar)))
            await StaleSessions(b, settings).sweep_webinar(webinar, T0 + 86_400_000)
            while await Flusher(b, settings).cycle():
                pass
            page = await report_queries.watch_time(
                b.pg, webinar, settings.stale_after_ms, 1000, report_queries.Cursor(window, "")
            )
            pages.append(msgspec.to_builtins(page))
        return pages


async def test_the_same_scenario_gives_the_same_report(
    redis_server: RedisServer, redis_cluster: RedisClusterServer, postgres_server: PostgresServer
):
    pg = postgres_server.url
    standalone = await reports(Settings(redis_url=redis_server.url, database_url=pg), pg)
    cluster = await reports(
        Settings(redis_url=redis_cluster.url, redis_cluster=True, database_url=pg), pg
    )
    assert standalone == cluster
    people = [len(page["viewers"]) for page in standalone]  # type: ignore[index]
    assert people == [35, 35, 35]  # 20 signed-in people, 15 guest tabs
    assert all(page["summary"]["avg_watched_seconds"] > 0 for page in standalone)  # type: ignore[index]
    for page in standalone:
        people = page["viewers"]  # type: ignore[index]
        assert all(p["active_seconds"] <= p["watched_seconds"] for p in people)
        assert sum(p["active_seconds"] for p in people) < sum(p["watched_seconds"] for p in people)
