"""R-SEM-1…7 at the script level, with explicit server times (ms)."""

from __future__ import annotations

import itertools
from uuid import UUID, uuid4

import pytest
from redis.asyncio import Redis
from support import OLDER_LAYOUT, T0, both_topologies, known_webinar

from watchtime import keys, sessions
from watchtime.client import REDIS_MAX_CONNECTIONS, RedisClient
from watchtime.errors import BackendUnavailable
from watchtime.fields import session_hash
from watchtime.limits import MAX_INTERVALS_PER_SESSION
from watchtime.sessions import Outcome, SessionStore

pytestmark = [pytest.mark.anyio, both_topologies]

S = "session_1800000000000_abc123"


def at(seconds: float) -> int:
    return T0 + round(seconds * 1000)


@pytest.fixture
async def webinar(redis: Redis) -> UUID:
    return await known_webinar(redis)


async def every_key(redis: RedisClient) -> list[bytes]:
    """All keys, on every node of a cluster too."""
    return sorted([key async for key in redis.scan_iter()])


async def session(redis: Redis, webinar: UUID, session_id: str = S) -> dict[str, str]:
    return session_hash(await redis.hgetall(keys.session(webinar, session_id)))


async def intervals(redis: Redis, webinar: UUID, session_id: str = S) -> list[tuple[int, int]]:
    log = await redis.get(keys.intervals(webinar, session_id)) or b""
    s = await session(redis, webinar, session_id)
    pairs = sessions.intervals(log, s.get("run_from"), s.get("run_to"))
    return [(a - T0, b - T0) for a, b in pairs]


async def test_a_session_of_the_older_field_by_field_layout_goes_on(store, redis, webinar):
    """A session an older release wrote a field at a time, with no current runs, credits
    as before; its next change packs its fields into `state`, which every read prefers."""
    await redis.hset(keys.session(webinar, S), mapping=OLDER_LAYOUT)
    await redis.zadd(keys.active(webinar), {S: at(10)})
    assert await ping_at(store, webinar, 30) == Outcome("ok", 20_000, 30_000)
    s = await session(redis, webinar)
    assert (s["watched_ms"], s["ping_count"], s["version"]) == ("30000", "2", "3")
    assert (s["last_heartbeat_at"], s["visible"], s["active"]) == (str(at(30)), "1", "1")
    assert await intervals(redis, webinar) == [(10_000, 30_000)]
    [collected] = await store.collect(webinar, [S])
    assert (collected.hot.watched_ms, collected.hot.version) == (30_000, 3)


async def test_a_snapshot_of_no_session_asks_redis_nothing(store, webinar):
    assert await store.collect(webinar, []) == []


async def test_a_snapshot_that_meets_an_error_raises_it(store, redis, webinar):
    """A session key holding another type fails the flusher's read, on either transport,
    rather than a session read as absent or half."""
    await store.track(webinar, "s1", "", now_ms=at(0))
    await redis.delete(keys.session(webinar, "s1"))
    await redis.sadd(keys.session(webinar, "s1"), "not a hash")
    with pytest.raises(BackendUnavailable, match="WRONGTYPE"):
        await store.collect(webinar, ["s1"])


async def test_worked_example_of_spec_section_5(store: SessionStore, redis: Redis, webinar: UUID):
    pings = iter(range(1000))

    async def ping(t: int, visible: bool) -> Outcome:
        return await store.ping(webinar, S, "", f"r{next(pings)}", visible=visible, now_ms=at(t))

    assert await store.track(webinar, S, "", visible=True, now_ms=at(0)) == Outcome("created")
    assert await ping(120, True) == Outcome("ok", 120_000, 120_000)
    assert await ping(200, False) == Outcome("ok", 80_000, 200_000)
    assert await ping(320, False) == Outcome("ok", 0, 200_000)
    assert await ping(330, True) == Outcome("ok", 0, 200_000)
    assert await ping(1330, True) == Outcome("ok", 360_000, 560_000)
    assert await store.exit(webinar, S, "", now_ms=at(1400)) == Outcome("ok", 70_000, 630_000)

    s = await session(redis, webinar)
    assert s["watched_ms"] == "630000"
    assert s["entered_at"] == str(at(0))
    assert s["exited_at"] == str(at(1400))
    assert s["last_heartbeat_at"] == str(at(1400))
    assert s["closed_reason"] == "exit"
    assert s["ping_count"] == "5"
    assert await intervals(redis, webinar) == [
        (0, 200_000),
        (330_000, 690_000),
        (1_330_000, 1_400_000),
    ]


async def ping_at(
    store: SessionStore,
    webinar: UUID,
    t: float,
    visible: bool = True,
    request_id: str | None = None,
    user: str = "",
) -> Outcome:
    return await store.ping(
        webinar, S, user, request_id or f"req-{t}-{visible}", visible=visible, now_ms=at(t)
    )


async def test_track_creates_the_session_with_the_spec_fields(store, redis, webinar):
    extras = {"user_agent": "Mozilla/5.0 " + "x" * 200, "ip_address": "127.0.0.1", "referrer": ""}
    assert await store.track(webinar, S, "", visible=False, extras=extras, now_ms=at(5)) == Outcome(
        "created"
    )
    assert await session(redis, webinar) == {
        "user_id": "",
        "entered_at": str(at(5)),
        "last_heartbeat_at": str(at(5)),
        "watched_ms": "0",
        "visible": "0",
        "active": "1",
        "ping_count": "0",
        "version": "1",
        **dict.fromkeys(("run_from", "run_to", "active_run_from", "active_run_to"), str(at(5))),
        **dict.fromkeys(("log_end", "active_log_end"), "0"),  # nothing appended to the logs
    }
    stored = await redis.hgetall(keys.extras(webinar, S))
    assert stored == {b"user_agent": extras["user_agent"].encode(), b"ip_address": b"127.0.0.1"}
    # Compact encoding: "ziplist" before Redis 7, "listpack" since.
    assert await redis.object("encoding", keys.session(webinar, S)) in (b"ziplist", b"listpack")
    assert await redis.zscore(keys.guests(webinar), S) == at(5)  # its index and presence
    assert (await store.pending(webinar, 10, now_ms=at(6))).open_ids == [S]  # owed to Postgres
    assert await redis.zcard(keys.active(webinar)) + await redis.zcard(keys.presence(webinar)) == 0


async def test_repeated_track_is_idempotent(store, redis, webinar):
    await store.track(webinar, S, "", now_ms=at(0))
    await ping_at(store, webinar, 60)
    before = await session(redis, webinar)
    assert await store.track(webinar, S, "", visible=False, now_ms=at(90)) == Outcome("exists")
    assert await session(redis, webinar) == before
    assert await redis.zcard(keys.guests(webinar)) == 1


async def test_ping_creates_a_missing_session_as_track_would(store, redis, webinar):
    assert await ping_at(store, webinar, 10, visible=True) == Outcome("created")
    s = await session(redis, webinar)
    assert (s["entered_at"], s["last_heartbeat_at"], s["watched_ms"], s["ping_count"]) == (
        str(at(10)),
        str(at(10)),
        "0",
        "1",
    )
    assert await ping_at(store, webinar, 70) == Outcome("ok", 60_000, 60_000)


async def test_zero_and_negative_delta_credit_nothing_and_never_move_time_back(
    store, redis, webinar
):
    await store.track(webinar, S, "", now_ms=at(100))
    # Same instant, visibility change: applied, zero credit.
    assert await ping_at(store, webinar, 100, visible=False) == Outcome("ok", 0, 0)
    # Clock behind the last heartbeat (e.g. a failover to a skewed replica).
    assert await ping_at(store, webinar, 40, visible=True) == Outcome("ok", 0, 0)
    s = await session(redis, webinar)
    assert s["last_heartbeat_at"] == str(at(100))
    # The next credit starts from the heartbeat, not from the earlier clock reading.
    assert await ping_at(store, webinar, 130, visible=True) == Outcome("ok", 30_000, 30_000)
    assert await intervals(redis, webinar) == [(100_000, 130_000)]


async def test_delta_is_capped_at_interval_times_multiplier(store, redis, webinar):
    await store.track(webinar, S, "", now_ms=at(0))
    assert await ping_at(store, webinar, 360) == Outcome("ok", 360_000, 360_000)
    assert await ping_at(store, webinar, 360 + 361) == Outcome("ok", 360_000, 720_000)
    assert await ping_at(store, webinar, 721 + 10_000) == Outcome("ok", 360_000, 1_080_000)
    assert await intervals(redis, webinar) == [(0, 720_000), (721_000, 1_081_000)]


async def test_visibility_is_credited_by_the_state_at_the_start_of_the_interval(store, webinar):
    await store.track(webinar, S, "", visible=False, now_ms=at(0))
    assert await ping_at(store, webinar, 50, visible=True) == Outcome("ok", 0, 0)  # was hidden
    assert await ping_at(store, webinar, 80, visible=False) == Outcome("ok", 30_000, 30_000)
    assert await ping_at(store, webinar, 200, visible=False) == Outcome("ok", 0, 30_000)
    assert await ping_at(store, webinar, 210, visible=True) == Outcome("ok", 0, 30_000)
    assert await store.exit(webinar, S, "", now_ms=at(215)) == Outcome("ok", 5_000, 35_000)


async def test_is_active_is_stored_but_never_changes_crediting(store, redis, webinar):
    await store.track(webinar, S, "", active=False, now_ms=at(0))
    result = await store.ping(webinar, S, "", "r1", visible=True, active=False, now_ms=at(120))
    assert result == Outcome("ok", 120_000, 120_000)
    assert (await session(redis, webinar))["active"] == "0"


async def test_exit_credits_the_final_interval_and_closes(store, redis, webinar):
    await store.track(webinar, S, "", now_ms=at(0))
    assert await store.exit(webinar, S, "", now_ms=at(45)) == Outcome("ok", 45_000, 45_000)
    s = await session(redis, webinar)
    assert (s["exited_at"], s["closed_reason"], s["watched_ms"]) == (str(at(45)), "exit", "45000")
    assert await redis.zscore(keys.guests(webinar), S) is None


async def test_exit_is_idempotent(store, redis, webinar):
    await store.track(webinar, S, "", now_ms=at(0))
    await store.exit(webinar, S, "", now_ms=at(30))
    before = await session(redis, webinar)
    assert await store.exit(webinar, S, "", now_ms=at(500)) == Outcome("closed")
    assert await session(redis, webinar) == before


async def test_exit_of_an_unknown_session_writes_nothing(store, redis, webinar):
    assert await store.exit(webinar, S, "", now_ms=at(1)) == Outcome("no_session")
    assert await every_key(redis) == [keys.meta(webinar).encode()]


async def test_ping_and_track_on_a_closed_session_change_nothing(store, redis, webinar):
    await store.track(webinar, S, "", now_ms=at(0))
    await store.exit(webinar, S, "", now_ms=at(60))
    before = await session(redis, webinar)
    assert await ping_at(store, webinar, 90) == Outcome("closed")
    assert await store.track(webinar, S, "", now_ms=at(95)) == Outcome("closed")
    assert await session(redis, webinar) == before
    assert await redis.zcard(keys.guests(webinar)) == 0


async def test_ids_are_never_reused_after_the_details_left_redis(store, redis, webinar):
    await store.track(webinar, S, "", extras={"user_agent": "UA"}, now_ms=at(0))
    await store.exit(webinar, S, "", now_ms=at(60))
    assert (await store.pending(webinar, 10, now_ms=at(61))).closed_ids == [S]
    assert await store.ack(webinar, at(61), closed_ids=[S]) == 1  # the flusher wrote it

    assert await session(redis, webinar) == {"user_id": "", "closed_reason": "exit"}
    assert await redis.exists(keys.extras(webinar, S), keys.intervals(webinar, S)) == 0
    assert 0 < await redis.ttl(keys.session(webinar, S)) <= store.tombstone_ttl_seconds
    assert await store.track(webinar, S, "", now_ms=at(100)) == Outcome("closed")
    assert await ping_at(store, webinar, 100) == Outcome("closed")
    assert await store.exit(webinar, S, "", now_ms=at(100)) == Outcome("closed")
    assert (await store.pending(webinar, 10, now_ms=at(101))).owed == 0


async def test_the_watermark_names_the_sessions_changed_since(store, redis, webinar):
    await store.track(webinar, S, "", now_ms=at(0))
    await store.track(webinar, "other", "", now_ms=at(10))
    owed = await store.pending(webinar, 10, now_ms=at(20))
    assert owed[:6] == (0, at(20), 2, at(0), 2, at(20))
    assert (owed.open_ids, owed.closed_ids) == ([S, "other"], [])
    assert await store.ack(webinar, owed.next_watermark) == 0
    assert (await store.pending(webinar, 10, now_ms=at(25))).owed == 0
    await ping_at(store, webinar, 30)  # a change after the watermark is owed again
    owed = await store.pending(webinar, 10, now_ms=at(40))
    assert (owed.watermark, owed.owed, owed.oldest_ms, owed.open_ids) == (at(20), 1, at(20), [S])
    await store.ack(webinar, at(5))  # a replica's older commit never moves it back
    assert await redis.get(keys.flushed(webinar)) == str(at(20)).encode()
    assert (await session(redis, webinar))["watched_ms"] == "30000"  # open: not retired


async def test_a_full_batch_takes_the_ties_of_its_last_score(store, redis, webinar):
    for i, t in enumerate([0, 1, 1, 1, 2]):
        await store.track(webinar, f"s{i}", "", now_ms=at(t))
    owed = await store.pending(webinar, 2, now_ms=at(10))
    assert (owed.open_ids, owed.next_watermark) == (["s0", "s1", "s2", "s3"], at(1) + 1)
    await store.ack(webinar, owed.next_watermark)
    owed = await store.pending(webinar, 2, now_ms=at(10))
    assert (owed.open_ids, owed.next_watermark) == (["s4"], at(10))


async def test_closed_sessions_are_owed_first_and_count_in_the_budget(store, redis, webinar):
    for i in range(3):
        await store.track(webinar, f"s{i}", "", now_ms=at(i))
    await store.exit(webinar, "s2", "", now_ms=at(5))
    owed = await store.pending(webinar, 2, now_ms=at(6))
    assert (owed.closed_ids, owed.open_ids, owed.owed) == (["s2"], ["s0"], 3)
    assert owed.next_watermark == at(0) + 1


async def test_a_retried_ping_credits_nothing_twice(store, redis, webinar):
    await store.track(webinar, S, "", now_ms=at(0))
    assert await ping_at(store, webinar, 100, request_id="same") == Outcome("ok", 100_000, 100_000)
    # redis-py re-sends the script after a timeout whose reply was lost.
    assert await ping_at(store, webinar, 100.4, request_id="same") == Outcome(
        "duplicate", 0, 100_000
    )
    assert await ping_at(store, webinar, 250, request_id="same") == Outcome("duplicate", 0, 100_000)
    s = await session(redis, webinar)
    assert (s["watched_ms"], s["ping_count"], s["version"]) == ("100000", "1", "2")


async def test_repeats_of_the_same_visibility_are_rate_limited(store, redis, webinar):
    await store.track(webinar, S, "", now_ms=at(0))
    await ping_at(store, webinar, 10)
    before = await session(redis, webinar)
    assert await ping_at(store, webinar, 10.3) == Outcome("rate_limited", wait_ms=700)
    assert await session(redis, webinar) == before
    assert await ping_at(store, webinar, 11) == Outcome("ok", 1_000, 11_000)


async def test_a_visibility_change_is_never_rate_limited(store, webinar):
    await store.track(webinar, S, "", now_ms=at(0))
    assert await ping_at(store, webinar, 0.2, visible=False) == Outcome("ok", 200, 200)
    assert await ping_at(store, webinar, 0.25, visible=True) == Outcome("ok", 0, 200)
    assert await ping_at(store, webinar, 0.3, visible=False) == Outcome("ok", 50, 250)


async def test_another_viewer_cannot_touch_a_session(store, redis, webinar):
    alice, bob = str(uuid4()), str(uuid4())
    await store.track(webinar, S, alice, now_ms=at(0))
    before = await session(redis, webinar)
    assert await ping_at(store, webinar, 60, user=bob) == Outcome("other_user")
    assert await ping_at(store, webinar, 61, user="") == Outcome("other_user")
    assert await store.exit(webinar, S, bob, now_ms=at(62)) == Outcome("other_user")
    assert await store.track(webinar, S, bob, now_ms=at(63)) == Outcome("other_user")
    assert await session(redis, webinar) == before


async def test_unknown_webinar_writes_nothing(store, redis):
    other = uuid4()
    assert await store.track(other, S, "", now_ms=at(0)) == Outcome("no_webinar")
    assert await store.ping(other, S, "", "r", now_ms=at(0)) == Outcome("no_webinar")
    assert await store.exit(other, S, "", now_ms=at(0)) == Outcome("no_webinar")
    assert await store.presence(other, str(uuid4()), now_ms=at(0)) == Outcome("no_webinar")
    assert await every_key(redis) == []


async def test_legacy_ping_counts_presence_only(store, redis, webinar):
    user = str(uuid4())
    assert await store.presence(webinar, user, now_ms=at(3)) == Outcome("ok")
    assert await redis.zscore(keys.presence(webinar), f"user:{user}") == at(3)
    assert await redis.zcard(keys.active(webinar)) == 0
    assert (await store.pending(webinar, 10, now_ms=at(4))).owed == 0


async def test_live_counts_viewers_and_sessions_within_the_stale_limit(store, webinar):
    user = str(uuid4())
    await store.track(webinar, "tab-a", user, now_ms=at(0))
    await store.track(webinar, "tab-b", user, now_ms=at(100))
    await store.track(webinar, "guest-tab", "", now_ms=at(200))
    assert await store.live(webinar, now_ms=at(250)) == (2, 3)
    # Stale limit 300 s: tab-a (0) is stale at 301, but the user is present via tab-b.
    assert await store.live(webinar, now_ms=at(301)) == (2, 2)
    await store.exit(webinar, "guest-tab", "", now_ms=at(310))
    assert await store.live(webinar, now_ms=at(310)) == (1, 1)
    await store.exit(webinar, "tab-b", user, now_ms=at(320))
    assert await store.live(webinar, now_ms=at(320)) == (1, 0)  # tab-a still open
    await store.exit(webinar, "tab-a", user, now_ms=at(330))
    assert await store.live(webinar, now_ms=at(330)) == (0, 0)
    assert await store.live(uuid4(), now_ms=at(330)) is None


async def test_only_signed_in_viewers_tabs_are_counted(store, redis, webinar):
    """A guest is one session, present while it is open: nothing to count in tabs."""
    user = str(uuid4())
    await store.track(webinar, "tab-a", user, now_ms=at(0))
    await store.track(webinar, "tab-b", user, now_ms=at(1))
    await store.track(webinar, S, "", now_ms=at(2))
    assert await redis.hgetall(keys.tabs(webinar)) == {f"user:{user}".encode(): b"2"}
    await store.exit(webinar, S, "", now_ms=at(3))
    await store.exit(webinar, "tab-a", user, now_ms=at(4))
    assert await redis.hgetall(keys.tabs(webinar)) == {f"user:{user}".encode(): b"1"}
    assert await redis.zrange(keys.presence(webinar), 0, -1) == [f"user:{user}".encode()]


async def test_the_open_sessions_owed_come_from_both_indexes_oldest_first(store, webinar):
    """Signed-in viewers' sessions and guests' live in two sets; the flusher is owed them as
    one list by last change, cut at a score whose ties come along from either set."""
    user = str(uuid4())
    for session_id, owner, t in [("g1", "", 1), ("u2", user, 2), ("g3", "", 3), ("u3", user, 3)]:
        await store.track(webinar, session_id, owner, now_ms=at(t))
    await store.track(webinar, "g4", "", now_ms=at(4))
    owed = await store.pending(webinar, 3, now_ms=at(5))
    assert owed.open_ids == ["g1", "u2", "u3", "g3"]
    assert (owed.next_watermark, owed.owed, owed.oldest_ms, owed.open_sessions) == (
        at(3) + 1,
        5,
        at(1),
        5,
    )
    await store.ack(webinar, owed.next_watermark)
    assert (await store.pending(webinar, 3, now_ms=at(5))).open_ids == ["g4"]


@pytest.mark.parametrize("then", ["ping", "exit", "sweep"])
async def test_a_guest_indexed_by_an_older_release_moves_to_guests_or_leaves(
    store, redis, webinar, then
):
    """A release before `guests` indexed a guest's session in `active` and the guest in
    `presence`. Until its next change it is counted, owed and swept once; its next ping
    moves it to `guests`, its close takes it out of both."""
    await store.track(webinar, S, "", now_ms=at(0))
    await redis.zrem(keys.guests(webinar), S)  # as an older release left it:
    await redis.zadd(keys.active(webinar), {S: at(0)})
    await redis.zadd(keys.presence(webinar), {f"guest:{S}": at(0)})
    assert await store.live(webinar, now_ms=at(1)) == sessions.LiveCounts(1, 1)
    assert (await store.pending(webinar, 10, now_ms=at(1))).open_ids == [S]
    if then == "ping":
        assert await ping_at(store, webinar, 10) == Outcome("ok", 10_000, 10_000)
        assert await redis.zrange(keys.guests(webinar), 0, -1, withscores=True) == [
            (S.encode(), at(10))
        ]
        assert await store.live(webinar, now_ms=at(11)) == sessions.LiveCounts(1, 1)
    elif then == "exit":
        assert await store.exit(webinar, S, "", now_ms=at(10)) == Outcome("ok", 10_000, 10_000)
    else:
        assert await store.sweep(webinar, [S], now_ms=at(400)) == 1
    assert await redis.zcard(keys.active(webinar)) == 0
    assert await redis.zcard(keys.presence(webinar)) == 0
    assert await redis.zcard(keys.guests(webinar)) == (1 if then == "ping" else 0)


@pytest.mark.parametrize("close", ["exit", "sweep"])
async def test_a_guest_s_tab_count_from_an_older_release_goes_with_its_session(
    store, redis, webinar, close
):
    await store.track(webinar, S, "", now_ms=at(0))
    await redis.hset(keys.tabs(webinar), f"guest:{S}", 1)  # as an older release counted it
    if close == "exit":
        await store.exit(webinar, S, "", now_ms=at(10))
    else:
        assert await store.sweep(webinar, [S], now_ms=at(400)) == 1
    assert await redis.hgetall(keys.tabs(webinar)) == {}
    assert await redis.zcard(keys.presence(webinar)) == 0


async def test_interval_log_stays_bounded_and_equal_to_watched(store, redis, webinar):
    await store.track(webinar, S, "", now_ms=at(0))
    flips = MAX_INTERVALS_PER_SESSION + 20
    for i in range(flips):  # visible 1 s, hidden 1 s, ...
        await ping_at(store, webinar, 2 * i + 1, visible=False)
        await ping_at(store, webinar, 2 * i + 2, visible=True)
    log = await intervals(redis, webinar)
    assert len(log) == MAX_INTERVALS_PER_SESSION
    assert sum(b - a for a, b in log) == int((await session(redis, webinar))["watched_ms"])
    assert log[-1][1] == (2 * (flips - 1) + 1) * 1000


async def test_concurrent_pings_credit_no_more_than_elapsed_server_time(store, redis, webinar):
    import anyio

    assert await store.track(webinar, S, "") == Outcome("created")  # production path: Redis TIME
    results: list[Outcome] = []
    # As many in flight as the client has connections: the standalone pool queues the
    # rest by itself, the cluster client would refuse them.
    connections = anyio.CapacityLimiter(REDIS_MAX_CONNECTIONS)

    async def one(i: int) -> None:
        async with connections:
            results.append(await store.ping(webinar, S, "", f"c{i}", visible=i % 2 == 0))

    async with anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(one, i)

    s = await session(redis, webinar)
    elapsed = int(s["last_heartbeat_at"]) - int(s["entered_at"])
    applied = [r for r in results if r.status == "ok"]
    assert {r.status for r in results} <= {"ok", "rate_limited"}
    assert int(s["ping_count"]) == len(applied)
    assert int(s["watched_ms"]) == sum(r.credited_ms for r in applied)
    assert int(s["watched_ms"]) <= elapsed
    log = await intervals(redis, webinar)
    assert sum(b - a for a, b in log) == int(s["watched_ms"])
    assert all(a < b <= c for (a, b), (c, _) in itertools.pairwise(log))
