"""The watch-time report (R-STATS): one row per person, computed in Postgres.

``watched`` is the union of the credited visible intervals of all the person's
sessions, clipped to the content window as it is *now*: a second watched in two tabs
counts once, and a schedule corrected after the fact changes the next report exactly.
``present`` is the original design's per-session overlap with the content window,
summed per person and capped at the content duration.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from watchtime.clock import epoch_ms
from watchtime.errors import postgres_boundary
from watchtime.webinars import Webinar

# A session counts if it overlaps [content start, collect end); an open session ends
# now if heard from within the stale limit, else at its last heartbeat. Times in ms.
PERSONS = """
WITH p AS (
    SELECT $1::uuid AS webinar_id, $2::int8 AS content_from, $3::int8 AS content_to,
           $4::int8 AS now_ms, $5::int8 AS stale_ms, $6::int8 AS collect_to
), sessions AS (
    SELECT
        CASE WHEN s.user_id IS NULL THEN 'guest:' || s.session_id ELSE 'user:' || s.user_id END
            AS viewer,
        s.user_id,
        s.entered_at,
        COALESCE(s.exited_at, s.last_heartbeat_at) AS last_seen_at,
        (extract(epoch FROM s.entered_at) * 1000)::int8 AS entered_ms,
        CASE
            WHEN s.exited_at IS NOT NULL THEN (extract(epoch FROM s.exited_at) * 1000)::int8
            WHEN (extract(epoch FROM s.last_heartbeat_at) * 1000)::int8 >= p.now_ms - p.stale_ms
                THEN p.now_ms
            ELSE (extract(epoch FROM s.last_heartbeat_at) * 1000)::int8
        END AS ended_ms,
        s.watched_intervals
    FROM webinar_user_sessions AS s, p
    WHERE s.webinar_id = p.webinar_id AND s.entered_at < to_timestamp(p.collect_to / 1000.0)
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
            range_agg(watched_intervals) * int8multirange(int8range(p.content_from, p.content_to))
        ) AS watched_ms,
        min(entered_at) AS first_entered_at,
        max(last_seen_at) AS last_seen_at
    FROM sessions, p
    WHERE ended_ms > p.content_from
    GROUP BY viewer, user_id, p.content_from, p.content_to
)"""

# One statement: the summary over everybody, and one page of people: $7 rows after the
# cursor ($8 watched ms, $9 viewer), ordered by watched descending, then viewer.
REPORT = (
    PERSONS
    + """,
summary AS (
    SELECT
        count(*) AS people,  -- not "viewers" and "sessions": the page's columns follow
        COALESCE(sum(sessions), 0)::int8 AS all_sessions,
        avg(watched_ms) AS avg_watched_ms,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY watched_ms) AS median_watched_ms,
        percentile_cont(0.9) WITHIN GROUP (ORDER BY watched_ms) AS p90_watched_ms,
        avg(present_ms) AS avg_present_ms
    FROM persons
)
SELECT summary.*, page.*
FROM summary LEFT JOIN LATERAL (
    SELECT * FROM persons
    WHERE $8::int8 IS NULL OR watched_ms < $8::int8 OR (watched_ms = $8::int8 AND viewer > $9::text)
    ORDER BY watched_ms DESC, viewer
    LIMIT $7::int8
) AS page ON true
"""
)


class Window(msgspec.Struct, frozen=True):
    """The content window and the collect window's end, in ms since the epoch."""

    content_from: int
    content_to: int
    collect_to: int

    @property
    def duration_ms(self) -> int:
        return self.content_to - self.content_from

    @classmethod
    def of(cls, webinar: Webinar, now_ms: int) -> Window:
        """A webinar without an end yet is reported up to now."""
        start = epoch_ms(webinar.webinar_start_time)
        end = epoch_ms(webinar.content_end) if webinar.content_end else now_ms
        end = max(start, end)
        return cls(start, end, end + webinar.post_window_minutes * 60_000)


class Person(msgspec.Struct):
    viewer: str
    user_id: UUID | None
    sessions: int
    watched_seconds: float
    present_seconds: float
    first_entered_at: datetime
    last_seen_at: datetime


class Summary(msgspec.Struct):
    viewers: int
    sessions: int
    avg_watched_seconds: float
    median_watched_seconds: float
    p90_watched_seconds: float
    avg_present_seconds: float
    avg_watched_share: float  # of the content duration, 0..1


class Page(msgspec.Struct):
    summary: Summary
    viewers: list[Person]
    next_cursor: str | None


def _seconds(ms: Any) -> float:
    return round(float(ms or 0) / 1000, 3)


def _person(row: asyncpg.Record) -> Person:
    return Person(
        row["viewer"], row["user_id"], row["sessions"], _seconds(row["watched_ms"]),
        _seconds(row["present_ms"]), row["first_entered_at"], row["last_seen_at"],
    )  # fmt: skip


def _summary(row: asyncpg.Record, window: Window) -> Summary:
    avg_watched_ms = float(row["avg_watched_ms"] or 0)
    share = avg_watched_ms / window.duration_ms if window.duration_ms else 0.0
    return Summary(
        row["people"], row["all_sessions"], _seconds(avg_watched_ms),
        _seconds(row["median_watched_ms"]), _seconds(row["p90_watched_ms"]),
        _seconds(row["avg_present_ms"]), round(share, 4),
    )  # fmt: skip


def encode_cursor(watched_ms: int, viewer: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([watched_ms, viewer]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Raises ValueError for anything but a cursor this module made."""
    watched_ms, viewer = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    if not isinstance(watched_ms, int) or not isinstance(viewer, str):
        raise ValueError("not a report cursor")
    return watched_ms, viewer


async def watch_time(
    pg: asyncpg.Pool,
    webinar_id: UUID,
    window: Window,
    now_ms: int,
    stale_ms: int,
    limit: int,
    cursor: str | None = None,
) -> Page:
    after = decode_cursor(cursor) if cursor else (None, None)
    args = (webinar_id, window.content_from, window.content_to, now_ms, stale_ms,
            window.collect_to, limit, *after)  # fmt: skip
    with postgres_boundary():
        rows = await pg.fetch(REPORT, *args)
    people = [_person(r) for r in rows if r["viewer"] is not None]
    last = rows[-1] if people else None
    more = last is not None and len(people) == limit
    next_cursor = encode_cursor(last["watched_ms"], last["viewer"]) if more and last else None
    return Page(_summary(rows[0], window), people, next_cursor)
