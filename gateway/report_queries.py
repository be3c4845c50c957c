"""The watch-time report (R-STATS, R-EXT-5): one row per person, computed in Postgres.

``watched`` is the union of the credited visible intervals of all the person's
sessions, clipped to the content window as it is *now*: a second watched in two tabs
counts once, and a schedule corrected after the fact changes the next report exactly.
``present`` is the original design's per-session overlap with the content window,
summed per person and capped at the content duration. ``active`` is the part of
``watched`` the client also reported active (R-EXT-5): the union of the sessions'
active intervals, within the watched union, clipped the same way.

A report is taken as of one moment, its snapshot: the first page fixes the moment and
the windows, and the cursor of every later page carries them. People come in the order
of their label (``viewer``, byte order), along an index, so a page reads the sessions
of its own people only; a label never changes, so each person of the snapshot is on
exactly one page, whatever pings, flushes, closes and arrivals happen between pages.
Sessions that began after the moment are left out (someone who arrives during paging is
in the next report, not this one) and credited intervals are clipped at it.
"""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from gateway.devices import Device, classify
from watchtime.clock import epoch_ms
from watchtime.errors import postgres_boundary
from watchtime.webinars import Webinar

# The person of a session, as the index webinar_user_sessions_viewer orders it.
VIEWER = 'watchtime_viewer(s.user_id, s.visitor_id, s.session_id) COLLATE "C"'

# Times in ms. Intervals count up to the snapshot's moment, within the content window.
PARAMS = """WITH p AS NOT MATERIALIZED (
    SELECT $1::uuid AS webinar_id, $2::int8 AS content_from, $3::int8 AS content_to,
           $4::int8 AS now_ms, $5::int8 AS stale_ms, $6::int8 AS collect_to,
           greatest($2::int8, least($3::int8, $4::int8)) AS counted_to
)"""

# An open session ends now if heard from within the stale limit, else at its last
# heartbeat; one that closed after the snapshot was open then.
ENDED_MS = """least(p.now_ms, CASE
        WHEN s.exited_at IS NOT NULL THEN (extract(epoch FROM s.exited_at) * 1000)::int8
        WHEN (extract(epoch FROM s.last_heartbeat_at) * 1000)::int8 >= p.now_ms - p.stale_ms
            THEN p.now_ms
        ELSE (extract(epoch FROM s.last_heartbeat_at) * 1000)::int8
    END)"""

# A session counts if it overlaps [content start, collect end) before the snapshot.
COUNTS = f"""s.webinar_id = p.webinar_id
        AND s.entered_at < to_timestamp(least(p.collect_to, p.now_ms) / 1000.0)
        AND {ENDED_MS} > p.content_from"""


def persons(ctes: str = "", where: str = "") -> str:
    """The people whose sessions pass ``where``, after the CTEs ``ctes`` (which may
    narrow them down)."""
    return f"""{PARAMS}{ctes}, sessions AS (
    SELECT
        {VIEWER} AS viewer,
        s.user_id,
        s.entered_at,
        s.user_agent,
        least(COALESCE(s.exited_at, s.last_heartbeat_at), to_timestamp(p.now_ms / 1000.0))
            AS last_seen_at,
        (extract(epoch FROM s.entered_at) * 1000)::int8 AS entered_ms,
        {ENDED_MS} AS ended_ms,
        s.watched_intervals,
        s.active_intervals
    FROM webinar_user_sessions AS s, p
    WHERE {COUNTS} {where}
), persons AS (
    SELECT
        viewer,
        user_id,
        count(*) AS sessions,
        least(
            sum(greatest(0, least(ended_ms, p.content_to) - greatest(entered_ms, p.content_from))),
            p.content_to - p.content_from
        )::int8 AS present_ms,
        watchtime_length_ms(
            range_agg(watched_intervals) * int8multirange(int8range(p.content_from, p.counted_to))
        ) AS watched_ms,
        watchtime_length_ms(
            range_agg(active_intervals) * range_agg(watched_intervals)
            * int8multirange(int8range(p.content_from, p.counted_to))
        ) AS active_ms,
        min(entered_at) AS first_entered_at,
        max(last_seen_at) AS last_seen_at,
        (array_agg(user_agent ORDER BY entered_at))[1] AS user_agent
    FROM sessions, p
    GROUP BY viewer, user_id, p.content_from, p.content_to, p.counted_to
)"""


# The next $8 people after the label $7 ('' before the first), in label order: their
# labels first, from the index, then their sessions only.
PAGE = (
    persons(
        f""", page AS (
    SELECT DISTINCT {VIEWER} AS viewer
    FROM webinar_user_sessions AS s, p
    WHERE {COUNTS} AND {VIEWER} > $7::text
    ORDER BY viewer
    LIMIT $8::int8
)""",
        f"AND {VIEWER} > $7::text AND {VIEWER} <= (SELECT max(viewer) FROM page)",
    )
    + "\nSELECT * FROM persons ORDER BY viewer"
)

# Everybody's figures, and how many people came with each first user agent.
SUMMARY = (
    persons()
    + """, agents AS (  -- in one pass, so that both arrays are in the same order
    SELECT array_agg(user_agent) AS user_agents, array_agg(people) AS agent_people
    FROM (SELECT user_agent, count(*) AS people FROM persons GROUP BY user_agent) AS a
)
SELECT
    count(*) AS people,
    COALESCE(sum(sessions), 0)::int8 AS all_sessions,
    avg(watched_ms) AS avg_watched_ms,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY watched_ms) AS median_watched_ms,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY watched_ms) AS p90_watched_ms,
    avg(present_ms) AS avg_present_ms,
    avg(active_ms) AS avg_active_ms,
    (SELECT user_agents FROM agents) AS user_agents,
    (SELECT agent_people FROM agents) AS agent_people
FROM persons
"""
)


class Window(msgspec.Struct, frozen=True, array_like=True):
    """A report's moment and windows, in ms since the epoch: the content window and
    the collect window's end as the schedule said at that moment."""

    content_from: int
    content_to: int
    collect_to: int
    now_ms: int

    @property
    def duration_ms(self) -> int:
        return self.content_to - self.content_from

    @classmethod
    def of(cls, webinar: Webinar, now_ms: int) -> Window:
        """A webinar without an end yet is reported up to now."""
        start = epoch_ms(webinar.webinar_start_time)
        end = epoch_ms(webinar.content_end) if webinar.content_end else now_ms
        end = max(start, end)
        return cls(start, end, end + webinar.post_window_minutes * 60_000, now_ms)


class Cursor(msgspec.Struct, frozen=True, array_like=True):
    """Where the next page starts: after the person ``after``, in the same snapshot."""

    window: Window
    after: str


class Person(msgspec.Struct):
    viewer: str
    user_id: UUID | None
    sessions: int
    watched_seconds: float
    active_seconds: float  # of watched_seconds
    present_seconds: float
    first_entered_at: datetime
    last_seen_at: datetime
    device: Device
    browser: str


class Summary(msgspec.Struct):
    viewers: int
    sessions: int
    avg_watched_seconds: float
    median_watched_seconds: float
    p90_watched_seconds: float
    avg_present_seconds: float
    avg_active_seconds: float
    avg_watched_share: float  # of the content duration, 0..1
    devices: dict[Device, int]  # people by the device class of their first session
    browsers: dict[str, int]  # people by the browser of their first session, most first


class Page(msgspec.Struct):
    window: Window
    summary: Summary | None  # the first page only: it is over everybody
    viewers: list[Person]
    next_cursor: str | None


def _seconds(ms: Any) -> float:
    return round(float(ms or 0) / 1000, 3)


def _person(row: asyncpg.Record) -> Person:
    device, browser = classify(row["user_agent"])
    return Person(
        row["viewer"],
        row["user_id"],
        row["sessions"],
        _seconds(row["watched_ms"]),
        _seconds(row["active_ms"]),
        _seconds(row["present_ms"]),
        row["first_entered_at"],
        row["last_seen_at"],
        device,
        browser,
    )


def _mix(row: asyncpg.Record) -> tuple[dict[Device, int], dict[str, int]]:
    """People per device class (every class, zeros too) and per browser."""
    devices: Counter[Device] = Counter({device: 0 for device in Device})
    browsers: Counter[str] = Counter()
    for agent, people in zip(row["user_agents"] or (), row["agent_people"] or (), strict=True):
        device, browser = classify(agent)
        devices[device] += people
        browsers[browser] += people
    return dict(devices), dict(sorted(browsers.items(), key=lambda b: (-b[1], b[0])))


def _summary(row: asyncpg.Record, window: Window) -> Summary:
    avg_watched_ms = float(row["avg_watched_ms"] or 0)
    share = avg_watched_ms / window.duration_ms if window.duration_ms else 0.0
    return Summary(
        row["people"],
        row["all_sessions"],
        _seconds(avg_watched_ms),
        _seconds(row["median_watched_ms"]),
        _seconds(row["p90_watched_ms"]),
        _seconds(row["avg_present_ms"]),
        _seconds(row["avg_active_ms"]),
        round(share, 4),
        *_mix(row),
    )


def encode_cursor(cursor: Cursor) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).decode()


def decode_cursor(text: str) -> Cursor:
    """Raises ValueError for anything but a cursor this module made."""
    try:
        return msgspec.json.decode(base64.urlsafe_b64decode(text.encode()), type=Cursor)
    except (msgspec.DecodeError, ValueError) as e:
        raise ValueError("not a report cursor") from e


def _args(webinar_id: UUID, window: Window, stale_ms: int) -> tuple[Any, ...]:
    return (
        webinar_id,
        window.content_from,
        window.content_to,
        window.now_ms,
        stale_ms,
        window.collect_to,
    )


async def summary(pg: asyncpg.Pool, webinar_id: UUID, window: Window, stale_ms: int) -> Summary:
    with postgres_boundary():
        row = await pg.fetchrow(SUMMARY, *_args(webinar_id, window, stale_ms))
    return _summary(row, window)


async def people(
    pg: asyncpg.Pool, webinar_id: UUID, stale_ms: int, limit: int, cursor: Cursor
) -> tuple[list[Person], Cursor | None]:
    """A page of people after the cursor's, and the cursor after it (None at the end)."""
    args = _args(webinar_id, cursor.window, stale_ms)
    with postgres_boundary():
        rows = await pg.fetch(PAGE, *args, cursor.after, limit)
    page = [_person(r) for r in rows]
    more = len(page) == limit
    return page, Cursor(cursor.window, page[-1].viewer) if more else None


async def watch_time(
    pg: asyncpg.Pool, webinar_id: UUID, stale_ms: int, limit: int, cursor: Cursor
) -> Page:
    """A page; with the summary too on the first one (no one ``after`` yet)."""
    window = cursor.window
    listing = people(pg, webinar_id, stale_ms, limit, cursor)
    if cursor.after:
        figures = None
        page, following = await listing
    else:
        figures, (page, following) = await asyncio.gather(
            summary(pg, webinar_id, window, stale_ms), listing
        )
    next_cursor = encode_cursor(following) if following else None
    return Page(window, figures, page, next_cursor)
