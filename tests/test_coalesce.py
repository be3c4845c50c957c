"""Pings coalesced: the pings of one event-loop turn share one call of ping.lua, and
each gets its own answer, as if it had been a call of its own."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

import pytest
from support import T0, both_topologies, gateway_store, known_webinar, observed, with_settings

from watchtime import keys
from watchtime.batching import ScriptBatcher
from watchtime.client import redis_client
from watchtime.coalesce import MAX_PINGS
from watchtime.embedded import free_port
from watchtime.errors import BackendUnavailable
from watchtime.metrics import PINGS_PER_CALL, REDIS_BATCH_CALLS
from watchtime.scripts import Scripts
from watchtime.sessions import Outcome, SessionStore
from watchtime.settings import Settings

pytestmark = pytest.mark.anyio


def calls_and_pings() -> tuple[float, float]:
    """(ping script calls, pings in them) observed so far."""
    return observed(PINGS_PER_CALL)


async def opened(store: SessionStore, webinar: UUID, sessions: int) -> list[str]:
    """Sessions opened at T0 + i s, so that a ping at one time credits each differently."""
    ids = [f"s{i}" for i in range(sessions)]
    for i, session in enumerate(ids):
        await store.track(webinar, session, "", now_ms=T0 + 1000 * i)
    return ids


async def test_the_pings_of_one_turn_share_one_call(redis, settings: Settings):
    store, webinar = await gateway_store(redis, settings), await known_webinar(redis)
    sessions = await opened(store, webinar, 50)
    trips, calls = observed(REDIS_BATCH_CALLS)
    ping_calls, pings = calls_and_pings()
    now = T0 + 60_000
    outcomes = await asyncio.gather(
        *(store.ping(webinar, s, "", f"r{s}", now_ms=now) for s in sessions)
    )
    credits = [60_000 - 1000 * i for i in range(50)]
    assert outcomes == [Outcome("ok", c, c) for c in credits]
    # 50 pings: a call of MAX_PINGS and one of the rest, in one round trip.
    assert MAX_PINGS == 32 and observed(REDIS_BATCH_CALLS) == (trips + 1, calls + 2)
    assert calls_and_pings() == (ping_calls + 2, pings + 50)
    assert await redis.zscore(keys.guests(webinar), "s7") == now


async def test_a_ping_never_waits_for_another_call(redis, settings: Settings):
    """A ping of a later turn leaves at once, in a call of its own, while its webinar's
    previous call is still unanswered (tried: holding pings back until then made larger
    calls but no faster service, BENCHMARKS.md)."""
    store, webinar = await gateway_store(redis, settings), await known_webinar(redis)
    sessions = await opened(store, webinar, 3)
    ping_calls, pings = calls_and_pings()
    await redis.client_pause(300)  # every call stays unanswered meanwhile
    sent = []
    for session in sessions:  # one a turn
        sent.append(asyncio.ensure_future(store.ping(webinar, session, "", "r", now_ms=T0 + 5000)))
        for _ in range(3):
            await asyncio.sleep(0)
    assert calls_and_pings() == (ping_calls + 3, pings + 3)
    assert not any(ping.done() for ping in sent)
    assert await asyncio.gather(*sent) == [
        Outcome("ok", 5000 - 1000 * i, 5000 - 1000 * i) for i in range(3)
    ]


async def test_each_ping_of_a_call_gets_its_own_answer(redis, store: SessionStore):
    """Every outcome a ping can have, in one call, in order; only the taken ones change."""
    webinar, unknown = await known_webinar(redis), uuid4()
    for session in ("open", "limited", "closed", "users"):
        await store.track(webinar, session, "alice" if session == "users" else "", now_ms=T0)
    await store.exit(webinar, "closed", "", now_ms=T0 + 1000)
    await store.ping(webinar, "limited", "", "r0", now_ms=T0 + 9700)
    at = T0 + 10_000
    outcomes = await asyncio.gather(
        store.ping(webinar, "open", "", "r1", now_ms=at),
        store.ping(webinar, "limited", "", "r2", now_ms=at),
        store.ping(webinar, "new", "", "r3", now_ms=at),
        store.ping(webinar, "closed", "", "r4", now_ms=at),
        store.ping(webinar, "users", "bob", "r5", now_ms=at),
        store.ping(unknown, "x", "", "r6", now_ms=at),
        store.ping(webinar, "open", "", "r1", now_ms=at),  # the first one, resent
    )
    assert outcomes == [
        Outcome("ok", 10_000, 10_000),
        Outcome("rate_limited", wait_ms=store.min_interval_ms - 300),
        Outcome("created"),
        Outcome("closed"),
        Outcome("other_user"),
        Outcome("no_webinar"),
        Outcome("duplicate", 0, 10_000),
    ]
    assert await redis.zcard(keys.guests(webinar)) == 3  # open, limited, new
    assert await redis.zcard(keys.active(webinar)) == 1  # users
    assert not await redis.exists(keys.meta(unknown), keys.session(unknown, "x"))


async def test_a_failing_ping_fails_alone(redis, store: SessionStore):
    """A session whose key holds the wrong type fails its ping; the others of its call are
    taken, and its key is left as it was."""
    webinar = await known_webinar(redis)
    await opened(store, webinar, 2)
    await redis.set(keys.session(webinar, "broken"), "not a hash")
    at = T0 + 30_000
    first, broken, second = await asyncio.gather(
        store.ping(webinar, "s0", "", "r1", now_ms=at),
        store.ping(webinar, "broken", "", "r2", now_ms=at),
        store.ping(webinar, "s1", "", "r3", now_ms=at),
        return_exceptions=True,
    )
    assert (first, second) == (Outcome("ok", 30_000, 30_000), Outcome("ok", 29_000, 29_000))
    assert isinstance(broken, BackendUnavailable) and "WRONGTYPE" in str(broken)
    assert await redis.get(keys.session(webinar, "broken")) == b"not a hash"


async def test_a_call_that_fails_fails_every_ping_of_it(settings: Settings):
    away = with_settings(settings, redis_url=f"redis://127.0.0.1:{free_port()}")
    redis = redis_client(away)
    store = SessionStore(Scripts(redis), away, ScriptBatcher(redis, away.redis_timeout_seconds))
    webinar = uuid4()
    errors = await asyncio.gather(
        *(store.ping(webinar, f"s{i}", "", f"r{i}") for i in range(3)), return_exceptions=True
    )
    assert [(type(e), getattr(e, "reason", None)) for e in errors] == [
        (BackendUnavailable, "unavailable")
    ] * 3
    await redis.aclose()


@both_topologies
async def test_a_call_holds_the_pings_of_one_webinar(redis, settings: Settings):
    """A call's keys share one hash tag, so that it runs on a cluster's slot unchanged."""
    store = await gateway_store(redis, settings)
    webinars = [await known_webinar(redis) for _ in range(3)]
    for w in webinars:
        await opened(store, w, 2)
    ping_calls, pings = calls_and_pings()
    outcomes = await asyncio.gather(
        *(store.ping(w, s, "", "r", now_ms=T0 + 5000) for w in webinars for s in ("s0", "s1"))
    )
    assert outcomes == [Outcome("ok", 5000, 5000), Outcome("ok", 4000, 4000)] * 3
    assert calls_and_pings() == (ping_calls + 3, pings + 6)


async def test_pings_at_different_clocks_go_apart(redis, settings: Settings):
    """A call has one clock: tests' explicit ones split the pings of a turn."""
    store, webinar = await gateway_store(redis, settings), await known_webinar(redis)
    await opened(store, webinar, 2)
    trips, calls = observed(REDIS_BATCH_CALLS)
    outcomes = await asyncio.gather(
        store.ping(webinar, "s0", "", "r", now_ms=T0 + 20_000),
        store.ping(webinar, "s1", "", "r", now_ms=T0 + 30_000),
    )
    assert outcomes == [Outcome("ok", 20_000, 20_000), Outcome("ok", 29_000, 29_000)]
    assert observed(REDIS_BATCH_CALLS) == (trips + 1, calls + 2)
