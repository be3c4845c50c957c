"""R-SEM-5 and R-PG-5: stale sessions closed at their last heartbeat, snapshots, retention."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest
from redis.asyncio import Redis
from support import both_topologies
from test_flusher import at, hot, ms, rows

from flusher.flusher import Flusher
from sweeper import retention, stale
from sweeper.retention import Retention
from sweeper.snapshots import Snapshots
from sweeper.stale import StaleSessions
from watchtime import clock, keys, webinars
from watchtime.backends import Backends
from watchtime.sessions import Outcome, SessionStore
from watchtime.settings import Settings

pytestmark = [pytest.mark.anyio, both_topologies]

STALE = 300  # s, the default stale limit


@pytest.fixture
def backends(redis: Redis, pg_pool: asyncpg.Pool, store: SessionStore) -> Backends:
    return Backends(redis, pg_pool, store)


@pytest.fixture
def sweeper(backends: Backends, settings: Settings) -> StaleSessions:
    return StaleSessions(backends, settings)


async def test_a_stale_session_closes_at_its_last_heartbeat(
    store, sweeper, redis, pg_pool, pg, settings, webinar
):
    await store.track(webinar, "s1", "", now_ms=at(0))
    await store.ping(webinar, "s1", "", "r1", now_ms=at(100))
    assert (
        await sweeper.sweep_webinar(webinar, now_ms=at(100 + STALE)) == 0
    )  # not older than the limit
    assert await sweeper.sweep_webinar(webinar, now_ms=at(100 + STALE + 1)) == 1
    s = await hot(redis, webinar, "s1")
    assert (s["closed_reason"], s["exited_at"], s["watched_ms"]) == (
        "timeout",
        str(at(100)),
        "100000",
    )
    assert await redis.zcard(keys.guests(webinar)) == 0
    assert await redis.zcard(keys.presence(webinar)) == 0
    assert await store.ping(webinar, "s1", "", "r2", now_ms=at(1000)) == Outcome("closed")

    await Flusher(Backends(redis, pg_pool, store), settings).cycle()
    r = (await rows(pg))["s1"]
    assert (r["closed_reason"], ms(r["exited_at"]), float(r["duration_seconds"])) == (
        "timeout",
        at(100),
        100.0,
    )


async def test_the_sweep_job_finds_webinars_through_the_registry(store, sweeper, redis, webinar):
    await store.track(webinar, "old", "")  # Redis TIME: now
    yesterday = await clock.server_ms(redis) - 24 * 3600 * 1000
    await store.track(webinar, "older", "", now_ms=yesterday)
    assert await sweeper.sweep() is False
    assert (await hot(redis, webinar, "older"))["closed_reason"] == "timeout"
    assert "closed_reason" not in await hot(redis, webinar, "old")


async def test_sweeping_in_batches_closes_them_all(store, sweeper, redis, webinar, monkeypatch):
    monkeypatch.setattr(stale, "SWEEP_BATCH_SIZE", 7)
    for i in range(30):
        await store.track(webinar, f"s{i}", "", now_ms=at(i))
    assert await sweeper.sweep_webinar(webinar, now_ms=at(29 + STALE + 1)) == 30
    assert await redis.zcard(keys.guests(webinar)) == 0


async def test_guests_and_signed_in_viewers_are_swept_alike_in_batches(
    store, sweeper, redis, webinar, monkeypatch
):
    """Their sessions live in two sets: a batch takes the stalest of both."""
    monkeypatch.setattr(stale, "SWEEP_BATCH_SIZE", 3)
    user = str(uuid4())
    for i in range(4):
        await store.track(webinar, f"g{i}", "", now_ms=at(2 * i))
        await store.track(webinar, f"u{i}", user, now_ms=at(2 * i + 1))
    assert await sweeper.sweep_webinar(webinar, now_ms=at(5 + STALE)) == 5  # before at(5)
    assert await redis.zrange(keys.active(webinar), 0, -1) == [b"u2", b"u3"]
    assert await redis.zrange(keys.guests(webinar), 0, -1) == [b"g3"]


async def test_a_ping_racing_the_sweeper_is_never_lost_nor_double_counted(
    store, redis, pg_pool, settings, webinar
):
    """Each round: a session last heard of at 0 is pinged and swept at the same server
    instant (301 s, stale). Either the ping lands first (credited 301 s, open) or the
    sweep does (closed at 0 with reason timeout, the ping refused) — never both."""
    rng = random.Random(5)
    sweepers = [StaleSessions(Backends(redis, pg_pool, store), settings) for _ in range(2)]
    outcomes = {"ping": 0, "sweep": 0}
    for round_ in range(150):
        session_id = f"race-{round_}"
        await store.track(webinar, session_id, "", now_ms=at(0))

        async def ping(session_id: str = session_id) -> Outcome:
            await asyncio.sleep(rng.random() / 1000)
            return await store.ping(webinar, session_id, "", "r", now_ms=at(STALE + 1))

        async def sweep(sweeper: StaleSessions) -> int:
            await asyncio.sleep(rng.random() / 1000)
            return await sweeper.sweep_webinar(webinar, now_ms=at(STALE + 1))

        pinged, *closed = await asyncio.gather(ping(), *(sweep(s) for s in sweepers))
        s = await hot(redis, webinar, session_id)
        if pinged.status == "ok":
            outcomes["ping"] += 1
            assert sum(closed) == 0 and "closed_reason" not in s
            assert pinged == Outcome("ok", (STALE + 1) * 1000, (STALE + 1) * 1000)
            assert s["watched_ms"] == str((STALE + 1) * 1000)
            await store.exit(webinar, session_id, "", now_ms=at(STALE + 1))  # out of the next round
        else:
            outcomes["sweep"] += 1
            assert pinged == Outcome("closed") and sum(closed) == 1
            assert (s["closed_reason"], s["exited_at"], s["watched_ms"]) == (
                "timeout",
                str(at(0)),
                "0",
            )
            assert s["version"] == "2"  # created, closed once
    assert outcomes["ping"] > 0 and outcomes["sweep"] > 0, outcomes


async def test_two_sweepers_close_each_session_once(store, redis, pg_pool, settings, webinar):
    for i in range(200):
        await store.track(webinar, f"s{i}", "", now_ms=at(i))
    a, b = (StaleSessions(Backends(redis, pg_pool, store), settings) for _ in range(2))
    now = at(199 + STALE + 1)
    closed = await asyncio.gather(a.sweep_webinar(webinar, now), b.sweep_webinar(webinar, now))
    assert sum(closed) == 200
    versions = [(await hot(redis, webinar, f"s{i}"))["version"] for i in range(200)]
    assert set(versions) == {"2"}


async def test_snapshots_one_row_per_webinar_per_minute(store, backends, redis, pg, webinar):
    quiet = uuid4()
    await redis.hset(keys.meta(quiet), mapping={"start": at(0)})
    await redis.zadd(keys.REGISTRY, {str(quiet): "+inf"})
    user = str(uuid4())
    await store.track(webinar, "a", user)
    await store.track(webinar, "b", user)
    await store.track(webinar, "c", "")
    snapshots = Snapshots(backends)
    await snapshots.take()
    await snapshots.take()  # the same minute: no second row
    snapshots = await pg.fetch("SELECT * FROM webinar_viewer_snapshots")
    assert [(r["webinar_id"], r["viewers"], r["active_sessions"]) for r in snapshots] == [
        (webinar, 2, 3)
    ]
    assert snapshots[0]["bucket_at"].second == 0


async def test_retention_deletes_old_rows_in_batches(backends, settings, pg, monkeypatch):
    monkeypatch.setattr(retention, "RETENTION_BATCH_SIZE", 4)
    now = datetime.now(UTC)
    webinar_id = uuid4()
    for i, age in enumerate([91, 95, 120, 200, 92, 300, 400, 89, 10, 0]):
        entered = now - timedelta(days=age)
        await pg.execute(
            """INSERT INTO webinar_user_sessions (webinar_id, session_id, entered_at,
               last_heartbeat_at, is_visible, is_active, version)
               VALUES ($1, $2, $3, $3, true, true, 1)""",
            webinar_id,
            f"s{i}",
            entered,
        )
        await pg.execute(
            "INSERT INTO webinar_viewer_snapshots VALUES ($1, $2, 1, 1)", webinar_id, entered
        )
    await Retention(backends, settings).apply()
    kept = await pg.fetch("SELECT session_id FROM webinar_user_sessions ORDER BY session_id")
    assert [r["session_id"] for r in kept] == ["s7", "s8", "s9"]
    assert await pg.fetchval("SELECT count(*) FROM webinar_viewer_snapshots") == 3


async def test_the_sweep_remirrors_lost_schedules(sweeper, redis, pg_pool, pg):
    schedule = webinars.Schedule(webinar_start_time=datetime.now(UTC))
    live = await webinars.save(pg_pool, uuid4(), schedule)
    finished = await webinars.save(
        pg_pool,
        uuid4(),
        webinars.Schedule(
            webinar_start_time=datetime(2020, 1, 1, tzinfo=UTC),
            webinar_scheduled_end_time=datetime(2020, 1, 1, 1, tzinfo=UTC),
        ),
    )
    await sweeper.sweep()
    assert (
        await redis.hget(keys.meta(live.id), "start") == str(ms(live.webinar_start_time)).encode()
    )
    assert await redis.exists(keys.meta(finished.id)) == 0


async def test_retention_drops_whole_months_and_keeps_months_ahead(backends, settings, pg):
    await pg.execute("SELECT watchtime_ensure_month('2020-01-15')")
    for day in (1, 15, 31):
        await pg.execute(
            """INSERT INTO webinar_user_sessions (webinar_id, session_id, entered_at,
               last_heartbeat_at, is_visible, is_active, version)
               VALUES ($1, $2, $3, $3, true, true, 1)""",
            uuid4(),
            f"old-{day}",
            datetime(2020, 1, day, tzinfo=UTC),
        )
    await Retention(backends, settings).apply()
    months = {
        r["relname"]
        for r in await pg.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'webinar_user_sessions'::regclass"
        )
    }
    assert "webinar_user_sessions_y2020m01" not in months
    now = datetime.now(UTC)
    for ahead in range(4):
        month = now.year * 12 + now.month - 1 + ahead
        assert f"webinar_user_sessions_y{month // 12}m{month % 12 + 1:02d}" in months
    assert await pg.fetchval("SELECT count(*) FROM webinar_user_sessions") == 0


async def test_a_month_created_late_takes_its_rows_from_the_default_partition(
    store, redis, pg_pool, pg, settings, webinar
):
    await pg.execute("DROP TABLE IF EXISTS webinar_user_sessions_y2031m03")  # an earlier run's
    far = datetime(2031, 3, 5, tzinfo=UTC).timestamp() * 1000
    await store.track(webinar, "far", "", extras={"user_agent": "UA"}, now_ms=int(far))
    await Flusher(Backends(redis, pg_pool, store), settings).cycle()
    assert await pg.fetchval("SELECT tableoid::regclass::text FROM webinar_user_sessions") == (
        "webinar_user_sessions_default"
    )
    await pg.execute("SELECT watchtime_ensure_month('2031-03-01')")
    await store.exit(webinar, "far", "", now_ms=int(far) + 30_000)
    await Flusher(
        Backends(redis, pg_pool, store), settings
    ).cycle()  # the upsert finds the moved row
    rows = await pg.fetch("SELECT tableoid::regclass::text AS part, * FROM webinar_user_sessions")
    assert [(r["part"], r["closed_reason"], float(r["duration_seconds"])) for r in rows] == [
        ("webinar_user_sessions_y2031m03", "exit", 30.0)
    ]
    assert await pg.fetchval("SELECT user_agent FROM webinar_user_sessions") == "UA"  # moved
    room = "SELECT reloptions FROM pg_class WHERE relname = $1"  # half free: HOT updates
    assert await pg.fetchval(room, "webinar_user_sessions_y2031m03") == ["fillfactor=50"]
    assert await pg.fetchval(room, "webinar_user_sessions_default") == ["fillfactor=50"]
