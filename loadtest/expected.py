"""What the contract says the service owes a person, from the ledger alone.

The ledger holds the truth (when each tab was really visible) and the server's
heartbeats (the requests it acknowledged). The server can credit only what it can know
(R-SEM-2, R-SEM-4, R-SEM-5): the stretch between two consecutive heartbeats of a
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

Owed time is computed at the moments the viewer sent its requests. The server stamps a
request when its script runs, somewhere between that moment and the answer: so each
edge of the owed time may lie later on the server by up to that request's latency (a
flip is known at the flip ping, R-SEM-2). ``allowance_ms`` adds those latencies up,
edge by edge and by direction: the part of a difference that request latency can
explain, and no more.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from loadtest import intervals
from loadtest.intervals import Interval
from loadtest.ledger import Session


def sent_times(session: Session) -> list[int]:
    return sorted(sent for sent, _ in session.heartbeats)


def creditable(session: Session, cap_ms: int) -> list[Interval]:
    """The stretches the server may credit: heartbeat to heartbeat, at most the cap."""
    beats = sent_times(session)
    return [(a, min(b, a + cap_ms)) for a, b in itertools.pairwise(beats)]


def owed(sessions: Iterable[Session], window: Interval, cap_ms: int) -> list[Interval]:
    """A person's owed watch time: the union over their sessions, clipped to the window."""
    per_session = [
        i for s in sessions for i in intervals.intersect(s.visible, creditable(s, cap_ms))
    ]
    return intervals.intersect(per_session, [window])


def allowance_ms(
    owed_time: list[Interval], sessions: Iterable[Session], cap_ms: int
) -> tuple[int, int]:
    """How far request latency can move the server's credit from ``owed_time``: less by
    the latencies of the requests that made its start edges (stamped later, a stretch
    starts later), more by those that made its end edges. A capped stretch ends ``cap``
    after the request that began it, and moves with it. Edges no request made (the
    content window's) cannot move. Returns (less, more)."""
    latency: dict[int, int] = {}
    for session in sessions:
        for sent, answered in session.heartbeats:
            for edge in (sent, sent + cap_ms):
                latency[edge] = max(latency.get(edge, 0), answered - sent)
    less = sum(latency.get(start, 0) for start, _ in owed_time)
    more = sum(latency.get(end, 0) for _, end in owed_time)
    return less, more


def last_seen(session: Session) -> int:
    """Where the server ends the session: its last heartbeat (the exit, if accepted)."""
    return max(sent_times(session), default=session.opened_at)


def reported(session: Session, content_from: int, collect_to: int) -> bool:
    """Whether the report counts the session: it must end after the content starts
    and begin before the collect window ends (R-STATS)."""
    return session.opened_at < collect_to and last_seen(session) > content_from
