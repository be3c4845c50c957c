"""What the contract says the service owes a person, from the ledger alone.

The ledger holds the truth (when each tab was really visible) and the server's
heartbeats (the requests it acknowledged). The server can credit only what it can know
(SPEC R-SEM-2, R-SEM-4, R-SEM-5): the stretch between two consecutive heartbeats of a
session, capped at ``interval * multiplier``, iff the tab was visible at its start. The
client pings at every visibility change, so "visible at the start" is the truth of the
whole stretch, and the owed time of a session is

    truth-visible  intersected with  the union of
    [heartbeat_i, min(heartbeat_i+1, heartbeat_i + cap))  over its heartbeats

which leaves out, by the contract and nothing else: what a tab closed without a beacon
watched after its last acknowledged ping (the sweeper closes it there), what a stretch
longer than the cap watched past the cap, and the moments between a session the server
closed and the next one. A person is owed the union of their sessions' owed time
within the content window (a second watched in two tabs counts once, R-STATS).

Heartbeats are stamped when the viewer sent the request, the server when it ran it:
the difference is the request latency, which is all the verifier's tolerance is for.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from loadtest import intervals
from loadtest.intervals import Interval
from loadtest.ledger import Session


def creditable(session: Session, cap_ms: int) -> list[Interval]:
    """The stretches the server may credit: heartbeat to heartbeat, at most the cap."""
    beats = sorted(session.heartbeats)
    return [(a, min(b, a + cap_ms)) for a, b in itertools.pairwise(beats)]


def owed(session: Session, cap_ms: int) -> list[Interval]:
    return intervals.intersect(session.visible, creditable(session, cap_ms))


def owed_ms(sessions: Iterable[Session], window: Interval, cap_ms: int) -> int:
    """A person's owed watch time: the union over their sessions, clipped to the window."""
    owed_time = [i for s in sessions for i in owed(s, cap_ms)]
    return intervals.length(intervals.intersect(owed_time, [window]))


def last_seen(session: Session) -> int:
    """Where the server ends the session: its last heartbeat (the exit, if accepted)."""
    return max(session.heartbeats, default=session.opened_at)


def reported(session: Session, content_from: int, collect_to: int) -> bool:
    """Whether the report counts the session: it must end after the content starts
    and begin before the collect window ends (R-STATS)."""
    return session.opened_at < collect_to and last_seen(session) > content_from
