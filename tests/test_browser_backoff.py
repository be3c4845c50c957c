"""The browser client under refusals (R-EXT-2): a 503 with Retry-After is waited out,
at least that long and spread at random, on track, ping and exit; a request sent again
after an answer that was lost on the way is not counted twice.

The gateway's refusals are played by Playwright routes so that each test refuses
exactly the requests it means to; tests/test_admission.py shows the gateway refusing."""

from __future__ import annotations

import itertools
from uuid import UUID

import test_browser
from playwright.sync_api import Page, Route
from test_browser import PATIENCE_SECONDS, Sessions, open_demo, watched

# The fixtures of the client's other tests: a new webinar, and its sessions in Redis.
webinar, sessions = test_browser.webinar, test_browser.sessions

RETRY_AFTER_SECONDS = 2
OVERLOADED = {
    "status": 503,
    "headers": {"Retry-After": str(RETRY_AFTER_SECONDS)},
    "json": {"error": "overloaded", "detail": "the gateway is at capacity"},
}
# The page notes when it starts each viewer request (its own clock) and what came of it.
RECORD_REQUESTS = """
window.requests = [];
const send = window.fetch;
window.fetch = (url, init) => {
  const kind = String(url).split("/").pop();
  const request = {kind, start: performance.now()};
  const answered = (status) => window.requests.push({...request, status});
  return send(url, init).then(
    (response) => (answered(response.status), response),
    (error) => { answered(0); throw error; },
  );
};
"""


def requests_of(tab: Page, kind: str, count: int) -> list[dict[str, float]]:
    """The first ``count`` answered requests of one kind, once there are that many."""
    found = tab.wait_for_function(
        f"""() => {{
          const of = window.requests.filter((r) => r.kind === "{kind}");
          return of.length >= {count} && of.slice(0, {count});
        }}""",
        timeout=PATIENCE_SECONDS * 1000,
    ).json_value()
    assert isinstance(found, list)
    return found


def gaps(requests: list[dict[str, float]]) -> list[float]:
    return [later["start"] - earlier["start"] for earlier, later in itertools.pairwise(requests)]


def test_a_refused_track_is_sent_again_after_retry_after_and_its_spread(
    gateway: str, webinar: UUID, tab: Page, sessions: Sessions
) -> None:
    """With the page's randomness pinned near its top, the wait is Retry-After plus
    nearly all of its spread (half as long again)."""
    refusals = iter([OVERLOADED])
    tab.add_init_script("Math.random = () => 0.99;")

    def overloaded_once(route: Route) -> None:
        refusal = next(refusals, None)
        route.fulfill(**refusal) if refusal else route.continue_()

    tab.add_init_script(RECORD_REQUESTS)
    tab.route("**/access/track", overloaded_once)
    session_id = open_demo(tab, gateway, webinar)
    tracks = requests_of(tab, "track", 2)

    assert [track["status"] for track in tracks] == [503, 200]
    assert gaps(tracks)[0] >= RETRY_AFTER_SECONDS * 1000 * (1 + 0.5 * 0.99)
    first = sessions.after_pings(session_id, 1)
    assert sessions.open() == [session_id]
    assert watched(first) == int(first["last_heartbeat_at"]) - int(first["entered_at"])


def test_a_ping_whose_answer_was_lost_is_sent_again_and_counted_once(
    gateway: str, webinar: UUID, tab: Page, sessions: Sessions
) -> None:
    """The gateway applies the ping, but the client sees a 503 (a proxy in between gave
    up): the client waits out Retry-After and pings again; the server credits the time
    since the ping it applied, so the visible session is credited its elapsed time once."""
    tab.add_init_script(RECORD_REQUESTS)
    session_id = open_demo(tab, gateway, webinar)
    before = sessions.after_pings(session_id, 1)
    lost = iter([True])

    def applied_but_refused(route: Route) -> None:
        if next(lost, False):
            route.fetch()  # the gateway applies it ...
            route.fulfill(**OVERLOADED)  # ... and the client is told otherwise
        else:
            route.continue_()

    tab.route("**/presence/ping", applied_but_refused)
    pings = requests_of(tab, "ping", 3)
    after = sessions.after_pings(session_id, int(before["ping_count"]) + 2)

    assert [ping["status"] for ping in pings] == [204, 503, 204]
    assert gaps(pings)[1] >= RETRY_AFTER_SECONDS * 1000
    entered, last = int(after["entered_at"]), int(after["last_heartbeat_at"])
    assert sessions.intervals(session_id) == [(entered, last)]  # no second over another
    assert watched(after) == last - entered
    assert sessions.open() == [session_id]


def test_a_refused_exit_is_sent_again_after_retry_after(
    gateway: str, webinar: UUID, tab: Page, sessions: Sessions
) -> None:
    """A single-page app leaving the webinar (stop()): its exit goes by fetch, which sees
    the refusal, and is sent again; the session closes once, by exit."""
    tab.add_init_script(RECORD_REQUESTS)
    session_id = open_demo(tab, gateway, webinar)
    sessions.after_pings(session_id, 1)
    refusals = iter([OVERLOADED])

    def overloaded_once(route: Route) -> None:
        refusal = next(refusals, None)
        route.fulfill(**refusal) if refusal else route.continue_()

    tab.route("**/access/exit", overloaded_once)
    tab.evaluate("watchtime.stop()")
    exits = requests_of(tab, "exit", 2)

    assert [e["status"] for e in exits] == [503, 204]
    assert gaps(exits)[0] >= RETRY_AFTER_SECONDS * 1000
    closed = sessions.when(session_id, "closed_reason", "exit")
    assert sessions.open() == []
    assert watched(closed) == int(closed["exited_at"]) - int(closed["entered_at"])
