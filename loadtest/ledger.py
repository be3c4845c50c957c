"""The ledger: what every simulated viewer really did, written down as it happened.

Each session (one tab's stay, from its track to its close) records the intervals its
tab was really visible, the requests the server acknowledged (track, ping or exit
answered 2xx: the server's heartbeats, each as the moment it was sent and the moment
its answer came: the server stamped it in between) and how it ended. Times
are integer milliseconds of wall time, read from the monotonic clock (so a clock step
during the run cannot bend an interval) and converted with one offset taken at start.
The service runs on this machine (loopback only), so wall time here and Redis ``TIME``
there read the same clock.

Each Locust process keeps one ``Ledger`` and writes it as JSON when the test stops;
the verifier (``python -m loadtest.verify``) merges any number of such files.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import msgspec

from loadtest.intervals import Interval

# How a session ended, as its tab saw it:
#   exit     the tab closed and the server accepted its exit beacon
#   late_exit the server accepted the beacon, but it came after a silence longer than
#            the stale limit (the tab's pings refused meanwhile): the sweeper may have
#            closed the session at its last heartbeat first, the beacon then a no-op
#   vanished the tab closed without a beacon (crash, killed app, lost network) or the
#            beacon failed: the sweeper closes it at its last heartbeat
#   timeout  the tab went silent on purpose (a locked phone) for longer than the stale
#            limit and its next ping was answered 409 session_closed, as expected
#   refused  409 session_closed while the tab was pinging on schedule: not expected
#   stopped  still open when the load stopped (treated like ``vanished``)
Ending = Literal["exit", "late_exit", "vanished", "timeout", "refused", "stopped"]

_WALL_OFFSET = time.time() - time.monotonic()


def wall_ms(monotonic_seconds: float) -> int:
    """A reading of ``time.monotonic()`` as wall-clock milliseconds since the epoch."""
    return round((monotonic_seconds + _WALL_OFFSET) * 1000)


class Session(msgspec.Struct, kw_only=True):
    session_id: str
    user_id: str | None  # None: a guest, reported as guest:<session_id>
    opened_at: int
    closed_at: int | None = None
    ended_by: Ending | None = None
    visible: list[Interval] = msgspec.field(default_factory=list)
    heartbeats: list[tuple[int, int]] = msgspec.field(default_factory=list)  # sent, answered
    visible_since: int | None = None  # the open visible interval, while the tab is shown

    @property
    def viewer(self) -> str:
        """The person as the report names them."""
        return f"user:{self.user_id}" if self.user_id else f"guest:{self.session_id}"

    @property
    def confirmed(self) -> bool:
        """The server answered one of its requests: it must exist there."""
        return bool(self.heartbeats)

    def show(self, at: int) -> None:
        if self.visible_since is None:
            self.visible_since = at

    def hide(self, at: int) -> None:
        if self.visible_since is not None:
            self.visible.append((self.visible_since, at))
            self.visible_since = None

    def heartbeat(self, sent: int, answered: int) -> None:
        self.heartbeats.append((sent, answered))

    def close(self, at: int, ended_by: Ending) -> None:
        self.hide(at)
        self.closed_at, self.ended_by = at, ended_by


class Ledger(msgspec.Struct, kw_only=True):
    webinar_id: str = ""
    heartbeat_interval_seconds: float | None = None  # as the track answers told it
    sessions: list[Session] = msgspec.field(default_factory=list)
    # Answers by kind ("ping 204", "ping 429", ...): what Locust's success/failure hides.
    answers: dict[str, int] = msgspec.field(default_factory=dict)

    def count(self, answer: str) -> None:
        self.answers[answer] = self.answers.get(answer, 0) + 1

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(msgspec.json.encode(self))

    @classmethod
    def read(cls, paths: Iterable[Path]) -> Ledger:
        """The ledgers of several processes of one run, as one."""
        parts = [msgspec.json.decode(p.read_bytes(), type=cls) for p in paths]
        if not parts:
            raise ValueError("no ledger files")
        answers: Counter[str] = Counter()
        for part in parts:
            answers.update(part.answers)
        intervals = [p.heartbeat_interval_seconds for p in parts if p.heartbeat_interval_seconds]
        return cls(
            webinar_id=parts[0].webinar_id,
            heartbeat_interval_seconds=max(intervals) if intervals else None,
            sessions=[s for part in parts for s in part.sessions],
            answers=dict(answers),
        )
