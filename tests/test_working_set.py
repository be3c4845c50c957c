"""R-EXT-1: background work follows live work. A webinar with nothing open, owed or present
leaves the working set of flusher and sweeper; its next change puts it back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest
from redis.asyncio import Redis, RedisCluster
from support import both_topologies
from test_flusher import at, rows

from flusher.flusher import Flusher
from sweeper.jobs import jobs
from sweeper.stale import StaleSessions
from watchtime import keys, webinars
from watchtime.backends import Backends
from watchtime.scripts import Scripts
from watchtime.sessions import Direct, Outcome, SessionStore

pytestmark = [pytest.mark.anyio, both_topologies]

STALE = 300  # s, the default stale limit


@pytest.fixture
def backends(redis: Redis, pg_pool: asyncpg.Pool, store: SessionStore) -> Backends:
    return Backends(redis, pg_pool, store)


async def in_working_set(redis: Redis, webinar: UUID) -> bool:
    return await redis.zscore(keys.REGISTRY, str(webinar)) is not None


async def test_a_webinar_with_nothing_to_do_rests_and_a_change_wakes_it(
    store, backends, redis, pg, settings, webinar
):
    flusher = Flusher(backends, settings)
    await flusher.cycle(now_ms=at(0))
    assert not await in_working_set(redis, webinar)
    assert await redis.hget(keys.meta(webinar), "dormant") == b"1"

    assert await store.track(webinar, "s1", "", now_ms=at(1)) == Outcome("created", dormant=True)
    assert await in_working_set(redis, webinar)
    assert await redis.hget(keys.meta(webinar), "dormant") is None
    await flusher.cycle(now_ms=at(2))
    assert list(await rows(pg)) == ["s1"]
    assert await store.ping(webinar, "s1", "", "r1", now_ms=at(3)) == Outcome("ok", 2000, 2000)


async def test_open_sessions_and_presence_keep_a_webinar_working(
    store, backends, redis, settings, webinar
):
    flusher = Flusher(backends, settings)
    await store.track(webinar, "s1", "", now_ms=at(0))
    await flusher.cycle(now_ms=at(1))  # written, still open
    assert await store.rest(webinar, now_ms=at(1)) is False
    assert await in_working_set(redis, webinar)
    await store.exit(webinar, "s1", "", now_ms=at(2))
    await store.presence(webinar, str(uuid4()), now_ms=at(2))  # a legacy viewer
    await flusher.cycle(now_ms=at(3))  # the closed session written and retired
    assert await in_working_set(redis, webinar)
    assert await redis.hget(keys.meta(webinar), "dormant") is None
    await flusher.cycle(now_ms=at(2 + STALE + 1))  # the legacy viewer went stale
    assert not await in_working_set(redis, webinar)


async def test_a_lost_wake_is_repeated_by_the_next_change(
    store, backends, redis, settings, webinar
):
    await Flusher(backends, settings).cycle(now_ms=at(0))  # rests
    # A gateway that dies between the script and the wake: the script ran, the wake did not.
    bare = SessionStore(store.scripts, settings, Direct(store.scripts))
    bare.wake = _no_wake  # type: ignore[method-assign]
    assert (await bare.track(webinar, "s1", "", now_ms=at(1))).dormant is True
    assert not await in_working_set(redis, webinar)
    # A ping of an open session does not read the mark (its webinar is working unless
    # this happened); the next creation does.
    assert (await store.ping(webinar, "s1", "", "r1", now_ms=at(5))).dormant is False
    assert not await in_working_set(redis, webinar)
    assert (await store.track(webinar, "s2", "", now_ms=at(6))).dormant is True
    assert await in_working_set(redis, webinar)


async def _no_wake(webinar_id: UUID) -> None:
    return None


async def test_a_flusher_lost_while_resting_a_webinar_with_work_leaves_it_marked(
    store, redis, settings, webinar
):
    """The script found a session opened since the survey; the flusher died before it put
    the webinar back: the mark makes the session's exit do it."""
    await store.track(webinar, "s1", "", now_ms=at(0))
    dying = SessionStore(store.scripts, settings, Direct(store.scripts))
    dying.wake = _no_wake  # type: ignore[method-assign]
    assert await dying.rest(webinar, now_ms=at(1)) is False
    assert not await in_working_set(redis, webinar)
    assert await store.exit(webinar, "s1", "", now_ms=at(2)) == Outcome(
        "ok", 2000, 2000, dormant=True
    )
    assert await in_working_set(redis, webinar)
    assert await redis.hget(keys.meta(webinar), "dormant") is None


async def test_the_sweeper_puts_back_a_webinar_with_work_left_out(
    store, backends, redis, pg_pool, settings
):
    """A flusher that died between taking a webinar out and the script (nothing there when
    it surveyed, a session opened since) leaves it unmarked, as a lost wake leaves it to
    pings: the sweep puts it back, and leaves a resting webinar with nothing to do."""
    schedule = webinars.Schedule(webinar_start_time=datetime.now(UTC))
    stranded, resting = [await webinars.save(pg_pool, uuid4(), schedule) for _ in range(2)]
    for webinar in (stranded, resting):
        await webinars.mirror(redis, webinar)
    await store.track(stranded.id, "s1", "", now_ms=at(0))
    await redis.zrem(keys.REGISTRY, str(stranded.id))  # the flusher died here
    assert await store.rest(resting.id, now_ms=at(0)) is True
    await StaleSessions(backends, settings).sweep()
    assert await in_working_set(redis, stranded.id)
    assert not await in_working_set(redis, resting.id)


async def test_the_idle_service_sends_redis_at_most_200_commands_per_second(
    redis, pg_pool, pg, settings
):
    """20,000 finished webinars (ended an hour ago: the sweeper still re-checks their
    schedules), nothing live. Counts the commands each background job sends in one run and
    adds them up at the default intervals."""
    ended = datetime.now(UTC) - timedelta(hours=1)
    await pg.execute(
        """INSERT INTO webinars (id, title, webinar_start_time, webinar_scheduled_end_time)
           SELECT gen_random_uuid(), 'past', $1, $2 FROM generate_series(1, 20000)""",
        ended - timedelta(hours=1),
        ended,
    )
    backends = Backends(redis, pg_pool, SessionStore(Scripts(redis), settings))
    async with redis.pipeline(transaction=False) as pipe:  # as PUT would, in bulk
        for webinar in await webinars.still_open(pg_pool):
            pipe.hset(keys.meta(webinar.id), mapping={"start": 0, "scheduled_end": 0})
            pipe.zadd(keys.REGISTRY, {str(webinar.id): 0})
        await pipe.execute()
    flusher = Flusher(backends, settings)
    await flusher.cycle()  # each finished webinar rests, once
    assert await redis.zcard(keys.REGISTRY) == 0

    scheduled = [("flusher", settings.flush_interval_seconds, flusher.cycle)]
    scheduled += jobs(backends, settings)
    per_second = sum([await commands(redis, job) / every for _, every, job in scheduled])
    print(f"idle service: {per_second:.1f} Redis commands/s")  # BENCHMARKS.md quotes it
    assert per_second <= 200
    assert await commands(redis, flusher.cycle) <= 2  # the working set, and nothing in it


async def commands(redis: Redis | RedisCluster, job) -> int:  # type: ignore[no-untyped-def]
    """Commands Redis processed (every node) while ``job`` ran, less this count's own."""
    before = await _processed(redis)
    await job()
    return await _processed(redis) - before - _own(redis)


async def _processed(redis: Redis | RedisCluster) -> int:
    if isinstance(redis, RedisCluster):
        nodes = await redis.info("stats", target_nodes=RedisCluster.PRIMARIES)
        return sum(int(info["total_commands_processed"]) for info in nodes.values())
    return int((await redis.info("stats"))["total_commands_processed"])


def _own(redis: Redis | RedisCluster) -> int:
    """One INFO per node."""
    return len(redis.get_primaries()) if isinstance(redis, RedisCluster) else 1
