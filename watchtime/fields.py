"""The fields of a session's hashes, named once for Python and for the Lua scripts.

``scripts.py`` prepends ``lua_constants()`` to every script, so the script that retires
whole sessions (ack.lua) takes these lists instead of spelling them, and lib.lua labels
people as ``keys.viewer`` does.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, get_args, get_type_hints

from watchtime import keys


class Hot(NamedTuple):
    """A session's fields as the flusher reads them (``hot``: the hash read whole, its
    packed `state` unpacked); None where absent. Times in ms. STATE's fields come last,
    in its order, so that one unpack fills them."""

    user_id: str | None
    entered_at: int | None
    exited_at: int | None
    closed_reason: str | None
    stored: str | None  # set once the row is in Postgres
    logged: int | None  # bytes of the interval log in Postgres, trimmed from it in Redis
    active_logged: int | None  # likewise of the active interval log
    log_end: int | None  # bytes ever appended to the interval log (None: not counted)
    active_log_end: int | None  # likewise to the active interval log
    last_heartbeat_at: int | None
    watched_ms: int | None
    run_from: int | None  # the current runs of watched and active time (lib.lua log_credit)
    run_to: int | None
    active_run_from: int | None
    active_run_to: int | None
    ping_count: int | None
    version: int | None
    visible: bool | None
    active: bool | None

    @property
    def logs_empty(self) -> bool:
        """Whether both interval logs are known to be empty: every byte appended is
        trimmed. A session an older release created does not count its bytes: unknown."""
        return (
            self.log_end is not None
            and self.active_log_end is not None
            and self.log_end == (self.logged or 0)
            and self.active_log_end == (self.active_logged or 0)
        )


class Details(NamedTuple):
    """The write-once details of a session (the extras hash), read until its row is stored."""

    user_agent: str | None = None
    referrer: str | None = None
    ip_address: str | None = None
    agency_id: str | None = None
    client_id: str | None = None
    visitor_id: str | None = None


# The fields every change of a session writes, packed into its hash's one `state` field:
# a ping then reads four fields and writes two instead of thirteen, about a fifth less
# Redis time (BENCHMARKS.md). Name and struct code, in their packed order (lib.lua
# unpacks in this order): integers big-endian (i8, i4), the two flags one character
# each. 58 bytes, within the 64 that keep the hash in Redis's compact encoding.
STATE = (
    ("last_heartbeat_at", "i8"),
    ("watched_ms", "i8"),
    ("run_from", "i8"),
    ("run_to", "i8"),
    ("active_run_from", "i8"),
    ("active_run_to", "i8"),
    ("ping_count", "i4"),
    ("version", "i4"),
    ("visible", "c1"),
    ("active", "c1"),
)
_PYTHON_CODES = {"i8": "q", "i4": "i", "c1": "c"}
STATE_FORMAT = ">" + "".join(code for _, code in STATE)  # Lua's struct
_STATE_STRUCT = struct.Struct(">" + "".join(_PYTHON_CODES[code] for _, code in STATE))

# A session hash holds Hot's fields, of which sessions written by an older release hold
# STATE's one by one and later ones pack them into `state`, and the last ping's request
# id; a session closed and written to Postgres keeps only its tombstone (ack.lua).
SESSION_FIELDS = (*Hot._fields, "state", "last_request")
TOMBSTONE_FIELDS = ("user_id", "closed_reason")
RETIRED_FIELDS = tuple(field for field in SESSION_FIELDS if field not in TOMBSTONE_FIELDS)


def session_hash(raw: Mapping[bytes, bytes]) -> dict[str, str]:
    """A session hash as read whole (``HGETALL``), its packed state as fields, all as
    text: what the tests and the benchmarks compare."""
    fields = {k.decode(): v.decode() for k, v in raw.items() if k != b"state"}
    if (packed := raw.get(b"state")) is not None:
        names = (name for name, _ in STATE)  # the flags as written: 1 or 0
        fields |= {name: str(int(v)) for name, v in zip(names, _unpack(packed), strict=True)}
    return fields


def hot(hash: Sequence[bytes]) -> Hot:
    """A session from the flusher's whole read of its hash (field, value, ...), its
    packed state unpacked: in one pass, as this is the flusher's cost per session."""
    values: list[str | int | bool | None] = [None] * len(Hot._fields)
    packed = None
    pairs = iter(hash)
    for name, value in zip(pairs, pairs, strict=True):
        if (reader := _READERS.get(name)) is not None:
            at, read = reader
            values[at] = read(value)
        elif name == b"state":
            packed = value
    if packed is not None:  # after the loop: it wins over an older release's fields
        values[_STATE_FROM:] = _unpack(packed)
    return Hot._make(values)


def _unpack(packed: bytes) -> list[int | bool]:
    """The values of a `state` field in STATE's order, the two flags as booleans."""
    *numbers, visible, active = _STATE_STRUCT.unpack(packed)
    return [*numbers, _flag(visible), _flag(active)]


def _flag(value: bytes) -> bool:
    return value == b"1"


def _reader(hint: object) -> Callable[[bytes], str | int | bool]:
    """How a field written one by one (an older release's layout) is read, as Hot types it."""
    kinds = get_args(hint)
    return int if int in kinds else _flag if bool in kinds else bytes.decode


# Each of Hot's fields: where it goes and how its bytes are read.
_READERS: dict[bytes, tuple[int, Callable[[bytes], str | int | bool]]] = {
    name.encode(): (at, _reader(hint))
    for at, (name, hint) in enumerate(get_type_hints(Hot).items())
}
_STATE_FROM = len(Hot._fields) - len(STATE)
if Hot._fields[_STATE_FROM:] != tuple(name for name, _ in STATE):
    raise TypeError("Hot must end with STATE's fields, in STATE's order")


_LUA_LISTS = {"RETIRED_FIELDS": RETIRED_FIELDS}


def lua_constants(script: str) -> str:
    """The person labels' prefixes (``keys.viewer``) and the field lists ``script`` names,
    as Lua locals: a script builds its locals on every call, so only those it uses."""
    prefixes = f"{keys.USER_PREFIX!r}, {keys.GUEST_PREFIX!r}"
    lists = "".join(
        f"local {name} = {{{', '.join(repr(f) for f in names)}}}\n"
        for name, names in _LUA_LISTS.items()
        if name in script
    )
    state = f"local STATE_FORMAT = {STATE_FORMAT!r}\n" if "STATE_FORMAT" in script else ""
    return f"local USER_PREFIX, GUEST_PREFIX = {prefixes}\n{lists}{state}"
