"""The fields of a session's hashes, named once for Python and for the Lua scripts.

``scripts.py`` prepends ``lua_constants()`` to every script, so the scripts that read or
retire whole sessions (collect.lua, ack.lua) take these lists instead of spelling them,
and lib.lua labels people as ``keys.viewer`` does.
"""

from __future__ import annotations

from typing import NamedTuple

from watchtime import keys


class Hot(NamedTuple):
    """The session hash fields the flusher reads (collect.lua reads them by these names);
    None where absent. Times in ms."""

    user_id: str | None
    entered_at: str | None
    last_heartbeat_at: str | None
    watched_ms: str | None
    visible: str | None
    active: str | None
    exited_at: str | None
    closed_reason: str | None
    ping_count: str | None
    version: str | None
    stored: str | None  # set once the row is in Postgres
    logged: str | None  # bytes of the interval log in Postgres, trimmed from it in Redis
    active_logged: str | None  # likewise of the active interval log
    run_from: str | None  # the current runs of watched and active time (lib.lua log_credit)
    run_to: str | None
    active_run_from: str | None
    active_run_to: str | None


class Details(NamedTuple):
    """The write-once details of a session (the extras hash), read until its row is stored."""

    user_agent: str | None = None
    referrer: str | None = None
    ip_address: str | None = None
    agency_id: str | None = None
    client_id: str | None = None
    visitor_id: str | None = None


# A session hash holds the fields the flusher reads and the last ping's request id; a
# session closed and written to Postgres keeps only its tombstone (ack.lua).
SESSION_FIELDS = (*Hot._fields, "last_request")
TOMBSTONE_FIELDS = ("user_id", "closed_reason")
RETIRED_FIELDS = tuple(field for field in SESSION_FIELDS if field not in TOMBSTONE_FIELDS)


_LUA_LISTS = {
    "HOT_FIELDS": Hot._fields,
    "DETAIL_FIELDS": Details._fields,
    "RETIRED_FIELDS": RETIRED_FIELDS,
}


def lua_constants(script: str) -> str:
    """The person labels' prefixes (``keys.viewer``) and the field lists ``script`` names,
    as Lua locals: a script builds its locals on every call, so only those it uses."""
    prefixes = f"{keys.USER_PREFIX!r}, {keys.GUEST_PREFIX!r}"
    lists = "".join(
        f"local {name} = {{{', '.join(repr(f) for f in names)}}}\n"
        for name, names in _LUA_LISTS.items()
        if name in script
    )
    return f"local USER_PREFIX, GUEST_PREFIX = {prefixes}\n{lists}"
