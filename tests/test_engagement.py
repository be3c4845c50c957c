"""R-EXT-4, R-EXT-5: a guest's page loads as one person (visitor id), and the active time
credited by the same rule as watched time, from the scripts to the report."""

from __future__ import annotations

from uuid import uuid4

import anyio
import asyncpg
import pytest
from redis import Redis
from starlette.testclient import TestClient
from support import at, seed
from test_reports import ADMIN, report, schedule

from watchtime import keys
from watchtime.sessions import SessionStore

VISITOR = "k9Zq-2_visitor"


async def nothing(store: SessionStore) -> None:
    return None


def person(body: dict, viewer: str) -> dict:
    [found] = [p for p in body["viewers"] if p["viewer"] == viewer]
    return found


def test_a_guest_who_reloads_twice_is_one_person_with_the_union_of_the_page_loads(
    client: TestClient, settings, s0
):
    """Three page loads of one browser (one visitor id), the second overlapping the first
    as a reload that came before the old page's exit; another guest without an id."""
    webinar = uuid4()
    schedule(client, webinar, at(s0, 0), end=at(s0, 100))
    visitor = {"visitor_id": VISITOR}

    async def reloads(store: SessionStore) -> None:
        loads = [("load-1", 5, 30), ("load-2", 25, 50), ("load-3", 70, 90)]
        for n, (session, entered, left) in enumerate(loads):
            await store.track(webinar, session, "", extras=visitor, now_ms=at(s0, entered))
            await store.ping(webinar, session, "", f"p{n}", now_ms=at(s0, entered + 10))
            await store.exit(webinar, session, "", now_ms=at(s0, left))
        await store.track(webinar, "other", "", now_ms=at(s0, 10))
        await store.exit(webinar, "other", "", now_ms=at(s0, 20))

    seed(settings, reloads)
    body = report(client, webinar)
    assert [(p["viewer"], p["sessions"]) for p in body["viewers"]] == [
        ("guest:other", 1),
        (f"visitor:{VISITOR}", 3),
    ]
    guest = person(body, f"visitor:{VISITOR}")
    # [5, 30) + [25, 50) + [70, 90): 45 + 20 seconds; present is the per-session sum.
    assert (guest["watched_seconds"], guest["active_seconds"]) == (65.0, 65.0)
    assert guest["present_seconds"] == 25 + 25 + 20
    assert guest["user_id"] is None
    assert body["summary"]["viewers"] == 2


def test_page_loads_with_one_visitor_id_through_http_are_one_person(
    client: TestClient, settings, sync_redis: Redis
):
    """The real path: the id in the track body, kept with the session, written by the
    flusher, grouped by the report; a ping that creates its session keeps it too."""
    seconds, _ = sync_redis.time()
    webinar = uuid4()
    schedule(client, webinar, (int(seconds) - 60) * 1000)
    url = f"/api/webinars/{webinar}"
    for session in ("load-1", "load-2"):
        body = {"session_id": session, "visitor_id": VISITOR}
        assert client.post(f"{url}/access/track", json=body).status_code == 200
        assert client.post(f"{url}/access/exit", json={"session_id": session}).status_code == 204
    ping = {"session_id": "load-3", "visitor_id": VISITOR, "view_state": {"is_visible": True}}
    assert client.post(f"{url}/presence/ping", json=ping).status_code == 204

    seed(settings, nothing)  # a flush
    body = report(client, webinar)
    [guest] = body["viewers"]
    assert (guest["viewer"], guest["sessions"]) == (f"visitor:{VISITOR}", 3)


def test_a_verified_user_wins_over_the_visitor_id_which_is_only_stored(
    client: TestClient, settings, s0, postgres_server
):
    webinar, user = uuid4(), str(uuid4())
    schedule(client, webinar, at(s0, 0), end=at(s0, 100))

    async def visits(store: SessionStore) -> None:
        # Signed in on this browser, then the same browser as a guest.
        await store.track(
            webinar, "signed-in", user, extras={"visitor_id": VISITOR}, now_ms=at(s0, 1)
        )
        await store.exit(webinar, "signed-in", user, now_ms=at(s0, 11))
        await store.track(
            webinar, "as-guest", "", extras={"visitor_id": VISITOR}, now_ms=at(s0, 20)
        )
        await store.exit(webinar, "as-guest", "", now_ms=at(s0, 25))

    seed(settings, visits)
    body = report(client, webinar)
    assert [(p["viewer"], p["watched_seconds"]) for p in body["viewers"]] == [
        (f"user:{user}", 10.0),
        (f"visitor:{VISITOR}", 5.0),
    ]

    async def stored() -> list[tuple[str, str]]:
        conn = await asyncpg.connect(postgres_server.url)
        try:
            query = "SELECT session_id, visitor_id FROM webinar_user_sessions ORDER BY 1"
            return [tuple(r) for r in await conn.fetch(query)]
        finally:
            await conn.close()

    assert anyio.run(stored) == [("as-guest", VISITOR), ("signed-in", VISITOR)]


def test_active_time_is_credited_like_watched_time_and_less_when_visible_but_idle(
    client: TestClient, settings, s0, sync_redis: Redis
):
    """Each interval is active if the session was active at its start, as it is watched
    if it was visible then; active ⊆ watched, unions and clipping as for watched."""
    webinar, user = uuid4(), str(uuid4())
    schedule(client, webinar, at(s0, 0), end=at(s0, 100))

    async def tabs(store: SessionStore) -> None:
        # Tab A: active [0, 10), visible but idle [10, 20), active [20, 30), hidden after.
        await store.track(webinar, "a", user, now_ms=at(s0, 0))
        await store.ping(webinar, "a", user, "a1", active=False, now_ms=at(s0, 10))
        await store.ping(webinar, "a", user, "a2", now_ms=at(s0, 20))
        await store.ping(webinar, "a", user, "a3", visible=False, now_ms=at(s0, 30))
        await store.exit(webinar, "a", user, now_ms=at(s0, 40))
        # Tab B, same person: idle [15, 25), then active [25, 35); its active time overlaps
        # A's at [25, 30), which counts once.
        await store.track(webinar, "b", user, active=False, now_ms=at(s0, 15))
        await store.ping(webinar, "b", user, "b1", now_ms=at(s0, 25))
        await store.exit(webinar, "b", user, now_ms=at(s0, 35))
        # A guest active before the start and after the end: clipped like watched time.
        await store.track(webinar, "g", "", now_ms=at(s0, -10))
        await store.ping(webinar, "g", "", "g1", active=False, now_ms=at(s0, 5))
        await store.ping(webinar, "g", "", "g2", now_ms=at(s0, 95))
        await store.exit(webinar, "g", "", now_ms=at(s0, 110))

    seed(settings, tabs)
    assert sync_redis.exists(keys.active_intervals(webinar, "a")) == 0  # retired
    body = report(client, webinar)
    a = person(body, f"user:{user}")
    # watched: [0, 30) + [15, 35) = [0, 35); active: [0, 10) + [20, 30) + [25, 35).
    assert (a["watched_seconds"], a["active_seconds"]) == (35.0, 25.0)
    g = person(body, "guest:g")
    # watched [-10, 110) clipped to [0, 100); active [-10, 5) and [95, 110) clipped.
    assert (g["watched_seconds"], g["active_seconds"]) == (100.0, 10.0)
    assert body["summary"]["avg_active_seconds"] == 17.5
    answer = client.get(
        f"/api/webinars/{webinar}/stats/watch-time", params={"format": "csv"}, headers=ADMIN
    )
    rows = {r.split(",")[0]: r.split(",")[7] for r in answer.text.splitlines()[1:]}
    assert rows == {f"user:{user}": "25.0", "guest:g": "10.0"}


@pytest.mark.anyio
async def test_the_active_log_follows_the_interval_log(store: SessionStore, redis, webinar):
    """Script level: the active log gets the credited interval iff the session was
    active at its start; adjacent credits stay one interval."""
    s0 = 1_800_000_000_000
    s = "tab"
    await store.track(webinar, s, "", now_ms=s0)
    await store.ping(webinar, s, "", "1", now_ms=s0 + 10_000)
    await store.ping(webinar, s, "", "2", active=False, now_ms=s0 + 20_000)
    await store.ping(webinar, s, "", "3", now_ms=s0 + 30_000)  # [20, 30) was idle
    await store.ping(webinar, s, "", "4", visible=False, now_ms=s0 + 40_000)
    await store.ping(webinar, s, "", "5", now_ms=s0 + 50_000)  # [40, 50) was hidden
    await store.exit(webinar, s, "", now_ms=s0 + 55_000)

    def seconds(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        return [((a - s0) // 1000, (b - s0) // 1000) for a, b in pairs]

    (tab,) = await store.collect(webinar, [s])
    assert seconds(tab.intervals) == [(0, 40), (50, 55)]
    assert seconds(tab.active_intervals) == [(0, 20), (30, 40), (50, 55)]


def test_no_visitor_id_groups_nothing(client: TestClient, settings, s0):
    webinar = uuid4()
    schedule(client, webinar, at(s0, 0), end=at(s0, 100))

    async def two(store: SessionStore) -> None:
        for session in ("x", "y"):
            await store.track(webinar, session, "", now_ms=at(s0, 1))
            await store.exit(webinar, session, "", now_ms=at(s0, 2))

    seed(settings, two)
    assert [p["viewer"] for p in report(client, webinar)["viewers"]] == ["guest:x", "guest:y"]
