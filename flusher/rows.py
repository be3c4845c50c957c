"""Sessions as Postgres rows: the flusher's one batched upsert and its argument.

The batch travels as one JSON array of rows (``json_to_recordset``), encoded by msgspec
in C, where asyncpg encoded twenty arrays element by element: the flusher spends about a
tenth less per row, Postgres about as much more reading the JSON (BENCHMARKS.md,
``make bench-storage``), and a row is one typed struct instead of twenty parallel
columns. A field left out (``omit_defaults``) is NULL.
"""

from __future__ import annotations

import ipaddress
from typing import get_args, get_type_hints
from uuid import UUID

import msgspec

from watchtime.sessions import Collected


class Row(msgspec.Struct, omit_defaults=True):
    """One session's row as the upsert reads it; times in ms, intervals as int8multirange
    literals."""

    w: UUID  # webinar_id
    sid: str  # session_id
    ent: int  # entered_at
    hb: int  # last_heartbeat_at
    wms: int  # watched_seconds_raw, in ms
    iv: str  # watched_intervals not yet in Postgres
    ai: str  # active_intervals likewise
    vis: bool
    act: bool
    pc: int  # ping_count
    v: int  # version
    u: str | None = None  # user_id, made a uuid by the statement (as ip an inet)
    ex: int | None = None  # exited_at
    cr: str | None = None  # closed_reason
    ua: str | None = None  # user_agent, then the other details, sent until the row is stored
    ref: str | None = None
    ip: str | None = None
    ag: str | None = None
    cl: str | None = None
    vid: str | None = None


_SQL_TYPES = {UUID: "uuid", str: "text", int: "int8", bool: "bool"}


def _recordset() -> str:
    """``json_to_recordset``'s column definitions, from Row's fields and their types."""
    hints = get_type_hints(Row)
    types = {
        name: next(t for t in (hint, *get_args(hint)) if t in _SQL_TYPES)
        for name, hint in hints.items()
    }
    return ", ".join(f"{name} {_SQL_TYPES[kind]}" for name, kind in types.items())


UPSERT = f"""
INSERT INTO webinar_user_sessions AS s (
    webinar_id, session_id, user_id, entered_at, exited_at, last_heartbeat_at,
    watched_seconds_raw, watched_intervals, closed_reason, is_visible, is_active, ping_count,
    user_agent, referrer, ip_address, agency_id, client_id, version, visitor_id,
    active_intervals)
SELECT w, sid, u::uuid,
       to_timestamp(ent / 1000.0), to_timestamp(ex / 1000.0), to_timestamp(hb / 1000.0),
       wms / 1000.0, iv::int8multirange, cr, vis, act, pc, ua, ref, ip::inet, ag, cl, v, vid,
       ai::int8multirange
FROM json_to_recordset($1::json) AS t({_recordset()})
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

_ENCODER = msgspec.json.Encoder()


def encode(rows: list[Row]) -> str:
    """The upsert's one argument."""
    return _ENCODER.encode(rows).decode()


def intervals_literal(intervals: list[tuple[int, int]]) -> str:
    """Intervals [from, to) in ms as an int8multirange literal."""
    return "{" + ",".join([f"[{a},{b})" for a, b in intervals]) + "}"


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


def row(webinar_id: UUID, session: Collected) -> Row:
    h, d = session.hot, session.details
    return Row(
        webinar_id,
        session.session_id,
        _required(h.entered_at),
        _required(h.last_heartbeat_at),
        _required(h.watched_ms),
        intervals_literal(session.intervals),
        intervals_literal(session.active_intervals),
        bool(h.visible),
        bool(h.active),
        _required(h.ping_count),
        _required(h.version),
        h.user_id or None,
        h.exited_at,
        h.closed_reason,
        d.user_agent,
        d.referrer,
        _ip(d.ip_address),
        d.agency_id,
        d.client_id,
        d.visitor_id,
    )
