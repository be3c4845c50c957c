"""Sessions as Postgres rows: the columns of the flusher's one batched upsert."""

from __future__ import annotations

import ipaddress
from typing import Any
from uuid import UUID

from watchtime.sessions import Collected

# One unnest() array per column; timestamps travel as epoch ms and are converted by
# Postgres, which is cheaper than building a datetime per row here.
UPSERT = """
INSERT INTO webinar_user_sessions AS s (
    webinar_id, session_id, user_id, entered_at, exited_at, last_heartbeat_at,
    watched_seconds_raw, watched_intervals, closed_reason, is_visible, is_active, ping_count,
    user_agent, referrer, ip_address, agency_id, client_id, version, visitor_id,
    active_intervals)
SELECT w, sid, u, to_timestamp(ent / 1000.0), to_timestamp(ex / 1000.0), to_timestamp(hb / 1000.0),
       wms / 1000.0, iv::int8multirange, cr, vis, act, pc, ua, ref, ip, ag, cl, v, vid,
       ai::int8multirange
FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int8[], $5::int8[], $6::int8[], $7::int8[],
            $8::text[], $9::text[], $10::bool[], $11::bool[], $12::int4[], $13::text[],
            $14::text[], $15::inet[], $16::text[], $17::text[], $18::int8[], $19::text[],
            $20::text[])
     AS t(w, sid, u, ent, ex, hb, wms, iv, cr, vis, act, pc, ua, ref, ip, ag, cl, v, vid, ai)
ON CONFLICT (webinar_id, session_id, entered_at) DO UPDATE SET
    exited_at = excluded.exited_at,
    last_heartbeat_at = excluded.last_heartbeat_at,
    watched_seconds_raw = excluded.watched_seconds_raw,
    watched_intervals = s.watched_intervals + excluded.watched_intervals,  -- what is new
    active_intervals = s.active_intervals + excluded.active_intervals,
    closed_reason = excluded.closed_reason,
    is_visible = excluded.is_visible,
    is_active = excluded.is_active,
    ping_count = excluded.ping_count,
    version = excluded.version,
    updated_at = now()
WHERE s.version < excluded.version  -- a replayed or overtaken batch changes nothing
"""

COLUMN_COUNT = 20


def intervals_literal(intervals: list[tuple[int, int]]) -> str:
    """Intervals [from, to) in ms as an int8multirange literal."""
    return "{" + ",".join(f"[{a},{b})" for a, b in intervals) + "}"


def _ip(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _required(value: int | None) -> int:
    """A field every open or closed session has (scripts write them together)."""
    if value is None:
        raise ValueError("a session hash without its core fields")
    return value


def row(webinar_id: UUID, session: Collected) -> tuple[Any, ...]:
    h, d = session.hot, session.details
    return (
        webinar_id,
        session.session_id,
        h.user_id or None,
        _required(h.entered_at),
        h.exited_at,
        _required(h.last_heartbeat_at),
        _required(h.watched_ms),
        intervals_literal(session.intervals),
        h.closed_reason,
        h.visible == "1",
        h.active == "1",
        _required(h.ping_count),
        d.user_agent,
        d.referrer,
        _ip(d.ip_address),
        d.agency_id,
        d.client_id,
        _required(h.version),
        d.visitor_id,
        intervals_literal(session.active_intervals),
    )


def columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows transposed into the upsert's arrays."""
    return [list(column) for column in zip(*rows, strict=True)] or [[]] * COLUMN_COUNT
