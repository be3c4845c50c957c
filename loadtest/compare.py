"""The verifier's judgement: each person's reported watch time against what the
contract owes them (``loadtest.expected``), and each person's sessions against the
sessions they opened.

Acceptance limits: every person within one heartbeat interval; people whose every tab
closed with an accepted exit beacon within ``BEACON_LIMIT_SECONDS`` (the server knew
every moment of them); no session lost (in the ledger, not counted by the report); no
session duplicated (counted more often than opened, or a person nobody simulated).

A person's error is ``|reported - owed|``; the limits apply to what is left of it once
the latency of the requests that made the edges of the owed time is taken off, in the
direction it can move the credit (``expected.allowance_ms``): the server stamps a
request when it runs it, not when the viewer sent it. Both figures are printed.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from loadtest import expected, intervals
from loadtest.ledger import Ledger, Session

BEACON_LIMIT_SECONDS = 1.0


class ReportPerson(msgspec.Struct):
    viewer: str
    sessions: int
    watched_seconds: float


class Report(msgspec.Struct):
    """The parts of ``GET …/stats/watch-time`` the verifier reads, all pages merged."""

    content_from: datetime
    content_to: datetime
    collect_to: datetime
    viewers: list[ReportPerson]


@dataclass(frozen=True)
class PersonCheck:
    viewer: str
    owed_seconds: float
    reported_seconds: float
    # How much less and how much more than owed request latency can explain.
    latency_less: float
    latency_more: float
    sessions: int  # opened and acknowledged by the server
    unconfirmed: int  # opened, but no request of theirs was ever answered: may exist or not
    reported_sessions: int
    beacon_only: bool  # every session ended with an accepted exit beacon

    @property
    def error(self) -> float:
        return abs(self.reported_seconds - self.owed_seconds)

    @property
    def allowance_seconds(self) -> float:
        """What request latency can explain, in the direction of the error."""
        return self.latency_more if self.reported_seconds > self.owed_seconds else self.latency_less

    @property
    def excess(self) -> float:
        """The error that request latency cannot explain: what the limits judge."""
        return max(0.0, round(self.error - self.allowance_seconds, 3))  # ms, as reported

    @property
    def lost(self) -> int:
        return max(0, self.sessions - self.reported_sessions)

    @property
    def duplicated(self) -> int:
        return max(0, self.reported_sessions - self.sessions - self.unconfirmed)


@dataclass(frozen=True)
class Verdict:
    people: list[PersonCheck]
    interval_seconds: float
    strangers: list[ReportPerson] = field(default_factory=list)  # reported, never simulated
    refused: int = 0  # sessions closed by the server while their tab was pinging on time

    @property
    def over_interval(self) -> list[PersonCheck]:
        return [p for p in self.people if p.excess > self.interval_seconds]

    @property
    def beacon_people(self) -> list[PersonCheck]:
        return [p for p in self.people if p.beacon_only]

    @property
    def over_beacon_limit(self) -> list[PersonCheck]:
        return [p for p in self.beacon_people if p.excess > BEACON_LIMIT_SECONDS]

    @property
    def lost(self) -> int:
        return sum(p.lost for p in self.people)

    @property
    def duplicated(self) -> int:
        return sum(p.duplicated for p in self.people) + sum(s.sessions for s in self.strangers)

    @property
    def passed(self) -> bool:
        return not (self.over_interval or self.over_beacon_limit or self.lost or self.duplicated)

    def errors(self, figure: str = "error") -> dict[str, float]:
        """min, median, p90, p99 and max over the people of ``figure``: ``error``
        (|report - ledger| in seconds), ``allowance_seconds`` or ``excess``."""
        ranked = sorted(float(getattr(p, figure)) for p in self.people) or [0.0]

        def rank(q: float) -> float:
            return ranked[min(len(ranked) - 1, int(q * len(ranked)))]

        return {
            "min": ranked[0],
            "median": rank(0.5),
            "p90": rank(0.9),
            "p99": rank(0.99),
            "max": ranked[-1],
        }


def _ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


def compare(ledger: Ledger, report: Report, interval_seconds: float, cap_ms: int) -> Verdict:
    window = (_ms(report.content_from), _ms(report.content_to))
    collect_to = _ms(report.collect_to)
    by_person: dict[str, list[Session]] = defaultdict(list)
    for session in ledger.sessions:
        if expected.reported(session, window[0], collect_to):
            by_person[session.viewer].append(session)
    found = {p.viewer: p for p in report.viewers}
    people = [_check(v, s, found.get(v), window, cap_ms) for v, s in sorted(by_person.items())]
    strangers = [p for v, p in found.items() if v not in by_person]
    refused = sum(1 for s in ledger.sessions if s.ended_by == "refused")
    return Verdict(people, interval_seconds, strangers, refused)


def _check(
    viewer: str,
    sessions: list[Session],
    row: ReportPerson | None,
    window: tuple[int, int],
    cap_ms: int,
) -> PersonCheck:
    """The person judged by the outcome of their sessions the report fits best (the
    contract may allow more than one: ``expected.outcomes``)."""
    confirmed = [s for s in sessions if s.confirmed]
    person = functools.partial(
        PersonCheck,
        viewer=viewer,
        reported_seconds=row.watched_seconds if row else 0.0,
        sessions=len(confirmed),
        unconfirmed=len(sessions) - len(confirmed),
        reported_sessions=row.sessions if row else 0,
        beacon_only=all(s.ended_by == "exit" for s in sessions),
    )

    def judged(outcome: list[Session]) -> PersonCheck:
        less, more = expected.allowance_ms(outcome, window, cap_ms)
        owed = intervals.length(expected.owed(outcome, window, cap_ms))
        return person(owed_seconds=owed / 1000, latency_less=less / 1000, latency_more=more / 1000)

    return min(map(judged, expected.outcomes(confirmed)), key=lambda c: c.excess)


FIGURES = (
    ("|report - ledger| watched seconds", "error"),
    ("request latency allowed, seconds", "allowance_seconds"),
    ("error beyond it (judged), seconds", "excess"),
)


def summary(verdict: Verdict) -> list[str]:
    """The verdict as the verifier prints it."""
    v = verdict
    sessions = sum(p.sessions for p in v.people)
    worst = sorted(v.people, key=lambda p: (p.excess, p.error), reverse=True)[:5]
    lines = [
        f"people: {len(v.people):,} in the ledger ({sessions:,} sessions), "
        f"{len(v.strangers)} more in the report",
        *(
            f"{title}: " + "  ".join(f"{k} {value:.3f}" for k, value in v.errors(figure).items())
            for title, figure in FIGURES
        ),
        f"people over one heartbeat interval ({v.interval_seconds:g} s) off: "
        f"{len(v.over_interval)}",
        f"beacon closers over {BEACON_LIMIT_SECONDS:g} s off: {len(v.over_beacon_limit)} "
        f"(of {len(v.beacon_people):,})",
        f"lost sessions: {v.lost}   duplicated sessions: {v.duplicated}",
        f"sessions closed by the server while their tab pinged on schedule: {v.refused}",
        "worst: "
        + ", ".join(
            f"{p.viewer} {p.reported_seconds - p.owed_seconds:+.3f} s "
            f"(latency {p.allowance_seconds:.3f} s)"
            for p in worst
        ),
        "PASS" if v.passed else "FAIL",
    ]
    return lines
