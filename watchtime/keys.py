"""The Redis state contract shared by gateway, flusher and sweeper.

Every key of one webinar carries the hash tag ``{<webinar_id>}`` so that a Lua
script touching them runs on one Redis Cluster slot (R-ARCH-3). Key names live here
and nowhere else.
"""

from __future__ import annotations

import functools
from uuid import UUID

PREFIX = "wt"

# The working set of flusher and sweeper: webinars with something open, present or not
# yet written, found here instead of by a keyspace scan; their work follows live work,
# not every webinar ever created (R-EXT-1). A webinar joins when its schedule is mirrored
# and again on its first change after it rested (rest.lua). Score: when it joined, ms.
REGISTRY = f"{PREFIX}:webinars"


@functools.lru_cache(maxsize=4096)
def tag(webinar_id: UUID) -> str:
    """The hash-tagged prefix of a webinar's keys (cached: a few webinars take every ping)."""
    return f"{PREFIX}:{{{webinar_id}}}"


def meta(webinar_id: UUID) -> str:
    """Hash: the webinar schedule mirrored from Postgres (ms since the epoch)."""
    return f"{tag(webinar_id)}:meta"


def session(webinar_id: UUID, session_id: str) -> str:
    """Hash: one session's hot fields (``fields.SESSION_FIELDS``), each value <= 64 bytes so
    Redis keeps the compact encoding. Once closed and in Postgres, a tombstone
    (``fields.TOMBSTONE_FIELDS``)."""
    return f"{tag(webinar_id)}:s:{session_id}"


def extras(webinar_id: UUID, session_id: str) -> str:
    """Hash: write-once details (``fields.Details``), kept apart because they are long."""
    return f"{tag(webinar_id)}:e:{session_id}"


def intervals(webinar_id: UUID, session_id: str) -> str:
    """String: the session's credited visible intervals, big-endian int64 ms pairs."""
    return f"{tag(webinar_id)}:i:{session_id}"


def active_intervals(webinar_id: UUID, session_id: str) -> str:
    """String: the credited intervals the client also began active (R-EXT-5), as
    ``intervals``."""
    return f"{tag(webinar_id)}:ai:{session_id}"


def active(webinar_id: UUID) -> str:
    """Sorted set: a signed-in viewer's open session -> last heartbeat (ms), which is also
    its last change (a guest's is in ``guests``)."""
    return f"{tag(webinar_id)}:active"


def guests(webinar_id: UUID) -> str:
    """Sorted set: a guest's open session -> last heartbeat (ms), its last change and its
    presence: a guest is one session, so no entry in ``presence`` to write per ping."""
    return f"{tag(webinar_id)}:guests"


def indexes(webinar_id: UUID) -> tuple[str, str]:
    """The sorted sets of a webinar's open sessions, scored by last heartbeat."""
    return active(webinar_id), guests(webinar_id)


def presence(webinar_id: UUID) -> str:
    """Sorted set: signed-in viewer (user:<id>) -> last ping (ms). (Guests as guest:<session>
    were written here by older releases: each leaves at its next ping or its close.)"""
    return f"{tag(webinar_id)}:presence"


def closed(webinar_id: UUID) -> str:
    """Sorted set: closed session -> when it closed (ms), until the flusher has written it."""
    return f"{tag(webinar_id)}:closed"


def flushed(webinar_id: UUID) -> str:
    """String: the flusher's watermark (ms). Every open session scored below it in
    ``active`` or ``guests`` is in Postgres as it is now; those at or after it are written
    next."""
    return f"{tag(webinar_id)}:flushed"


def tabs(webinar_id: UUID) -> str:
    """Hash: signed-in viewer -> number of open sessions, so the last tab's exit ends
    presence (a guest is one session, not counted)."""
    return f"{tag(webinar_id)}:tabs"


def session_record(webinar_id: UUID, session_id: str) -> tuple[str, str, str, str]:
    """The keys the flusher reads and retires together: hot fields, details, interval log,
    active interval log."""
    return (
        session(webinar_id, session_id),
        extras(webinar_id, session_id),
        intervals(webinar_id, session_id),
        active_intervals(webinar_id, session_id),
    )


def lease(webinar_id: UUID, job: str) -> str:
    """String: the replica (flusher or sweeper) working on this webinar now."""
    return f"{tag(webinar_id)}:lease:{job}"


def session_keys(webinar_id: UUID, session_id: str) -> list[str]:
    """KEYS of the track and exit scripts, in the order they expect: the webinar's keys,
    then the session's. A call of the ping script sends the webinar's once, then each
    ping's session keys (``webinar_keys`` and ``session_record``)."""
    return [*webinar_keys(webinar_id), *session_record(webinar_id, session_id)]


@functools.lru_cache(maxsize=4096)
def webinar_keys(webinar_id: UUID) -> tuple[str, ...]:
    """The keys every session script of a webinar shares, built once per webinar (a few
    webinars take every ping)."""
    return (
        meta(webinar_id),
        active(webinar_id),
        presence(webinar_id),
        closed(webinar_id),
        tabs(webinar_id),
        guests(webinar_id),
    )


# The label of a person, in presence and in reports: the scripts get these prefixes from
# fields.lua_constants; the reports' SQL (migration 0005, immutable) spells them too.
USER_PREFIX, GUEST_PREFIX = "user:", "guest:"


def viewer(user_id: str, session_id: str) -> str:
    """One person of the reports: a user, or a guest's single session."""
    return f"{USER_PREFIX}{user_id}" if user_id else f"{GUEST_PREFIX}{session_id}"
