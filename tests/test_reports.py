"""R-STATS: the watch-time report, exact to the millisecond, over real Redis and Postgres."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from datetime import datetime
from uuid import UUID, uuid4

from starlette.testclient import TestClient
from support import (
    ANDROID_CHROME,
    ANDROID_TABLET,
    DESKTOP_CHROME,
    GOOGLEBOT,
    IPHONE_SAFARI,
    add_snapshots,
    at,
    iso,
    seed,
)

from gateway import reports
from watchtime import keys
from watchtime.sessions import SessionStore

ADMIN = {"Authorization": "Bearer test-admin-token"}


def schedule(
    client: TestClient,
    webinar: UUID,
    start: int,
    end: int | None = None,
    actual_end: int | None = None,
    post_window_minutes: int = 0,
) -> None:
    body = {
        "webinar_start_time": iso(start),
        "post_window_minutes": post_window_minutes,
        "webinar_scheduled_end_time": iso(end) if end else None,
        "webinar_actual_end_time": iso(actual_end) if actual_end else None,
    }
    assert client.put(f"/api/webinars/{webinar}", json=body, headers=ADMIN).status_code == 200


def report(client: TestClient, webinar: UUID, **params: str) -> dict:
    answer = client.get(f"/api/webinars/{webinar}/stats/watch-time", params=params, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return answer.json()


def by_viewer(body: dict) -> dict[str, tuple[int, float, float]]:
    return {
        p["viewer"]: (p["sessions"], p["watched_seconds"], p["present_seconds"])
        for p in body["viewers"]
    }


def test_the_example_of_spec_section_8_and_a_retroactive_end(client, settings, s0):
    webinar, user = uuid4(), str(uuid4())
    schedule(client, webinar, at(s0, 0), end=at(s0, 20))

    async def two_tabs(store: SessionStore) -> None:
        await store.track(webinar, "tab-a", user, visible=True, now_ms=at(s0, -1))
        await store.track(webinar, "tab-b", user, visible=True, now_ms=at(s0, 5))
        await store.ping(webinar, "tab-a", user, "a1", visible=False, now_ms=at(s0, 10))
        await store.ping(webinar, "tab-b", user, "b1", visible=False, now_ms=at(s0, 15))
        await store.exit(webinar, "tab-a", user, now_ms=at(s0, 21))
        await store.exit(webinar, "tab-b", user, now_ms=at(s0, 21))

    seed(settings, two_tabs)
    body = report(client, webinar)
    assert (body["content_from"], body["content_to"]) == (
        iso(at(s0, 0)).replace("+00:00", "Z"),
        iso(at(s0, 20)).replace("+00:00", "Z"),
    )
    assert body["content_duration_seconds"] == 20.0
    person = body["viewers"][0]
    assert person | {"first_entered_at": None, "last_seen_at": None} == {
        "viewer": f"user:{user}",
        "user_id": user,
        "sessions": 2,
        "watched_seconds": 15.0,
        "active_seconds": 15.0,  # active all along, as a client without view_state says
        "present_seconds": 20.0,
        "first_entered_at": None,
        "last_seen_at": None,
        "device": "other",  # no user agent
        "browser": "Other",
    }
    assert datetime.fromisoformat(person["first_entered_at"]).timestamp() * 1000 == at(s0, -1)
    assert datetime.fromisoformat(person["last_seen_at"]).timestamp() * 1000 == at(s0, 21)

    # The organiser presses "end" late and corrects it the next day: actual end at 9 s.
    schedule(client, webinar, at(s0, 0), end=at(s0, 20), actual_end=at(s0, 9))
    assert by_viewer(report(client, webinar)) == {f"user:{user}": (2, 9.0, 9.0)}


def test_guests_early_and_late_sessions_the_never_visible_and_the_summary(client, settings, s0):
    webinar, early_bird, shy = uuid4(), str(uuid4()), str(uuid4())
    schedule(client, webinar, at(s0, 0), end=at(s0, 20), post_window_minutes=1)

    async def audience(store: SessionStore) -> None:
        await store.track(webinar, "guest-1", "", now_ms=at(s0, 2))
        await store.exit(webinar, "guest-1", "", now_ms=at(s0, 8))
        # Before the start only, within the content, and in the post window only.
        await store.track(webinar, "eb-1", early_bird, now_ms=at(s0, -30))
        await store.exit(webinar, "eb-1", early_bird, now_ms=at(s0, -10))
        await store.track(webinar, "eb-2", early_bird, now_ms=at(s0, 10))
        await store.exit(webinar, "eb-2", early_bird, now_ms=at(s0, 12))
        await store.track(webinar, "eb-3", early_bird, now_ms=at(s0, 25))
        await store.exit(webinar, "eb-3", early_bird, now_ms=at(s0, 40))
        # After the collect window (20 s + 1 min): not counted at all.
        await store.track(webinar, "eb-4", early_bird, now_ms=at(s0, 90))
        await store.exit(webinar, "eb-4", early_bird, now_ms=at(s0, 95))
        # Present all along, never visible.
        await store.track(webinar, "shy-1", shy, visible=False, now_ms=at(s0, 0))
        await store.ping(webinar, "shy-1", shy, "s1", visible=False, now_ms=at(s0, 10))
        await store.exit(webinar, "shy-1", shy, now_ms=at(s0, 15))
        # Open, last heard of long ago (stale): it ends at its last heartbeat.
        await store.track(webinar, "open-1", "", now_ms=at(s0, 1))
        await store.ping(webinar, "open-1", "", "o1", now_ms=at(s0, 11))

    seed(settings, audience)
    body = report(client, webinar)
    assert by_viewer(body) == {
        "guest:guest-1": (1, 6.0, 6.0),
        f"user:{early_bird}": (2, 2.0, 2.0),
        f"user:{shy}": (1, 0.0, 15.0),
        "guest:open-1": (1, 10.0, 10.0),
    }
    # In the order of the labels, byte by byte: the keyset of the pages.
    assert [p["viewer"] for p in body["viewers"]] == [
        "guest:guest-1",
        "guest:open-1",
        *sorted([f"user:{early_bird}", f"user:{shy}"]),
    ]
    assert body["viewers"][1]["user_id"] is None
    assert body["summary"] == {
        "viewers": 4,
        "sessions": 5,
        "avg_watched_seconds": 4.5,
        "median_watched_seconds": 4.0,
        "p90_watched_seconds": 8.8,
        "avg_present_seconds": 8.25,
        "avg_active_seconds": 4.5,
        "avg_watched_share": 0.225,
        "devices": {"desktop": 0, "mobile": 0, "tablet": 0, "bot": 0, "other": 4},
        "browsers": {"Other": 4},
    }


def test_a_webinar_without_an_end_reports_up_to_now(client, settings, sync_redis):
    seconds, _ = sync_redis.time()
    start = (int(seconds) - 100) * 1000
    webinar = uuid4()
    schedule(client, webinar, start)

    async def watching(store: SessionStore) -> None:
        await store.track(webinar, "live-1", "", now_ms=start - 5000)
        await store.ping(webinar, "live-1", "", "l1", now_ms=start + 50_000)  # open and alive

    seed(settings, watching)
    body = report(client, webinar)
    duration = body["content_duration_seconds"]
    assert 100 <= duration < 130
    assert body["content_to"] == body["generated_at"]
    assert by_viewer(body) == {"guest:live-1": (1, 50.0, duration)}
    assert body["live"] == {"viewers": 1, "active_sessions": 1}


def test_csv_equals_json_row_for_row_and_pages_cover_everyone(client, settings, s0):
    webinar = uuid4()
    schedule(client, webinar, at(s0, 0), end=at(s0, 600))

    async def crowd(store: SessionStore) -> None:
        for i in range(25):
            user = str(UUID(int=i + 1))
            await store.track(webinar, f"s{i}", user, now_ms=at(s0, i))
            await store.exit(webinar, f"s{i}", user, now_ms=at(s0, 100 + 7 * (i % 5)))

    seed(settings, crowd)
    pages, cursor = [], None
    while True:
        body = report(client, webinar, limit="10", **({"cursor": cursor} if cursor else {}))
        pages.append(body["viewers"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [10, 10, 5]
    everyone = [p for page in pages for p in page]
    assert everyone == report(client, webinar, limit="100")["viewers"]

    answer = client.get(
        f"/api/webinars/{webinar}/stats/watch-time", params={"format": "csv"}, headers=ADMIN
    )
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        answer.headers["content-disposition"] == f'attachment; filename="watch-time-{webinar}.csv"'
    )
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == [
        "viewer",
        "user_id",
        "sessions",
        "watched_seconds",
        "present_seconds",
        "first_entered_at",
        "last_seen_at",
        "active_seconds",
        "device",
        "browser",
    ]
    assert len(rows) == 26
    for row, person in zip(rows[1:], everyone, strict=True):
        assert row[:5] == [
            person["viewer"],
            person["user_id"],
            str(person["sessions"]),
            str(person["watched_seconds"]),
            str(person["present_seconds"]),
        ]
        assert datetime.fromisoformat(row[5]) == datetime.fromisoformat(person["first_entered_at"])
        assert datetime.fromisoformat(row[6]) == datetime.fromisoformat(person["last_seen_at"])
        assert row[7:] == [str(person["active_seconds"]), person["device"], person["browser"]]


def test_report_errors(client, s0):
    webinar = uuid4()
    url = f"/api/webinars/{webinar}/stats/watch-time"
    assert client.get(url, headers=ADMIN).status_code == 404
    schedule(client, webinar, at(s0, 0))
    assert client.get(url).status_code == 401
    for params in ({"limit": "0"}, {"limit": "x"}, {"cursor": "nope"}, {"format": "xml"}):
        answer = client.get(url, params=params, headers=ADMIN)
        assert (answer.status_code, answer.json()["error"]) == (422, "invalid_field")


def test_concurrency_series(client, settings, s0):
    webinar = uuid4()
    schedule(client, webinar, at(s0, 0))

    add_snapshots(settings, webinar, [(at(s0, 0), 3, 4), (at(s0, 60), 5, 6), (at(s0, 120), 4, 5)])
    body = client.get(f"/api/webinars/{webinar}/stats/concurrency", headers=ADMIN).json()
    assert [(p["viewers"], p["active_sessions"]) for p in body["points"]] == [
        (3, 4),
        (5, 6),
        (4, 5),
    ]
    assert datetime.fromisoformat(body["points"][1]["at"]).timestamp() * 1000 == at(s0, 60)


def all_pages(
    client: TestClient, webinar: UUID, limit: int, between: Callable[[int], None]
) -> list[dict]:
    """Every page of one report, ``between`` run (and flushed) after each page."""
    pages = [report(client, webinar, limit=str(limit))]
    while cursor := pages[-1]["next_cursor"]:
        between(len(pages))
        pages.append(report(client, webinar, limit=str(limit), cursor=cursor))
    return pages


def test_paging_while_pings_continue_returns_everyone_exactly_once(
    client, settings, s0, sync_redis
):
    """The report of old, ordered by watched time, skipped people whose time grew
    between two pages; labels never change, so a keyset on them cannot. Times are the
    Redis clock's, as the flusher's watermark expects of changes."""
    webinar = uuid4()
    schedule(client, webinar, at(s0, 0), end=at(s0, 7200))
    users = [str(UUID(int=i + 1)) for i in range(30)]
    guests = [f"g{i:02d}" for i in range(30)]
    seconds, _ = sync_redis.time()
    t0 = (int(seconds) - 300) * 1000

    async def arrive(store: SessionStore) -> None:
        for i, user in enumerate(users):
            await store.track(webinar, f"u{i}", user, visible=i % 2 == 0, now_ms=t0 + i * 1000)
        for i, guest in enumerate(guests):
            await store.track(webinar, guest, "", visible=i % 2 == 0, now_ms=t0 + i * 1000)

    seed(settings, arrive)

    def more(page: int) -> None:
        seconds, micros = sync_redis.time()
        now = seconds * 1000 + micros // 1000  # after the first page's moment

        async def meanwhile(store: SessionStore) -> None:
            # Everybody flips visibility: a change is applied however soon it comes.
            for i, user in enumerate(users):
                await store.ping(
                    webinar, f"u{i}", user, f"p{page}", visible=(i + page) % 2 == 1, now_ms=now
                )
            for i, guest in enumerate(guests):
                await store.ping(
                    webinar, guest, "", f"p{page}", visible=(i + page) % 2 == 0, now_ms=now
                )
            await store.exit(webinar, f"u{page}", users[page], now_ms=now)
            # Newcomers sorting before and after any cursor: "guest:a…", "guest:z…", "user:0…".
            await store.track(webinar, f"a-late-{page}", "", now_ms=now)
            await store.track(webinar, f"z-late-{page}", "", now_ms=now)
            await store.track(webinar, f"late-{page}", str(UUID(int=1000 + page)), now_ms=now)

        seed(settings, meanwhile)
        assert sync_redis.zscore(keys.active(webinar), "u29") == now  # the pings counted

    pages = all_pages(client, webinar, 7, more)
    listed = [p["viewer"] for page in pages for p in page["viewers"]]
    assert len(pages) == 9
    assert len(listed) == len(set(listed)) == 60
    assert set(listed) == {f"user:{u}" for u in users} | {f"guest:{g}" for g in guests}
    assert listed == sorted(listed)
    assert {page["generated_at"] for page in pages} == {pages[0]["generated_at"]}
    assert pages[0]["summary"]["viewers"] == 60
    assert all(page["summary"] is None for page in pages[1:])
    # The newcomers are in the next report.
    assert report(client, webinar, limit="10000")["summary"]["viewers"] == 60 + 3 * 8


def test_a_page_is_as_of_the_first_page_s_moment(client, settings, sync_redis):
    """Intervals credited after the snapshot are clipped at it; whoever arrives after it
    is on no page of it."""
    seconds, _ = sync_redis.time()
    t = int(seconds) * 1000
    webinar = uuid4()
    schedule(client, webinar, t - 100_000)  # live, no end yet

    async def two(store: SessionStore) -> None:
        for name in ("guest:a", "guest:b"):
            await store.track(webinar, name[6:], "", now_ms=t - 90_000)
            await store.ping(webinar, name[6:], "", "1", now_ms=t - 50_000)

    seed(settings, two)
    first = report(client, webinar, limit="1")
    snapshot = round(datetime.fromisoformat(first["generated_at"]).timestamp() * 1000)
    assert [(p["viewer"], p["watched_seconds"]) for p in first["viewers"]] == [("guest:a", 40.0)]

    async def later(store: SessionStore) -> None:
        await store.ping(webinar, "b", "", "2", now_ms=snapshot + 20_000)  # credits past it
        await store.track(webinar, "aa", "", now_ms=snapshot + 1000)  # sorts after "a"

    seed(settings, later)
    second = report(client, webinar, limit="1", cursor=first["next_cursor"])
    assert second["generated_at"] == first["generated_at"]
    assert second["content_to"] == first["generated_at"]
    [b] = second["viewers"]
    assert b["viewer"] == "guest:b"
    assert b["watched_seconds"] == b["present_seconds"] == (snapshot - (t - 90_000)) / 1000
    assert second["next_cursor"] is not None  # a full page: one more request says so
    assert report(client, webinar, limit="1", cursor=second["next_cursor"])["viewers"] == []


def test_device_and_browser_from_the_first_session_s_user_agent(client, settings, s0):
    webinar = uuid4()
    schedule(client, webinar, at(s0, 0), end=at(s0, 600))
    people = {
        "desk": DESKTOP_CHROME,
        "phone": IPHONE_SAFARI,
        "android": ANDROID_CHROME,
        "crawler": GOOGLEBOT,
        "tablet": ANDROID_TABLET,
        "desk-2": DESKTOP_CHROME,
    }
    user = str(uuid4())

    async def visits(store: SessionStore) -> None:
        for i, (name, agent) in enumerate(people.items()):
            await store.track(webinar, name, "", extras={"user_agent": agent}, now_ms=at(s0, i + 1))
        # A user's first session was on a phone, the second on a desktop.
        await store.track(
            webinar, "first", user, extras={"user_agent": IPHONE_SAFARI}, now_ms=at(s0, 10)
        )
        await store.track(
            webinar, "second", user, extras={"user_agent": DESKTOP_CHROME}, now_ms=at(s0, 20)
        )

    seed(settings, visits)
    body = report(client, webinar)
    assert {p["viewer"]: (p["device"], p["browser"]) for p in body["viewers"]} == {
        "guest:desk": ("desktop", "Chrome"),
        "guest:phone": ("mobile", "Safari"),
        "guest:android": ("mobile", "Chrome"),
        "guest:crawler": ("bot", "Googlebot"),
        "guest:tablet": ("tablet", "Chrome"),
        "guest:desk-2": ("desktop", "Chrome"),
        f"user:{user}": ("mobile", "Safari"),
    }
    assert body["summary"]["devices"] == {
        "desktop": 2,
        "mobile": 3,
        "tablet": 1,
        "bot": 1,
        "other": 0,
    }
    assert list(body["summary"]["browsers"].items()) == [
        ("Chrome", 4),
        ("Safari", 2),
        ("Googlebot", 1),
    ]
    answer = client.get(
        f"/api/webinars/{webinar}/stats/watch-time", params={"format": "csv"}, headers=ADMIN
    )
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert {r["viewer"]: (r["device"], r["browser"]) for r in rows} == {
        p["viewer"]: (p["device"], p["browser"]) for p in body["viewers"]
    }


def test_the_csv_export_streams_every_page_of_one_snapshot(client, settings, s0):
    """More people than one page of the export holds: every one once, as in JSON."""
    webinar = uuid4()
    schedule(client, webinar, at(s0, 0), end=at(s0, 600))
    count = reports.PAGE_MAX + 5

    async def crowd(store: SessionStore) -> None:
        await asyncio.gather(
            *(
                store.track(
                    webinar, f"s{i:05d}", "", visible=i % 2 == 0, now_ms=at(s0, i % 500 + 1)
                )
                for i in range(count)
            )
        )
        await asyncio.gather(
            *(
                store.ping(webinar, f"s{i:05d}", "", "1", now_ms=at(s0, i % 500 + 1 + i % 7))
                for i in range(0, count, 3)
            )
        )

    seed(settings, crowd)
    answer = client.get(
        f"/api/webinars/{webinar}/stats/watch-time", params={"format": "csv"}, headers=ADMIN
    )
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    pages = all_pages(client, webinar, reports.PAGE_MAX, lambda _: None)
    people = [p for page in pages for p in page["viewers"]]
    assert len(rows) == len(people) == count
    assert [
        (r["viewer"], float(r["watched_seconds"]), float(r["present_seconds"])) for r in rows
    ] == [(p["viewer"], p["watched_seconds"], p["present_seconds"]) for p in people]


def test_concurrency_as_csv(client, settings, s0):
    webinar = uuid4()
    schedule(client, webinar, at(s0, 0))
    add_snapshots(settings, webinar, [(at(s0, 0), 3, 4), (at(s0, 60), 5, 6)])
    url = f"/api/webinars/{webinar}/stats/concurrency"
    answer = client.get(url, params={"format": "csv"}, headers=ADMIN)
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        answer.headers["content-disposition"] == f'attachment; filename="concurrency-{webinar}.csv"'
    )
    assert list(csv.reader(io.StringIO(answer.text))) == [
        ["at", "viewers", "active_sessions"],
        [iso(at(s0, 0)), "3", "4"],
        [iso(at(s0, 60)), "5", "6"],
    ]
    bad = client.get(url, params={"format": "xml"}, headers=ADMIN)
    assert (bad.status_code, bad.json()["error"]) == (422, "invalid_field")
