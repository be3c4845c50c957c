"""R-PG-4: every credited second reaches Postgres, exactly, whatever crashes when."""

from __future__ import annotations

import asyncio
import struct
from decimal import Decimal
from uuid import UUID, uuid4

import asyncpg
import pytest
from redis.asyncio import Redis
from support import OLDER_LAYOUT, T0, both_topologies, with_settings

from flusher.flusher import COLLECT_CHUNK, Flusher
from flusher.rows import UPSERT, encode, row
from watchtime import keys, sessions
from watchtime.backends import Backends
from watchtime.fields import SESSION_FIELDS, session_hash
from watchtime.limits import MAX_INTERVALS_PER_SESSION
from watchtime.sessions import SessionStore

pytestmark = [pytest.mark.anyio, both_topologies]


def at(seconds: float) -> int:
    return T0 + round(seconds * 1000)


@pytest.fixture
def flusher(redis: Redis, pg_pool: asyncpg.Pool, store: SessionStore, settings) -> Flusher:
    return Flusher(Backends(redis, pg_pool, store), with_settings(settings, flush_batch_size=5000))


async def rows(pg: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    records = await pg.fetch("SELECT * FROM webinar_user_sessions ORDER BY session_id")
    return {r["session_id"]: r for r in records}


async def hot(redis: Redis, webinar: UUID, session_id: str) -> dict[str, str]:
    return session_hash(await redis.hgetall(keys.session(webinar, session_id)))


def ms(value: object) -> int:
    return round(value.timestamp() * 1000)  # type: ignore[attr-defined]


def spans(r: asyncpg.Record, column: str) -> list[tuple[int, int]]:
    return [(x.lower, x.upper) for x in r[column]]


async def assert_matches_redis(redis: Redis, pg: asyncpg.Connection, webinar: UUID) -> None:
    """Every open session in Redis equals its row, field by field. Redis keeps only the
    intervals not yet trimmed (``logged`` bytes of its log are): the row ends with them,
    holds as many more as were trimmed, and they add up to the watched time."""
    stored = await rows(pg)
    open_ids = [m.decode() for k in keys.indexes(webinar) for m in await redis.zrange(k, 0, -1)]
    for session_id in open_ids:
        s, r = await hot(redis, webinar, session_id), stored[session_id]
        log = await redis.get(keys.intervals(webinar, session_id)) or b""
        kept = sessions.intervals(log, s.get("run_from"), s.get("run_to"))
        assert (r["version"], ms(r["last_heartbeat_at"]), r["ping_count"]) == (
            int(s["version"]),
            int(s["last_heartbeat_at"]),
            int(s["ping_count"]),
        )
        assert r["watched_seconds_raw"] == Decimal(s["watched_ms"]) / 1000
        written = spans(r, "watched_intervals")
        assert len(written) == int(s.get("logged", 0)) // 16 + len(kept)
        assert written[len(written) - len(kept) :] == kept
        assert sum(b - a for a, b in written) == int(s["watched_ms"])


async def test_a_closed_session_arrives_exactly_and_retires(store, flusher, redis, pg, webinar):
    extras = {
        "user_agent": "Mozilla/5.0",
        "referrer": "https://example.org/",
        "ip_address": "10.1.2.3",
        "agency_id": "agency-7",
        "client_id": "client-9",
    }
    user = str(uuid4())
    await store.track(webinar, "s1", user, extras=extras, now_ms=at(0))
    await store.ping(webinar, "s1", user, "r1", now_ms=at(120))
    await store.ping(webinar, "s1", user, "r2", visible=False, now_ms=at(200))
    await store.exit(webinar, "s1", user, now_ms=at(250))
    assert set(await hot(redis, webinar, "s1")) <= set(SESSION_FIELDS)  # each one named

    assert await flusher.cycle() is False
    r = (await rows(pg))["s1"]
    assert (r["webinar_id"], str(r["user_id"]), r["closed_reason"]) == (webinar, user, "exit")
    assert (ms(r["entered_at"]), ms(r["exited_at"]), ms(r["last_heartbeat_at"])) == (
        at(0),
        at(250),
        at(250),
    )
    assert r["duration_seconds"] == Decimal("250.000")
    assert r["watched_seconds_raw"] == Decimal("200.000")
    assert spans(r, "watched_intervals") == [(at(0), at(200))]
    assert (r["is_visible"], r["is_active"], r["ping_count"]) == (False, True, 2)
    assert (
        r["user_agent"],
        r["referrer"],
        str(r["ip_address"]),
        r["agency_id"],
        r["client_id"],
    ) == ("Mozilla/5.0", "https://example.org/", "10.1.2.3", "agency-7", "client-9")
    assert await redis.zcard(keys.closed(webinar)) == 0
    assert await hot(redis, webinar, "s1") == {"user_id": user, "closed_reason": "exit"}
    assert await flusher.cycle() is False  # nothing left: nothing changes
    assert (await rows(pg))["s1"]["updated_at"] == r["updated_at"]


async def test_open_sessions_are_rewritten_as_they_change(store, flusher, redis, pg, webinar):
    await store.track(webinar, "s1", "", now_ms=at(0))
    await flusher.cycle(now_ms=at(1))
    assert (await rows(pg))["s1"]["watched_seconds_raw"] == 0
    assert (await store.pending(webinar, 0, now_ms=at(59))).owed == 0
    await store.ping(webinar, "s1", "", "r1", now_ms=at(60))
    assert (await store.pending(webinar, 0, now_ms=at(61))).owed == 1
    await flusher.cycle(now_ms=at(61))
    assert (await rows(pg))["s1"]["watched_seconds_raw"] == Decimal("60.000")
    assert (await rows(pg))["s1"]["exited_at"] is None
    await assert_matches_redis(redis, pg, webinar)


async def test_a_full_batch_asks_for_another_at_once(store, redis, pg_pool, pg, settings, webinar):
    for i in range(5):
        await store.track(webinar, f"s{i}", "", now_ms=at(i))
    small = Flusher(Backends(redis, pg_pool, store), with_settings(settings, flush_batch_size=2))
    assert [await small.cycle(now_ms=at(10)) for _ in range(3)] == [True, True, False]
    assert sorted(await rows(pg)) == [f"s{i}" for i in range(5)]


async def test_crash_after_read_loses_nothing(store, flusher, redis, pg, webinar):
    await store.track(webinar, "s1", "", now_ms=at(0))
    await flusher.read()  # ... and the process dies
    await store.ping(webinar, "s1", "", "r1", now_ms=at(30))
    await flusher.cycle()
    await assert_matches_redis(redis, pg, webinar)


async def test_crash_after_commit_before_ack_rewrites_idempotently(
    store, flusher, redis, pg, webinar
):
    await store.track(webinar, "s1", "", now_ms=at(0))
    await store.exit(webinar, "s1", "", now_ms=at(40))
    batch = await flusher.read()
    assert await flusher.write(batch) == 1  # committed, then the process dies before ack
    assert await redis.zcard(keys.closed(webinar)) == 1
    first = (await rows(pg))["s1"]
    await flusher.cycle()  # the restarted flusher writes the same version again: no change
    assert (await rows(pg))["s1"] == first
    assert await redis.zcard(keys.closed(webinar)) == 0


async def test_crash_mid_write_rolls_back(store, flusher, redis, pg, postgres_server, webinar):
    await store.track(webinar, "s1", "", now_ms=at(0))
    batch = await flusher.read()
    conn = await asyncpg.connect(postgres_server.url)
    tx = conn.transaction()
    await tx.start()
    await conn.execute(UPSERT, encode([row(p.webinar_id, s) for p in batch for s in p.sessions]))
    conn.terminate()  # the flusher's connection dies mid-transaction
    assert await rows(pg) == {}
    await flusher.cycle()
    await assert_matches_redis(redis, pg, webinar)


async def test_replaying_an_old_batch_changes_nothing(store, flusher, redis, pg, webinar):
    await store.track(webinar, "s1", "", now_ms=at(0))
    old = await flusher.read()
    await flusher.release(old)
    await store.ping(webinar, "s1", "", "r1", now_ms=at(100))
    await flusher.cycle()
    newer = (await rows(pg))["s1"]
    assert await flusher.write(old) == 0
    await flusher.ack(old)  # an old ack clears nothing newer
    assert (await rows(pg))["s1"] == newer
    assert newer["watched_seconds_raw"] == Decimal("100.000")


async def test_a_flush_reads_only_the_intervals_not_yet_written(store, flusher, redis, pg, webinar):
    """Each gap closes a run into the session's log; a flush reads only the runs not yet
    in Postgres, unites them with the row, which holds them all however old the session,
    and then trims them from Redis. A replayed or old batch trims nothing more."""
    await store.track(webinar, "s1", "", now_ms=at(0))
    for step in range(1, 9):  # hidden, visible, hidden ...: credit [0, 10), [20, 30), ...
        await store.ping(webinar, "s1", "", f"r{step}", visible=step % 2 == 0, now_ms=at(10 * step))
        if step in (3, 6):
            await flusher.cycle(now_ms=at(10 * step + 1))
    old = await flusher.read(now_ms=at(81))
    (collected,) = old[0].sessions
    assert collected.intervals == [(at(40), at(50)), (at(60), at(70))]  # the rest is written
    assert collected.active_intervals == collected.intervals
    await flusher.write(old)  # committed, then the process dies before ack
    await flusher.cycle(now_ms=at(82))  # the same intervals again: a union changes nothing
    r = (await rows(pg))["s1"]
    whole = [(at(a), at(a + 10)) for a in (0, 20, 40, 60)]
    assert spans(r, "watched_intervals") == spans(r, "active_intervals") == whole
    marks = await redis.hmget(keys.session(webinar, "s1"), "logged", "active_logged")
    assert marks == [b"48", b"48"]  # three closed runs of 16 bytes each, all written
    logs = keys.intervals(webinar, "s1"), keys.active_intervals(webinar, "s1")
    assert await redis.exists(*logs) == 0
    await flusher.ack(old)
    assert await redis.hmget(keys.session(webinar, "s1"), "logged", "active_logged") == marks
    await assert_matches_redis(redis, pg, webinar)
    await store.ping(webinar, "s1", "", "r9", visible=False, now_ms=at(90))  # closes a run
    assert await redis.strlen(logs[0]) == 16


async def test_a_log_is_read_only_while_it_may_hold_runs(store, flusher, redis, webinar):
    """Every byte appended to a log is counted in the session hash (`log_end`) beside the
    bytes trimmed into Postgres (`logged`): where they agree the log is empty, and the
    hash read alone is the flusher's snapshot; the next gap appends, and it is read again."""
    await store.track(webinar, "s1", "", now_ms=at(0))
    await store.ping(webinar, "s1", "", "r1", visible=False, now_ms=at(10))  # run [0, 10)
    await store.ping(webinar, "s1", "", "r2", now_ms=at(20))  # hidden since 10: no credit
    await store.ping(webinar, "s1", "", "r3", now_ms=at(30))  # a gap: [0, 10) to the log
    first_run = struct.pack(">qq", at(0), at(10))
    (c,) = await store.collect(webinar, ["s1"])
    assert (c.log, c.hot.log_end, c.hot.logged) == (first_run, 16, None)
    await flusher.cycle(now_ms=at(31))  # written, then trimmed: logged = log_end
    log = keys.intervals(webinar, "s1")
    await redis.set(log, b"x" * 16)  # bytes no script appended: a read would show them
    (c,) = await store.collect(webinar, ["s1"])
    assert (c.log, c.hot.log_end, c.hot.logged, c.intervals) == (b"", 16, 16, [(at(20), at(30))])
    await store.ping(webinar, "s1", "", "r4", visible=False, now_ms=at(40))
    await store.ping(webinar, "s1", "", "r5", now_ms=at(50))
    await store.ping(webinar, "s1", "", "r6", now_ms=at(60))  # a gap: [20, 40) appended
    (c,) = await store.collect(webinar, ["s1"])
    assert c.log == b"x" * 16 + struct.pack(">qq", at(20), at(40))
    assert (c.hot.log_end, c.hot.logged) == (16 + 32, 16)


async def test_the_interval_cap_counts_the_runs_trimmed(store, flusher, redis, pg, webinar):
    """Past MAX_INTERVALS_PER_SESSION a session's gaps merge into its run; the runs already
    trimmed into Postgres count towards the cap, so the row keeps within it too."""
    await store.track(webinar, "s1", "", now_ms=at(0))
    for step in range(1, 2 * MAX_INTERVALS_PER_SESSION + 8):
        await store.ping(webinar, "s1", "", f"r{step}", visible=step % 2 == 0, now_ms=at(10 * step))
        if step % 50 == 0:
            await flusher.cycle(now_ms=at(10 * step + 1))
    await flusher.cycle(now_ms=at(10_000))
    r = (await rows(pg))["s1"]
    assert len(spans(r, "watched_intervals")) == MAX_INTERVALS_PER_SESSION
    await assert_matches_redis(redis, pg, webinar)


async def test_a_session_stored_before_the_marks_is_written_whole(
    store, flusher, redis, pg, webinar
):
    """A session whose row was stored before the logs were trimmed has its whole log in
    Redis and no marks: the union with its row is exact all the same, and then trimmed."""
    await store.track(webinar, "s1", "", now_ms=at(0))
    for step in range(1, 5):
        await store.ping(webinar, "s1", "", f"r{step}", visible=step % 2 == 0, now_ms=at(10 * step))
    whole_log = await redis.get(keys.intervals(webinar, "s1"))
    await flusher.cycle(now_ms=at(41))
    await redis.hdel(keys.session(webinar, "s1"), "logged", "active_logged")
    await redis.set(keys.intervals(webinar, "s1"), whole_log)  # as an older release left it
    await store.ping(webinar, "s1", "", "r5", visible=False, now_ms=at(50))
    await flusher.cycle(now_ms=at(51))
    whole = [(at(0), at(10)), (at(20), at(30)), (at(40), at(50))]
    assert spans((await rows(pg))["s1"], "watched_intervals") == whole
    assert await redis.hget(keys.session(webinar, "s1"), "logged") == b"32"
    await assert_matches_redis(redis, pg, webinar)


async def test_a_session_of_the_older_field_by_field_layout_is_written(
    store, flusher, redis, pg, webinar
):
    """A session an older release wrote a field at a time is written from those fields,
    and after its next change from its packed `state`."""
    await redis.hset(keys.session(webinar, "s1"), mapping=OLDER_LAYOUT)
    await redis.set(keys.intervals(webinar, "s1"), struct.pack(">qq", at(0), at(10)))
    await redis.zadd(keys.active(webinar), {"s1": at(10)})
    await flusher.cycle(now_ms=at(11))
    r = (await rows(pg))["s1"]
    assert (r["watched_seconds_raw"], r["ping_count"], r["version"]) == (Decimal("10.000"), 1, 2)
    assert spans(r, "watched_intervals") == [(at(0), at(10))]
    await store.ping(webinar, "s1", "", "r1", now_ms=at(20))
    await flusher.cycle(now_ms=at(21))
    r = (await rows(pg))["s1"]
    assert (r["watched_seconds_raw"], r["ping_count"], r["version"]) == (Decimal("20.000"), 2, 3)
    assert spans(r, "watched_intervals") == [(at(0), at(20))]  # adjacent runs, one range


async def test_two_flushers_at_once_equal_one(store, redis, pg_pool, pg, settings, webinar):
    a = Flusher(Backends(redis, pg_pool, store), with_settings(settings, flush_batch_size=7))
    b = Flusher(Backends(redis, pg_pool, store), with_settings(settings, flush_batch_size=7))

    async def viewers() -> None:
        for step in range(1, 30):
            for i in range(20):
                if step == 1:
                    await store.track(webinar, f"s{i}", "", now_ms=at(0))
                await store.ping(
                    webinar, f"s{i}", "", f"r{step}", visible=step % 3 != 0, now_ms=at(step * 10)
                )
            await asyncio.sleep(0)

    async def flush(f: Flusher) -> None:
        for _ in range(40):
            await f.cycle()
            await asyncio.sleep(0)

    await asyncio.gather(viewers(), flush(a), flush(b))
    while await a.cycle(now_ms=at(1000)) or await b.cycle(now_ms=at(1000)):
        pass
    await a.cycle(now_ms=at(1000))
    assert (await store.pending(webinar, 0, now_ms=at(1000))).owed == 0
    assert await pg.fetchval("SELECT count(*) FROM webinar_user_sessions") == 20
    await assert_matches_redis(redis, pg, webinar)


async def test_a_session_vanished_from_redis_is_passed_over(store, flusher, redis, pg, webinar):
    await store.track(webinar, "s1", "", now_ms=at(0))
    await redis.delete(keys.session(webinar, "s1"))
    await flusher.cycle(now_ms=at(1))
    assert await rows(pg) == {}
    assert (await store.pending(webinar, 0, now_ms=at(1))).owed == 0


async def test_a_batch_is_read_in_chunks_and_written_whole(store, flusher, redis, pg, webinar):
    ids = [f"s{i:04d}" for i in range(2 * COLLECT_CHUNK + 7)]
    for start in range(0, len(ids), 50):  # within the client's connections
        await asyncio.gather(
            *(store.track(webinar, s, "", now_ms=at(0)) for s in ids[start : start + 50])
        )
    assert await flusher.cycle(now_ms=at(1)) is False
    assert await pg.fetchval("SELECT count(*) FROM webinar_user_sessions") == len(ids)
    await assert_matches_redis(redis, pg, webinar)
