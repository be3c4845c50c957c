"""The load test: interval sets, the contract's owed time, the verifier's judgement on a
hand-made ledger and report (it must catch a wrong report), a tab's reactions to the
server's answers, the load shape, and one small run end to end."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from support import T0, running

from loadtest import arrivals, intervals, results, run
from loadtest.behaviour import TabPlan
from loadtest.compare import Report, ReportPerson, compare, summary
from loadtest.expected import allowance_ms, owed
from loadtest.ledger import Ledger, Session, wall_ms
from loadtest.scenario import Scenario, ScenarioError
from loadtest.tab import Answer, Rules, Tab
from watchtime.settings import Settings

ROOT = Path(__file__).parent.parent

CAP_MS = 6_000  # interval 2 s x 3


def at(seconds: float) -> int:
    return T0 + round(seconds * 1000)


def test_interval_sets() -> None:
    assert intervals.normalise([(5, 7), (1, 3), (3, 4), (6, 9), (8, 8)]) == [(1, 4), (5, 9)]
    assert intervals.intersect([(0, 10), (20, 30)], [(5, 25)]) == [(5, 10), (20, 25)]
    assert intervals.length([(0, 10), (5, 15)]) == 15


def session(
    sid: str, user: str | None, visible: list[tuple[float, float]], beats: list[float], how: str
) -> Session:
    s = Session(session_id=sid, user_id=user, opened_at=at(beats[0]) if beats else at(0))
    s.visible = [(at(a), at(b)) for a, b in visible]
    s.heartbeats = [(at(b), at(b) + 5) for b in beats]  # answered 5 ms later
    s.closed_at, s.ended_by = at(max(b for _, b in visible)), how  # type: ignore[assignment]
    return s


def every(start: float, stop: float, step: float = 2.0) -> list[float]:
    return [start + i * step for i in range(int((stop - start) / step) + 1)]


# Alice: two tabs; A visible [-4, 10) (before the start: clipped), exit at 10; B visible
# [5, 15), closed without a beacon at 15, last ping at 14: owed [0, 14) = 14 s.
# Bob (guest): visible [0, 9.5), closed without a beacon, last ping at 8: owed 8 s.
# Carol (guest): hidden [20, 30) then visible [30, 40) with a silent gap [32, 40) longer
# than the cap, exit at 40: owed [30, 32) and [32, 38) = 8 s.
# Dave: visible [50, 70) past the end of the content at 60, exit at 70: owed 10 s.
ALICE, BOB = "0b0e4a3c-5f39-4c55-8d0f-5d8a3c1e0a01", "session_1_bob"
LEDGER = Ledger(
    webinar_id="w",
    heartbeat_interval_seconds=2.0,
    sessions=[
        session("session_1_a", ALICE, [(-4, 10)], every(-4, 10), "exit"),
        session("session_2_b", ALICE, [(5, 15)], every(6, 14), "vanished"),
        session(BOB, None, [(0, 9.5)], every(0, 8), "vanished"),
        session("session_3_carol", None, [(30, 40)], [20, 22, 24, 26, 28, 30, 32, 40], "exit"),
        session(
            "session_4_dave",
            "d0d0d0d0-0000-4000-8000-000000000004",
            [(50, 70)],
            every(50, 70),
            "exit",
        ),
    ],
)
RIGHT = {
    f"user:{ALICE}": (2, 14.0),
    f"guest:{BOB}": (1, 8.0),
    "guest:session_3_carol": (1, 8.0),
    "user:d0d0d0d0-0000-4000-8000-000000000004": (1, 10.0),
}


def report(rows: dict[str, tuple[int, float]]) -> Report:
    iso = datetime.fromtimestamp
    return Report(
        content_from=iso(T0 / 1000, UTC),
        content_to=iso(at(60) / 1000, UTC),
        collect_to=iso(at(600) / 1000, UTC),
        viewers=[ReportPerson(v, n, w) for v, (n, w) in rows.items()],
    )


def test_owed_time_follows_the_contract() -> None:
    window = (T0, at(60))
    alice = [s for s in LEDGER.sessions if s.user_id == ALICE]
    assert intervals.length(owed(alice, window, CAP_MS)) == 14_000  # union of the tabs, not a sum
    assert (
        intervals.length(owed([LEDGER.sessions[2]], window, CAP_MS)) == 8_000
    )  # up to the last ping
    assert intervals.length(owed([LEDGER.sessions[3]], window, CAP_MS)) == 8_000  # the cap
    assert (
        intervals.length(owed([LEDGER.sessions[4]], window, CAP_MS)) == 10_000
    )  # clipped at the end


def test_request_latency_explains_only_the_edges_it_made() -> None:
    """A track answered 300 ms after it was sent may have been stamped that much later
    by the server, which then credits up to 0.3 s less, never more."""
    slow = session("session_5_slow", None, [(10, 20)], every(10, 20), "exit")
    slow.heartbeats[0] = (at(10), at(10.3))
    window = (T0, at(60))
    assert allowance_ms([slow], window, CAP_MS) == (300, 5)
    ledger = Ledger(sessions=[slow])

    def judged(reported: float) -> float:
        verdict = compare(ledger, report({"guest:session_5_slow": (1, reported)}), 2, CAP_MS)
        return verdict.people[0].excess

    assert judged(9.75) == 0  # 0.25 s less: explained
    assert judged(8.75) == pytest.approx(0.95)  # 1.25 s less, 0.3 s of it explained
    assert judged(11.25) == pytest.approx(1.245)  # more: only the exit's 5 ms explain it


def test_a_late_start_surfaces_from_under_another_tab() -> None:
    """Tab A owes [0, 10), tab B [8, 20) with its track answered 3 s late: B may start at
    11 on the server, leaving [10, 11) uncredited though the union of the owed time has
    no edge there. Each tab's edges move before the union: up to 1 s less (and the 5 ms of
    A's own track)."""
    a = session("session_6_a", ALICE, [(0, 10)], every(0, 10), "vanished")
    b = session("session_7_b", ALICE, [(8, 20)], every(8, 20), "exit")
    b.heartbeats[0] = (at(8), at(11))
    assert allowance_ms([a, b], (T0, at(60)), CAP_MS) == (1005, 5)


def late_exit() -> Ledger:
    """Pings credited to 10; the beacon at 17, past the stale limit (6 s): the sweeper
    may have closed the session at 10 first, or the beacon credited up to the cap, 16."""
    late = session("session_8_late", None, [(0, 17)], [*every(0, 10), 17], "late_exit")
    return Ledger(heartbeat_interval_seconds=2.0, sessions=[late])


@pytest.mark.parametrize(("reported", "passed"), [(10.0, True), (16.0, True), (13.0, False)])
def test_a_late_beacon_allows_either_ending(reported: float, passed: bool) -> None:
    verdict = compare(late_exit(), report({"guest:session_8_late": (1, reported)}), 2, CAP_MS)
    assert verdict.passed == passed, summary(verdict)
    assert verdict.beacon_people == []  # the server may not have known its every moment


def test_the_verifier_passes_a_right_report() -> None:
    verdict = compare(LEDGER, report(RIGHT), 2.0, CAP_MS)
    assert verdict.passed, summary(verdict)
    assert max(verdict.errors().values()) == 0
    assert len(verdict.beacon_people) == 2  # Carol and Dave


@pytest.mark.parametrize(
    ("change", "broken"),
    [
        ({f"user:{ALICE}": (2, 24.0)}, "over_interval"),  # per-tab sum instead of the union
        ({f"guest:{BOB}": (1, 9.5)}, "fine"),  # the tail after the last ping: within 2 s
        ({f"guest:{BOB}": (1, 10.5)}, "over_interval"),
        ({"guest:session_3_carol": (1, 10.0)}, "over_beacon_limit"),  # no cap: 10 s
        ({"user:d0d0d0d0-0000-4000-8000-000000000004": (1, 11.5)}, "over_beacon_limit"),
        ({f"user:{ALICE}": (1, 14.0)}, "lost"),
        ({f"guest:{BOB}": (0, 0.0)}, "lost"),
        ({"guest:session_3_carol": (2, 8.0)}, "duplicated"),
        ({"guest:session_9_nobody": (1, 3.0)}, "duplicated"),
    ],
)
def test_the_verifier_catches_a_wrong_report(
    change: dict[str, tuple[int, float]], broken: str
) -> None:
    rows = {v: r for v, r in (RIGHT | change).items() if r[0] > 0}
    verdict = compare(LEDGER, report(rows), 2.0, CAP_MS)
    assert verdict.passed == (broken == "fine"), summary(verdict)
    if broken in ("over_interval", "over_beacon_limit"):
        assert getattr(verdict, broken)
    elif broken != "fine":
        assert getattr(verdict, broken) == 1


class FakeApi:
    """Answers pings from a script; counts what the tab sent."""

    def __init__(self, answers: list[Answer], track_refused: bool = False) -> None:
        self.answers = answers
        self.track_refused = track_refused
        self.sent: list[tuple[str, str, bool]] = []
        self.retry_after = 2.0  # of every refusal
        self.maybe_applied = False

    def track(self, session_id: str, visible: bool) -> float | None:
        self.sent.append(("track", session_id, visible))
        return None if self.track_refused else 2.0

    def ping(self, session_id: str, visible: bool, flip: bool, closed_expected: bool) -> Answer:
        self.sent.append(("ping", session_id, visible))
        return self.answers.pop(0)

    def exit(self, session_id: str) -> bool:
        self.sent.append(("exit", session_id, False))
        return True


def test_a_tab_acts_on_the_answers() -> None:
    """A 429 is no heartbeat; a 409 ends the session and starts a new one; the close
    sends the beacon, which is the last heartbeat."""
    api, ledger = FakeApi([Answer.OK, Answer.RATE_LIMITED, Answer.CLOSED]), Ledger()
    plan = TabPlan(
        opens_at=100.0, closes_at=110.0, beacon=True, starts_visible=True, sleeps_at=None
    )
    rules = Rules(interval=2, stale_after=6, sleep=10)
    tab = Tab(plan, api, ledger, rules, random.Random(1), None, clock=lambda: 110.0)
    tab.step(100.0)  # open
    tab.next_flip = 1e9  # no flips: this test is about answers
    for now in (102.0, 104.0, 106.0):
        tab.step(now)
    first, second = ledger.sessions
    assert first.ended_by == "refused"  # pinging on schedule, yet closed
    assert len(first.heartbeats) == 2  # the track and the one accepted ping
    assert second.opened_at == first.closed_at and second.visible_since is not None
    tab.step(110.0)
    assert second.ended_by == "exit" and len(second.heartbeats) == 2
    assert [kind for kind, _, _ in api.sent] == ["track", "ping", "ping", "ping", "track", "exit"]


def test_a_refused_ping_is_sent_again_after_retry_after() -> None:
    """A 503 is no heartbeat; the tab waits Retry-After (up to half as long again), a
    flip meanwhile waits too, and the ping finally applied is written down as sent at
    the flip (news the server learnt in between) and at its last try; the refused
    periodic ping, which carried no news, not at all."""
    api, ledger = FakeApi([Answer.REFUSED, Answer.REFUSED, Answer.OK]), Ledger()
    plan = TabPlan(
        opens_at=100.0, closes_at=200.0, beacon=False, starts_visible=True, sleeps_at=None
    )
    tab = Tab(
        plan,
        api,
        ledger,
        Rules(interval=2, stale_after=6, sleep=10),
        random.Random(1),
        None,
        clock=lambda: 120.0,
    )
    tab.step(100.0)  # open: track acknowledged
    tab.next_flip = 1e9
    tab.step(102.0)  # refused
    assert 104.0 <= tab.next_ping <= 105.0
    tab.next_flip = 103.0
    tab.step(103.0)  # hidden while held: no ping of its own
    assert [kind for kind, _, _ in api.sent] == ["track", "ping"]
    tab.next_flip = 1e9
    tab.step(tab.next_ping)  # refused again, waits again
    assert tab.held == [103.0]  # the refused periodic ping carried no news
    applied = tab.next_ping
    tab.step(applied)  # applied, and tells the server the tab is hidden
    (session,) = ledger.sessions
    answered = wall_ms(120.0)
    assert session.heartbeats == [(wall_ms(t), answered) for t in (100.0, 103.0, applied)]
    assert api.sent[-1][2] is False and tab.held == [] and not tab.holding
    assert [kind for kind, _, _ in api.sent] == ["track", "ping", "ping", "ping"]


def test_a_refusal_redis_may_have_applied_is_a_heartbeat_of_uncertain_time() -> None:
    """503 redis_unavailable: Redis may have run the ping and lost only its answer, so the
    ledger keeps that try, answered with the one finally applied."""
    api, ledger = FakeApi([Answer.REFUSED, Answer.OK]), Ledger()
    plan = TabPlan(
        opens_at=100.0, closes_at=200.0, beacon=False, starts_visible=True, sleeps_at=None
    )
    rules = Rules(interval=2, stale_after=6, sleep=10)
    tab = Tab(plan, api, ledger, rules, random.Random(1), None, clock=lambda: 120.0)
    tab.step(100.0)  # open: track acknowledged
    tab.next_flip = 1e9
    api.maybe_applied = True
    tab.step(102.0)  # refused, maybe applied
    applied = tab.next_ping
    tab.step(applied)
    (session,) = ledger.sessions
    answered = wall_ms(120.0)
    assert session.heartbeats == [(wall_ms(t), answered) for t in (100.0, 102.0, applied)]


def test_a_beacon_answered_past_the_stale_limit_is_a_late_exit() -> None:
    """Refused for longer than the stale limit, then the page goes away: the beacon is
    accepted either way, so the ledger cannot know whether the sweeper came first."""
    api, ledger = FakeApi([Answer.REFUSED, Answer.REFUSED, Answer.REFUSED]), Ledger()
    plan = TabPlan(
        opens_at=100.0, closes_at=108.0, beacon=True, starts_visible=True, sleeps_at=None
    )
    rules = Rules(interval=2, stale_after=6, sleep=10)
    tab = Tab(plan, api, ledger, rules, random.Random(1), None, clock=lambda: 108.0)
    tab.step(100.0)  # open: track acknowledged at 100
    tab.next_flip = 1e9
    while not tab.done:
        tab.step(tab.due())
    (session,) = ledger.sessions
    assert session.ended_by == "late_exit" and len(session.heartbeats) == 2


def test_a_session_the_server_never_learnt_of_ends_without_a_beacon() -> None:
    """Its track refused and the ping sent again refused as well: the page goes away
    before the server knows the session, so there is nothing to exit."""
    api, ledger = FakeApi([Answer.REFUSED], track_refused=True), Ledger()
    plan = TabPlan(
        opens_at=100.0, closes_at=103.0, beacon=True, starts_visible=True, sleeps_at=None
    )
    rules = Rules(interval=2, stale_after=6, sleep=10)
    tab = Tab(plan, api, ledger, rules, random.Random(1), None, clock=lambda: 120.0)
    tab.step(100.0)  # open: track refused, held
    tab.next_flip = 1e9
    tab.step(tab.next_ping)  # the same request again, refused again
    tab.step(103.0)  # the page goes away
    (session,) = ledger.sessions
    assert session.ended_by == "vanished" and session.heartbeats == []
    assert [kind for kind, _, _ in api.sent] == ["track", "ping"]


def test_doors_open_shape() -> None:
    shares = [arrivals.arrived("doors", x / 10) for x in range(11)]
    assert shares == sorted(shares) and shares[0] == 0 and shares[-1] == 1
    assert shares[1] > 0.25 and shares[2] > 0.45  # the spike at the doors
    assert arrivals.arrived("linear", 0.5) == 0.5 and arrivals.arrived("instant", 0) == 1


def test_the_spike_profile_triples_the_audience_at_once(tmp_path: Path) -> None:
    """A third over the first tenth of the ramp, the rest at its middle; ``loadtest.run
    --spawn-profile spike`` (``make spike``) hands it to Locust as the scenario's option."""
    third = arrivals.arrived("spike", 0.1)
    assert third == pytest.approx(1 / 3) and arrivals.arrived("spike", 0.05) == pytest.approx(1 / 6)
    assert arrivals.arrived("spike", 0.49) == third and arrivals.arrived("spike", 0.5) == 1.0
    assert arrivals.arrival_rate("spike", 0.3, 300, 100) == 0.0  # holding at a third
    assert Scenario.from_options(options(spawn_profile="spike")).profile == "spike"
    o = run.parse(["--spawn-profile", "spike", "--out", str(tmp_path)])
    command = run.locust_command(o, "http://127.0.0.1:1", "w1")
    assert command[command.index("--spawn-profile") + 1] == "spike"
    default = run.locust_command(run.parse(["--out", str(tmp_path)]), "http://127.0.0.1:1", "w1")
    assert default[default.index("--spawn-profile") + 1] == "doors"


def test_a_small_run_is_verified_end_to_end(tmp_path: Path) -> None:
    """30 people for 36 s at a 1 s interval: every person within one interval, beacon
    closers within 1 s, nothing lost or duplicated, no Locust failure."""
    options = run.parse(
        [
            "--users",
            "30",
            "--minutes",
            "0.6",
            "--interval",
            "1",
            "--out",
            str(tmp_path),
            "--seed",
            "7",
        ]
    )
    outcome = run.execute(options, "test")
    verdict = outcome.verdict
    assert verdict is not None, "the service never settled"
    assert verdict.passed, "\n".join(summary(verdict))
    assert verdict.lost == 0 and verdict.duplicated == 0
    assert len(verdict.people) >= 30
    assert outcome.total.failures == 0, outcome.failures
    assert outcome.answers.get("exit 204", 0) > 0 and outcome.answers.get("ping 204", 0) > 0
    # The gateway counted each ping the viewers saw answered once, by its outcome.
    pings, seen = outcome.counted.pings, outcome.answers
    assert sum(pings.values()) == sum(n for k, n in seen.items() if k.startswith("ping "))
    assert pings["ok"] + pings["created"] == seen["ping 204"]
    assert pings["rate_limited"] == seen.get("ping 429", 0)
    assert outcome.counted.refused == {"overloaded": 0}
    assert (tmp_path / "locust.html").read_text().startswith("<!DOCTYPE html>")
    assert json.loads((tmp_path / "locust.json").read_text())  # what the figures came from


def options(**given: object) -> SimpleNamespace:
    """Locust's parsed options as the command line leaves them, the scenario's included."""
    defaults = {
        "num_users": 1,
        "run_time": None,
        "spawn_profile": "doors",
        "ramp_seconds": "",
        "webinar_id": "",
        "ledger": "loadtest-ledger.json",
        "seed": "",
    }
    return SimpleNamespace(**(defaults | given))


def test_the_scenario_is_read_from_locust_options() -> None:
    assert Scenario.from_options(options()) == Scenario(users=1, seconds=600, ramp_seconds=120)
    given = options(
        num_users=2000,
        run_time=3600,
        spawn_profile="linear",
        ramp_seconds="300",
        webinar_id=" w1 ",
        ledger="/results/l.json",
        seed="7",
    )
    assert Scenario.from_options(given) == Scenario(
        2000, 3600.0, "linear", 300.0, "w1", Path("/results/l.json"), 7
    )
    assert Scenario.from_options(options(run_time=60)).ramp_seconds == 12  # a fifth
    with pytest.raises(ScenarioError, match="--ramp-seconds='0'"):
        Scenario.from_options(options(ramp_seconds="0"))
    with pytest.raises(ScenarioError, match="--spawn-profile='wave'"):  # from the web UI
        Scenario.from_options(options(spawn_profile="wave"))


def test_the_figures_are_read_from_locust_json(tmp_path: Path) -> None:
    def entry(name: str, times: dict[str, int], failures: int) -> dict[str, object]:
        return {
            "name": name,
            "method": "POST",
            "num_requests": sum(times.values()),
            "num_failures": failures,
            "response_times": times,
            "start_time": 100.0,
            "last_request_timestamp": 110.0,
        }

    ping = entry("ping", {"1": 90, "2": 9, "40": 1}, 0)
    track = entry("track", {"10": 10}, 1)
    (tmp_path / "locust.json").write_text(json.dumps([ping, track]))
    failure = {"name": "track", "method": "POST", "error": "HTTPError('500')", "occurrences": 1}
    (tmp_path / "locust_failures.json").write_text(json.dumps([failure]))
    rows, failures = results.read_locust_json(tmp_path / "locust")
    assert rows == [
        results.Row("ping", 100, 0, 10.0, 1, 2),
        results.Row("track", 10, 1, 1.0, 10, 10),
        results.Row("Aggregated", 110, 1, 11.0, 1, 10),  # 108.9 of 110 within 10 ms
    ]
    assert failures == [("track", "HTTPError('500')", 1)]


def test_locust_in_the_repository_root_runs_the_scenarios(
    settings: Settings, sync_redis: object, clean_pg: None, tmp_path: Path
) -> None:
    """Plain ``locust`` finds the scenarios through locust.conf; -u and -t are the audience
    and its length; the scenario's options come as LOCUST_* variables."""
    env = os.environ | {
        "REDIS_URL": settings.redis_url or "",
        "DATABASE_URL": settings.database_url or "",
        "ADMIN_TOKEN": "locust-admin-token",
        "SESSION_HEARTBEAT_INTERVAL_SECONDS": "1",
        "MIN_PING_INTERVAL_SECONDS": "0.5",
        "GATEWAY_WORKERS": "1",
        "LOG_LEVEL": "WARNING",
    }
    with running("gateway", env) as (base, _):
        scenario = {"LOCUST_LEDGER": str(tmp_path / "ledger.json"), "LOCUST_SEED": "3"}
        command = [
            str(Path(sys.executable).parent / "locust"),
            "--headless",
            "-u",
            "5",
            "-r",
            "5",
            "-t",
            "10s",
            "--host",
            base,
            "--json-file",
            str(tmp_path / "locust"),
        ]
        done = subprocess.run(
            command, cwd=ROOT, env=env | scenario, capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 0, done.stderr[-3000:]
    rows, failures = results.read_locust_json(tmp_path / "locust")
    assert failures == []
    by_name = {row.name: row for row in rows}
    assert by_name["track"].requests >= 5 and by_name["ping"].requests > 0
    assert by_name["Aggregated"].failures == 0
    ledger = Ledger.read([tmp_path / "ledger.json"])
    assert len({s.user_id or s.session_id for s in ledger.sessions}) >= 5  # five people
    assert not (ROOT / "loadtest-ledger.json").exists()


def test_a_scenario_option_is_checked_by_locust_from_its_variable() -> None:
    locust = str(Path(sys.executable).parent / "locust")
    env = os.environ | {"LOCUST_SPAWN_PROFILE": "wave"}
    done = subprocess.run(
        [locust, "--headless"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "argument --spawn-profile: invalid choice: 'wave'" in done.stderr
