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
from collections.abc import Iterable, Iterator

import msgspec

from loadtest import intervals
from loadtest.intervals import Interval
from loadtest.ledger import Session


def sent_times(session: Session) -> list[int]:
    return sorted(sent for sent, _ in session.heartbeats)


def creditable(session: Session, cap_ms: int) -> list[Interval]:
    """The stretches the server may credit: heartbeat to heartbeat, at most the cap."""
    beats = sent_times(session)
    return [(a, min(b, a + cap_ms)) for a, b in itertools.pairwise(beats)]


def session_owed(session: Session, cap_ms: int) -> list[Interval]:
    """One session's owed time: really visible and creditable."""
    return intervals.intersect(session.visible, creditable(session, cap_ms))


def owed(sessions: Iterable[Session], window: Interval, cap_ms: int) -> list[Interval]:
    """A person's owed watch time: the union over their sessions, clipped to the window."""
    per_session = [i for s in sessions for i in session_owed(s, cap_ms)]
    return intervals.intersect(per_session, [window])


def allowance_ms(sessions: Iterable[Session], window: Interval, cap_ms: int) -> tuple[int, int]:
    """How far request latency can move the server's credit from the owed time: less by
    the latencies of the requests that made its start edges (stamped later, a stretch
    starts later), more by those that made its end edges. A capped stretch ends ``cap``
    after the request that began it, and moves with it. Edges no request made (the
    content window's) cannot move. Each session's edges move before the union: a tab's
    late start may uncover time another tab's owed time had hidden. Returns (less, more)."""
    owed_time: list[Interval] = []
    least: list[Interval] = []
    most: list[Interval] = []
    for session in sessions:
        latency = _latencies(session, cap_ms)
        for start, end in session_owed(session, cap_ms):
            owed_time.append((start, end))
            least.append((start + latency.get(start, 0), end))
            most.append((start, end + latency.get(end, 0)))
    base = intervals.length(intervals.intersect(owed_time, [window]))
    fewest = intervals.length(intervals.intersect(least, [window]))
    return base - fewest, intervals.length(intervals.intersect(most, [window])) - base


def _latencies(session: Session, cap_ms: int) -> dict[int, int]:
    """Edge -> the latency of the request that made it (its answer - its sending)."""
    latency: dict[int, int] = {}
    for sent, answered in session.heartbeats:
        for edge in (sent, sent + cap_ms):
            latency[edge] = max(latency.get(edge, 0), answered - sent)
    return latency


def outcomes(sessions: list[Session]) -> Iterator[list[Session]]:
    """Every way the server may have ended a person's sessions: a beacon sent late
    (``late_exit``) either applied or met a session the sweeper had closed at the
    heartbeat before it (R-SEM-5), which the contract allows alike."""
    choices = [(s, _swept(s)) if s.ended_by == "late_exit" else (s,) for s in sessions]
    return (list(outcome) for outcome in itertools.product(*choices))


def _swept(session: Session) -> Session:
    """The session without its beacon and the news the beacon carried (answered with it)."""
    beacon_answered = session.heartbeats[-1][1]
    kept = [beat for beat in session.heartbeats if beat[1] != beacon_answered]
    return msgspec.structs.replace(session, heartbeats=kept)


def last_seen(session: Session) -> int:
    """Where the server ends the session: its last heartbeat (the exit, if accepted)."""
    return max(sent_times(session), default=session.opened_at)


def reported(session: Session, content_from: int, collect_to: int) -> bool:
    """Whether the report counts the session: it must end after the content starts
    and begin before the collect window ends (R-STATS)."""
    return session.opened_at < collect_to and last_seen(session) > content_from
