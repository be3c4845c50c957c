"""The browser client (``/static/watchtime.js``, R-CLIENT) in Debian's Chromium against the
real gateway (fixtures in browsers.py): every claim is read back from the session state
the gateway wrote to Redis."""

from __future__ import annotations

import itertools
import re
from uuid import UUID, uuid4

import httpx2
import pytest
from browsers import ADMIN_TOKEN, HEARTBEAT_SECONDS, PATIENCE_SECONDS, eventually, screenshots
from playwright.sync_api import BrowserContext, Page, Route
from redis import Redis

from watchtime import keys
from watchtime.fields import session_hash
from watchtime.sessions import intervals

# The client pings up to 10 % early (its jitter); margins below are derived from this.
SHORTEST_PING_GAP_MS = 0.9 * HEARTBEAT_SECONDS * 1000


@pytest.fixture
def webinar(gateway: str, sync_redis: Redis) -> UUID:
    """A new webinar, created through the admin API in a Redis emptied for this test."""
    webinar_id = uuid4()
    response = httpx2.put(
        f"{gateway}/api/webinars/{webinar_id}",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        json={"title": "Browser test", "webinar_start_time": "2026-01-01T10:00:00Z"},
    )
    assert response.status_code == 200
    return webinar_id


class Sessions:
    """The sessions of one webinar as the gateway stored them in Redis."""

    def __init__(self, redis: Redis, webinar_id: UUID) -> None:
        self.redis = redis
        self.webinar_id = webinar_id

    def fields(self, session_id: str) -> dict[str, str]:
        return session_hash(self.redis.hgetall(keys.session(self.webinar_id, session_id)))

    def intervals(self, session_id: str) -> list[tuple[int, int]]:
        """The credited visible intervals [from, to) in ms."""
        log = self.redis.get(keys.intervals(self.webinar_id, session_id)) or b""
        fields = self.fields(session_id)
        return intervals(log, fields.get("run_from"), fields.get("run_to"))

    def open(self) -> list[str]:
        indexes = keys.indexes(self.webinar_id)
        return [s.decode() for key in indexes for s in self.redis.zrange(key, 0, -1)]

    def after_pings(self, session_id: str, count: int) -> dict[str, str]:
        """The session once the gateway has counted at least ``count`` pings of it."""
        return eventually(
            lambda: self.pinged(session_id, count), f"{count} pings of session {session_id}"
        )

    def pinged(self, session_id: str, count: int) -> dict[str, str] | None:
        fields = self.fields(session_id)
        return fields if int(fields.get("ping_count", -1)) >= count else None

    def when(self, session_id: str, field: str, value: str) -> dict[str, str]:
        return eventually(
            lambda: (fields := self.fields(session_id)).get(field) == value and fields,
            f"{field}={value} in session {session_id}",
        )


@pytest.fixture
def sessions(sync_redis: Redis, webinar: UUID) -> Sessions:
    return Sessions(sync_redis, webinar)


def open_demo(tab: Page, gateway: str, webinar: UUID) -> str:
    """Opens the demo viewer page; returns the session id its client made up."""
    tab.goto(f"{gateway}/demo/{webinar}")
    session_id: str = tab.evaluate("watchtime.sessionId")
    assert re.fullmatch(r"session_\d{13}_[0-9a-z]+", session_id)
    return session_id


def watched(fields: dict[str, str]) -> int:
    return int(fields["watched_ms"])


def test_a_page_load_tracks_a_session_and_pings_it(
    gateway: str, webinar: UUID, tab: Page, sessions: Sessions
) -> None:
    session_id = open_demo(tab, gateway, webinar)

    first = sessions.after_pings(session_id, 1)
    later = sessions.after_pings(session_id, int(first["ping_count"]) + 2)
    assert int(later["last_heartbeat_at"]) - int(first["last_heartbeat_at"]) >= (
        2 * SHORTEST_PING_GAP_MS
    )
    assert sessions.open() == [session_id]
    assert later["user_id"] == ""  # a guest
    assert later["visible"] == "1"
    assert "exited_at" not in later and "closed_reason" not in later
    # Visible all along: every millisecond since the enter is credited, as one interval.
    entered, last = int(later["entered_at"]), int(later["last_heartbeat_at"])
    assert sessions.intervals(session_id) == [(entered, last)]
    assert watched(later) == last - entered
    # What the page shows a person.
    assert tab.text_content("#session") == session_id
    assert re.fullmatch(r"ping: HTTP 204 at .+", tab.text_content("#status") or "")
    screenshots(tab, "demo")


def pause_timers(tab: Page) -> None:
    """Stops the page's timers (Playwright's fake clock) until ``tab.clock.resume()``: no
    regular heartbeat can be sent meanwhile, only a ping the client sends at once.

    The fake clock can only jump forward, and it runs on while we ask it for its time, so
    it jumps a few heartbeats ahead: that fires the one heartbeat due meanwhile, if any."""
    ahead = 5 * HEARTBEAT_SECONDS
    tab.clock.pause_at(tab.evaluate("Date.now()") / 1000 + ahead)  # seconds since the epoch


def test_a_hidden_page_is_not_credited_until_it_is_shown_again(
    gateway: str, webinar: UUID, window: BrowserContext, tab: Page, sessions: Sessions
) -> None:
    """A real visibility change, not an emulated one: a second tab opened in the same
    window hides the first (Chromium sets visibilityState 'hidden' and fires
    visibilitychange), and bringing the first tab to the front shows it again. The page's
    timers are paused across each change, so each is reported by the client's immediate
    ping, and the stored state after it is exact."""
    tab.clock.install()
    session_id = open_demo(tab, gateway, webinar)
    sessions.after_pings(session_id, 1)

    pause_timers(tab)
    other = window.new_page()
    hidden = sessions.when(session_id, "visible", "0")
    assert tab.evaluate("document.visibilityState") == "hidden"
    entered, hidden_at = int(hidden["entered_at"]), int(hidden["last_heartbeat_at"])
    assert sessions.intervals(session_id) == [(entered, hidden_at)]
    assert watched(hidden) == hidden_at - entered

    # Two hidden heartbeats later, at least one interval on: not a millisecond more.
    tab.clock.resume()
    still = sessions.after_pings(session_id, int(hidden["ping_count"]) + 2)
    assert int(still["last_heartbeat_at"]) - hidden_at >= SHORTEST_PING_GAP_MS
    assert still["visible"] == "0"
    assert watched(still) == watched(hidden)
    assert sessions.intervals(session_id) == [(entered, hidden_at)]

    pause_timers(tab)
    tab.bring_to_front()
    shown = sessions.when(session_id, "visible", "1")
    assert tab.evaluate("document.visibilityState") == "visible"
    shown_at = int(shown["last_heartbeat_at"])
    assert shown_at >= int(still["last_heartbeat_at"])
    # The ping that shows the page credits nothing: the time before it was hidden.
    assert watched(shown) == watched(hidden)
    assert sessions.intervals(session_id) == [(entered, hidden_at)]

    tab.clock.resume()
    resumed = sessions.after_pings(session_id, int(shown["ping_count"]) + 2)
    last = int(resumed["last_heartbeat_at"])
    assert last - shown_at >= 2 * SHORTEST_PING_GAP_MS
    assert sessions.intervals(session_id) == [(entered, hidden_at), (shown_at, last)]
    assert watched(resumed) == (hidden_at - entered) + (last - shown_at)
    assert sessions.open() == [session_id]
    other.close()


def test_closing_the_page_sends_the_exit_beacon(
    gateway: str, webinar: UUID, tab: Page, sessions: Sessions
) -> None:
    session_id = open_demo(tab, gateway, webinar)
    sessions.after_pings(session_id, 1)

    tab.close()
    closed = sessions.when(session_id, "closed_reason", "exit")
    assert closed["exited_at"] == closed["last_heartbeat_at"]
    assert sessions.open() == []
    credited = sessions.intervals(session_id)
    assert credited[0][0] == int(closed["entered_at"])
    assert watched(closed) == sum(to - since for since, to in credited)


def test_a_page_restored_from_the_back_forward_cache_starts_a_new_session(
    gateway: str, webinar: UUID, tab: Page, sessions: Sessions
) -> None:
    first = open_demo(tab, gateway, webinar)
    sessions.after_pings(first, 1)
    tab.evaluate("window.sameDocument = true")  # survives only a back/forward cache restore

    tab.goto(f"{gateway}/healthz")  # leaving: pagehide (persisted) sends the exit beacon
    assert sessions.when(first, "closed_reason", "exit")
    assert sessions.open() == []

    tab.go_back(wait_until="commit")
    assert tab.evaluate("window.sameDocument") is True
    second: str = eventually(
        lambda: (s := tab.evaluate("watchtime.sessionId")) != first and s, "a new session id"
    )
    assert re.fullmatch(r"session_\d{13}_[0-9a-z]+", second)
    renewed = sessions.after_pings(second, 1)
    assert renewed["visible"] == "1"
    assert "closed_reason" not in renewed
    assert sessions.open() == [second]
    assert sessions.fields(first)["closed_reason"] == "exit"


def test_a_session_closed_by_the_server_is_replaced_by_a_new_one(
    gateway: str, webinar: UUID, tab: Page, sessions: Sessions
) -> None:
    """As after a laptop slept past the stale limit: the next ping answers 409."""
    first = open_demo(tab, gateway, webinar)
    sessions.after_pings(first, 1)
    response = httpx2.post(
        f"{gateway}/api/webinars/{webinar}/access/exit", json={"session_id": first}
    )
    assert response.status_code == 204

    second: str = eventually(
        lambda: (s := tab.evaluate("watchtime.sessionId")) != first and s, "a new session id"
    )
    renewed = sessions.after_pings(second, 1)
    assert renewed["visible"] == "1"
    assert sessions.open() == [second]
    assert sessions.fields(first)["closed_reason"] == "exit"


# The page notes when it starts each ping (its own clock) and what came of it: the
# client's waits are lower bounds on the gaps between starts, however slow the machine.
RECORD_PINGS = """
window.pings = [];
const send = window.fetch;
window.fetch = (url, init) => {
  if (!String(url).endsWith("/presence/ping")) return send(url, init);
  const ping = {start: performance.now()};
  const answered = (status) => window.pings.push({...ping, status});
  return send(url, init).then(
    (response) => (answered(response.status), response),
    (error) => { answered(0); throw error; },
  );
};
"""
# The first ping answered 429, and the three after it.
AFTER_THE_429 = """() => {
  const first = window.pings.findIndex((ping) => ping.status === 429);
  return first >= 0 && window.pings.length >= first + 4 && window.pings.slice(first, first + 4);
}"""


def test_failed_pings_are_retried_after_growing_waits(
    gateway: str, webinar: UUID, tab: Page, sessions: Sessions
) -> None:
    """A 429 is retried after its Retry-After, network errors after 1, 2 … s (each at
    least halved by the random spread): never a burst, and the session goes on."""
    tab.add_init_script(RECORD_PINGS)
    session_id = open_demo(tab, gateway, webinar)
    sessions.after_pings(session_id, 1)
    failures = iter(["429", "network error", "network error"])

    def unreliable(route: Route) -> None:
        failure = next(failures, None)
        if failure == "429":
            route.fulfill(status=429, headers={"Retry-After": "2"}, json={"error": "too_many"})
        elif failure:
            route.abort()
        else:
            route.continue_()

    tab.route("**/presence/ping", unreliable)
    pings = tab.wait_for_function(AFTER_THE_429, timeout=PATIENCE_SECONDS * 1000).json_value()

    assert [ping["status"] for ping in pings] == [429, 0, 0, 204]
    gaps = [later["start"] - earlier["start"] for earlier, later in itertools.pairwise(pings)]
    assert gaps[0] >= 2000  # Retry-After: 2
    assert gaps[1] >= 0.5 * 2000  # the second failure in a row
    assert gaps[2] >= 0.5 * 4000  # the third
    assert tab.evaluate("watchtime.sessionId") == session_id
    assert sessions.open() == [session_id]
    assert sessions.fields(session_id)["visible"] == "1"


def visitor_of(redis: Redis, webinar: UUID, session_id: str) -> str | None:
    """The visitor id the gateway stored with a session, if any."""
    value = redis.hget(keys.extras(webinar, session_id), "visitor_id")
    return value.decode() if value else None


def test_a_guest_keeps_one_visitor_id_across_page_loads(
    gateway: str, webinar: UUID, tab: Page, sessions: Sessions, sync_redis: Redis
) -> None:
    first = open_demo(tab, gateway, webinar)
    sessions.after_pings(first, 1)
    kept = tab.evaluate("localStorage.getItem('watchtime.visitorId')")
    assert re.fullmatch(r"[0-9a-f]{32}", kept)
    assert visitor_of(sync_redis, webinar, first) == kept
    assert tab.evaluate("document.cookie") == ""

    tab.reload()
    second: str = eventually(
        lambda: (s := tab.evaluate("watchtime.sessionId")) not in (first, None) and s,
        "the reloaded page's session",
    )
    sessions.after_pings(second, 1)
    assert visitor_of(sync_redis, webinar, second) == kept

    # Turned off: no visitor id sent, none kept.
    tab.evaluate("localStorage.clear()")
    third = tab.evaluate(
        """webinarId => {
            watchtime.stop();
            return WatchTime.start({webinarId, rememberVisitor: false}).sessionId;
        }""",
        str(webinar),
    )
    sessions.after_pings(third, 1)
    assert visitor_of(sync_redis, webinar, third) is None
    assert tab.evaluate("localStorage.length") == 0


def test_a_visible_page_without_input_is_reported_idle_until_the_next_input(
    gateway: str, webinar: UUID, tab: Page, sessions: Sessions
) -> None:
    """Nobody touches the page: a heartbeat later it says it is idle; the first input
    after that is reported at once, not at the next heartbeat."""
    tab.clock.install()
    session_id = open_demo(tab, gateway, webinar)
    idle = sessions.when(session_id, "active", "0")
    assert idle["visible"] == "1"

    pause_timers(tab)  # no heartbeat now: only an immediate ping can come
    # Past MIN_PING_INTERVAL_SECONDS since that heartbeat: a sooner ping that repeats the
    # visibility would be answered 429, and its retry wait on the paused clock.
    tab.wait_for_timeout(2 * HEARTBEAT_SECONDS * 1000 / 5)
    tab.mouse.move(40, 40)
    tab.mouse.move(80, 60)
    # With the timers paused only the client's immediate ping can say so.
    sessions.when(session_id, "active", "1")
