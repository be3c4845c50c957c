"""One browser tab following its plan, as the real client script does (R-CLIENT):
a new session per page load, track on open, a ping every heartbeat interval, an extra
ping at every visibility change, the exit beacon on close (or nothing), a new session
when a ping is answered 409 ``session_closed``, and after a 503 (the gateway at capacity)
the same request again once its ``Retry-After`` is over, spread at random; a visibility
change meanwhile waits for it.

A refused request is no heartbeat: the server did nothing. The request that is finally
applied is one, and it carries the news of the whole wait: each visibility change
meanwhile (a refused change included) is written down as sent at its moment and answered
when the retry was, since the server learnt it in between, and the verifier allows for
that latency as for a slow answer. A refused periodic ping carries no news and is not
written down (a heartbeat there would restart the Δt cap where the server saw nothing),
unless Redis may have run it (503 ``redis_unavailable``: only its answer was lost).

Every step is written to the ledger as it happens: the truth (when the tab was visible,
when it closed) and the server's acknowledgements (heartbeats). ``watch`` runs the tabs
of one person in one greenlet, each step at its time.
"""

from __future__ import annotations

import dataclasses
import enum
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from loadtest import behaviour
from loadtest.behaviour import TabPlan
from loadtest.ledger import Ending, Ledger, Session, wall_ms

# A refused request waits its Retry-After and up to this share of it again (as watchtime.js).
RETRY_SPREAD = 0.5


class Answer(enum.Enum):
    OK = "ok"  # applied: a heartbeat
    RATE_LIMITED = "rate_limited"  # 429: changed nothing, by design
    CLOSED = "closed"  # 409 session_closed: start a new session
    REFUSED = "refused"  # 503 with Retry-After: changed nothing, send again after it
    FAILED = "failed"  # anything else: the outcome is unknown


class ViewerApi(Protocol):
    """The viewer endpoints, as one person (signed in or not) calls them."""

    retry_after: float  # the Retry-After of the last answer if it refused the request, s
    maybe_applied: bool  # that refusal may have been applied all the same (Redis unavailable)

    def track(self, session_id: str, visible: bool) -> float | None:
        """The heartbeat interval of the answer, or None if the track failed."""

    def ping(self, session_id: str, visible: bool, flip: bool, closed_expected: bool) -> Answer: ...

    def exit(self, session_id: str) -> bool: ...


@dataclass(frozen=True)
class Rules:
    """What a tab needs to know besides its plan."""

    interval: float  # until a track answer tells it
    stale_after: float  # silent longer than this, a 409 is the expected answer
    sleep: float  # how long a locked phone stays silent


def new_session_id(now: float) -> str:
    """``session_${Date.now()}_${random}``, as the browser client makes it."""
    return f"session_{wall_ms(now)}_{secrets.token_hex(5)}"


class Tab:
    def __init__(
        self,
        plan: TabPlan,
        api: ViewerApi,
        ledger: Ledger,
        rules: Rules,
        rng: random.Random,
        user_id: str | None,
        clock: Callable[[], float],
    ) -> None:
        self.plan, self.api, self.ledger, self.rules, self.rng = plan, api, ledger, rules, rng
        self.user_id, self.clock = user_id, clock
        self.interval = rules.interval
        self.visible = plan.starts_visible
        self.session: Session | None = None
        self.last_ack = 0.0  # when the server last acknowledged a request, monotonic
        self.next_ping = self.next_flip = 0.0
        self.wakes_at: float | None = None
        self.holding = False  # refused: the next ping is the same request again
        self.held: list[float] = []  # while holding: when each piece of news arose
        self.done = False

    def due(self) -> float:
        """When this tab next does something."""
        if self.session is None:
            return self.plan.opens_at
        if self.wakes_at is not None:
            return min(self.wakes_at, self.plan.closes_at)
        times = [self.next_ping, self.next_flip, self.plan.closes_at]
        if self.plan.sleeps_at is not None:
            times.append(self.plan.sleeps_at)
        return min(times)

    def step(self, now: float) -> None:
        """Does what is due at ``now``."""
        if self.session is None:
            self._open(now)
        elif now >= self.plan.closes_at:
            self._close(now)
        elif self.wakes_at is not None:
            self.wakes_at = None
            self._flip(now, visible=True)
        elif self.plan.sleeps_at is not None and now >= self.plan.sleeps_at:
            self._lock(now)
        elif now >= self.next_flip:
            self._flip(now, visible=not self.visible)
        else:
            self._ping(now, flip=False)

    def abandon(self, now: float) -> None:
        """The load stopped with this tab open: it ends without a word."""
        if self.session is not None and not self.done:
            self._end(now, "stopped")

    def _open(self, now: float) -> None:
        """A new session: track, then pings at the interval the answer tells."""
        self.holding, self.held = False, []
        session = Session(
            session_id=new_session_id(now), user_id=self.user_id, opened_at=wall_ms(now)
        )
        self.session = session
        self.ledger.sessions.append(session)
        if self.visible:
            session.show(wall_ms(now))
        interval = self.api.track(session.session_id, self.visible)
        self.next_ping = now + behaviour.ping_delay(self.rng, self.interval)
        if interval is not None:
            self.interval = self.ledger.heartbeat_interval_seconds = interval
            self._acknowledged(now)
        elif self.api.retry_after:  # a ping creates the session as track would
            self._hold(now, news=True)
        self.next_flip = now + behaviour.stretch(self.rng, self.interval, self.visible)

    def _close(self, now: float) -> None:
        """The page goes away. A session whose track was refused and never applied is
        unknown to the server: its beacon would be answered 404 (the browser client
        sends it and ignores the answer), so the tab sends none. A beacon answered past the
        stale limit since the last acknowledged request may have met a session the
        sweeper had closed: the ledger says so (``late_exit``)."""
        assert self.session is not None
        if self.plan.beacon and self.session.confirmed and self.api.exit(self.session.session_id):
            late = self._silent_past_stale_limit(self.clock())
            self._acknowledged(now)
            self._end(now, "late_exit" if late else "exit")
        else:
            self._end(now, "vanished")

    def _end(self, now: float, how: Ending) -> None:
        assert self.session is not None
        self.session.close(wall_ms(now), how)
        self.done = True

    def _lock(self, now: float) -> None:
        """The phone is locked: the page is hidden (one ping says so), then silence."""
        self.plan = dataclasses.replace(self.plan, sleeps_at=None)  # once
        if self.visible:
            self._flip(now, visible=False)
        self.wakes_at = now + self.rules.sleep

    def _flip(self, now: float, visible: bool) -> None:
        """A visibility change, told to the server at once by an extra ping."""
        assert self.session is not None
        self.visible = visible
        if visible:
            self.session.show(wall_ms(now))
        else:
            self.session.hide(wall_ms(now))
        self.next_flip = now + behaviour.stretch(self.rng, self.interval, visible)
        if self.holding:
            self.held.append(now)  # the retry reports it
        else:
            self._ping(now, flip=True)

    def _ping(self, now: float, flip: bool) -> None:
        assert self.session is not None
        if not flip:  # the page's interval timer runs on, whatever the flips do
            self.next_ping = now + behaviour.ping_delay(self.rng, self.interval)
        closed_expected = self._silent_past_stale_limit(now)
        answer = self.api.ping(self.session.session_id, self.visible, flip, closed_expected)
        if answer is Answer.OK:
            self._acknowledged(now)
        elif answer is Answer.REFUSED:
            self._hold(now, news=flip)
        elif answer is Answer.CLOSED:
            # The server closed the session at its last heartbeat; this page starts anew.
            self._end(now, "timeout" if closed_expected else "refused")
            self.done = False
            self._open(now)

    def _silent_past_stale_limit(self, now: float) -> bool:
        """Whether the sweeper may have closed the session by ``now``."""
        return now - self.last_ack > self.rules.stale_after

    def _hold(self, now: float, news: bool) -> None:
        """Refused: the next ping is the same request again, after Retry-After and up to
        half as long again (as the browser client waits)."""
        if not self.holding and (news or self.api.maybe_applied):
            self.held.append(now)
        self.holding = True
        self.next_ping = now + self.api.retry_after * self.rng.uniform(1, 1 + RETRY_SPREAD)

    def _acknowledged(self, sent: float) -> None:
        """The request sent at ``sent`` (or held since a refusal) was applied; its answer
        has just come."""
        assert self.session is not None
        answered = wall_ms(self.clock())
        for moment in [*self.held, sent]:
            self.session.heartbeat(wall_ms(moment), answered)
        self.last_ack = sent
        self.holding, self.held = False, []


def watch(tabs: list[Tab], clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
    """Runs one person's tabs to their end, each step at its time."""
    pending = list(tabs)
    while pending:
        tab = min(pending, key=Tab.due)
        delay = tab.due() - clock()
        if delay > 0:
            sleep(delay)
        tab.step(clock())
        pending = [t for t in pending if not t.done]
