"""The gateway's coalesced script calls: one round trip per loop turn, replies kept apart."""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID, uuid4

import pytest
from redis.asyncio import Redis, RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import ExecAbortError, ResponseError
from support import T0, both_topologies, gateway_store, known_webinar, observed, with_settings

from watchtime import keys
from watchtime.backends import backends
from watchtime.batching import ScriptBatcher
from watchtime.client import RedisClient
from watchtime.embedded import free_port
from watchtime.metrics import REDIS_BATCH_CALLS, REDIS_NOSCRIPT
from watchtime.scripts import Scripts
from watchtime.sessions import Direct, Outcome, SessionStore
from watchtime.settings import Settings

pytestmark = pytest.mark.anyio

TIMEOUT = Settings().redis_timeout_seconds


@pytest.fixture
async def webinar(redis: Redis) -> UUID:
    return await known_webinar(redis)


@pytest.fixture
def batcher(redis: Redis) -> ScriptBatcher:
    return ScriptBatcher(redis, TIMEOUT)


def batches() -> tuple[float, float]:
    """(round trips, calls) observed so far by the batch histogram."""
    return observed(REDIS_BATCH_CALLS)


async def test_calls_of_one_loop_turn_share_one_round_trip(
    redis, batcher, settings: Settings, webinar
):
    store = SessionStore(Scripts(redis), settings, batcher)
    await store.track(webinar, "first", "", now_ms=T0)  # connected, scripts loaded
    trips, calls = batches()
    outcomes = await asyncio.gather(
        *(store.track(webinar, f"s{i}", "", now_ms=T0) for i in range(50))
    )
    assert outcomes == [Outcome("created")] * 50
    assert batches() == (trips + 1, calls + 50)
    assert await redis.zcard(keys.guests(webinar)) == 51


async def test_batches_are_bounded(redis, settings: Settings, webinar):
    store = SessionStore(Scripts(redis), settings, ScriptBatcher(redis, TIMEOUT, max_batch=16))
    await store.track(webinar, "first", "", now_ms=T0)
    trips, calls = batches()
    await asyncio.gather(*(store.track(webinar, f"s{i}", "", now_ms=T0) for i in range(40)))
    assert batches() == (trips + 3, calls + 40)


async def test_an_error_reaches_only_its_caller(redis, batcher, webinar):
    scripts = Scripts(redis)
    good = ["", "s1", "", "1", "1", "{}"]
    bad_exit = [str(T0), "s1", "", "not-a-number", 256]
    created, failed, again = await asyncio.gather(
        batcher(scripts.track, keys.session_keys(webinar, "s1"), good),
        batcher(scripts.exit, keys.session_keys(webinar, "s1"), bad_exit),
        batcher(scripts.track, keys.session_keys(webinar, "s2"), good),
        return_exceptions=True,
    )
    assert created == again == [b"created", 0, 0, 0, 0]
    assert isinstance(failed, ResponseError)


async def test_a_redis_that_lost_its_scripts_is_reloaded(redis, store, webinar):
    """Batched (the gateway) and direct (flusher, sweeper) alike, and counted."""
    await store.track(webinar, "s1", "", now_ms=T0)
    await redis.script_flush()
    reloaded = REDIS_NOSCRIPT._value.get()
    assert await store.ping(webinar, "s1", "", "r1", now_ms=T0 + 5000) == Outcome("ok", 5000, 5000)
    assert REDIS_NOSCRIPT._value.get() == reloaded + 1


async def test_a_lost_connection_is_retried(redis, batcher, settings, webinar):
    store = SessionStore(Scripts(redis), settings, batcher)
    await store.track(webinar, "s1", "", now_ms=T0)
    await redis.client_kill_filter(_type="normal", skipme=True)  # the batcher's pooled connection
    await redis.client_kill_filter(_type="normal", skipme=False)
    assert await store.ping(webinar, "s1", "", "r1", now_ms=T0 + 5000) == Outcome("ok", 5000, 5000)


@both_topologies
async def test_one_batch_across_webinars_gets_each_reply_right(redis, settings):
    """On a cluster the webinars' slots live on different primaries: one write per node."""
    store = await gateway_store(redis, settings)
    webinars = [await known_webinar(redis) for _ in range(12)]
    await asyncio.gather(*(store.track(w, "s", "", now_ms=T0) for w in webinars))
    pings = await asyncio.gather(
        *(store.ping(w, "s", "", "r", now_ms=T0 + 1000 * (i + 1)) for i, w in enumerate(webinars))
    )
    assert pings == [Outcome("ok", 1000 * (i + 1), 1000 * (i + 1)) for i in range(12)]


def on_every_node(redis: RedisClient) -> list[UUID]:
    """Webinars whose keys live on every primary of a cluster (two on one server)."""
    if not isinstance(redis, RedisCluster):
        return [uuid4(), uuid4()]
    by_node: dict[str, UUID] = {}
    while len(by_node) < len(redis.get_primaries()):
        webinar = uuid4()
        node = redis.get_node_from_key(keys.meta(webinar))
        assert node is not None
        by_node.setdefault(node.name, webinar)
    return list(by_node.values())


@both_topologies
async def test_one_reload_serves_every_node(redis, settings):
    """Every primary forgot the scripts: the first call to meet NOSCRIPT loads them on all
    of them, so the calls that follow need none, whichever node they go to."""
    store = await gateway_store(redis, settings)
    webinars = on_every_node(redis)
    for w in webinars:
        await redis.hset(keys.meta(w), mapping={"start": T0})
    await redis.script_flush()  # every primary forgets
    reloaded = REDIS_NOSCRIPT._value.get()
    assert [await store.track(w, "s", "", now_ms=T0) for w in webinars] == [
        Outcome("created")
    ] * len(webinars)
    assert REDIS_NOSCRIPT._value.get() == reloaded + 1


@pytest.mark.parametrize("topology", ["cluster"], indirect=True)
async def test_a_call_routed_by_a_stale_slot_map_follows_moved(redis, settings):
    """The slot map as a client holds it when a failover or a resharding has just moved
    the webinar's slot: the node answers MOVED, the map is read again, the call lands."""
    store, webinar = await gateway_store(redis, settings), await known_webinar(redis)
    slot = redis.keyslot(keys.meta(webinar))
    owner = redis.nodes_manager.slots_cache[slot][0]
    elsewhere = next(node for node in redis.get_primaries() if node.name != owner.name)
    redis.nodes_manager.slots_cache[slot] = [elsewhere]
    assert await store.track(webinar, "s", "", now_ms=T0) == Outcome("created")
    assert redis.nodes_manager.slots_cache[slot][0].name == owner.name
    assert await redis.hget(keys.session(webinar, "s"), "entered_at") == str(T0).encode()


@both_topologies
async def test_a_transaction_runs_on_its_webinars_node_and_answers_each_command(redis, settings):
    """MULTI … EXEC through the batcher's pipe, and the same commands as one script for a
    client that sends no MULTI to a cluster: the same replies, as Redis sends them."""
    batcher, direct = ScriptBatcher(redis, TIMEOUT), Direct(Scripts(redis))
    for webinar in on_every_node(redis):
        hash_key, absent = keys.session(webinar, "s"), keys.intervals(webinar, "s")
        for transport in (batcher, direct):
            await redis.delete(hash_key)
            replies = await transport.transaction(
                [("HSET", hash_key, "a", "1", "b", "2"), ("HGETALL", hash_key), ("GET", absent)]
            )
            assert replies == [2, [b"a", b"1", b"b", b"2"], None]
    await batcher.aclose()


async def test_a_transaction_with_a_command_redis_refuses_fails_whole(redis, webinar):
    """Redis refuses to queue a command of the wrong arity and discards the transaction:
    nothing of it runs, and the caller gets the error, not a list with a gap."""
    batcher = ScriptBatcher(redis, TIMEOUT)
    written = keys.session(webinar, "s")
    with pytest.raises(ExecAbortError):
        await batcher.transaction([("HSET", written, "a", "1"), ("GET", written, "extra")])
    assert await redis.exists(written) == 0
    await batcher.aclose()


@both_topologies
async def test_a_process_starts_with_its_scripts_loaded_and_connected(redis, settings):
    """The first requests after a start meet neither NOSCRIPT nor a connection to open."""
    await redis.script_flush()
    async with backends(settings, pg_max_size=1, batched=True) as b:
        scripts = [s for s in vars(b.store.scripts).values() if isinstance(s, AsyncScript)]
        assert len(scripts) == 11
        assert await redis.script_exists(*(s.sha for s in scripts)) == [True] * 11
        batcher = b.store.run
        assert isinstance(batcher, ScriptBatcher)
        assert sorted(batcher.pipes) == sorted(batcher.routes.primaries())
        assert len(batcher.pipes) == (3 if settings.redis_cluster else 1)
        assert not any(pipe.lost for pipe in batcher.pipes.values())


async def test_a_process_starts_while_redis_is_away(
    settings: Settings, caplog: pytest.LogCaptureFixture
):
    away = with_settings(settings, redis_url=f"redis://127.0.0.1:{free_port()}")
    with caplog.at_level(logging.WARNING, "watchtime.backends"):
        async with backends(away, pg_max_size=1, batched=True) as b:
            assert isinstance(b.store.run, ScriptBatcher) and b.store.run.pipes == {}
    [warning] = caplog.records
    assert warning.getMessage().startswith("Redis not ready at start (connecting on first use):")
