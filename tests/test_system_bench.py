"""The whole-system and idle benchmarks' harnesses on tiny runs: every figure measured and
published, with the exact counts the designs fix (no timing is asserted)."""

from __future__ import annotations

import json
import math
from collections import namedtuple
from pathlib import Path

import pytest

from loadtest import cpu, idle_bench, system_bench
from loadtest.audience import CONNECTIONS, SMALL_WEBINARS, Audience
from loadtest.meters import Sampler, ScriptClock
from watchtime.coalesce import MAX_PINGS

SESSIONS = 2000
BACKGROUND_SHARE = 0.05  # background script calls per ping, at most, in a 2-s run


def tiny_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, float], str]:
    output = tmp_path / "BENCHMARKS.md"
    system_bench.main(
        [
            "--sessions",
            str(SESSIONS),
            "--seconds",
            "2",
            "--runs",
            "1",
            "--min-ping-interval",
            "0",
            "--output",
            str(output),
        ]
    )
    printed = capsys.readouterr().out
    figures = json.loads(next(line for line in printed.splitlines() if line.startswith("{")))
    return figures, output.read_text()


def test_a_tiny_system_run_measures_every_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f, section = tiny_run(tmp_path, capsys)
    for design in ("sys.sat", "gw", "floor", "seed.sat"):
        assert f[f"{design}.errors"] == 0
        assert f[f"{design}.requests"] > 0
        assert f[f"{design}.p99_ms"] >= f[f"{design}.p50_ms"] > 0
        assert f[f"{design}.cpu.gateway"] > 0 and f[f"{design}.cpu.wrk"] > 0
    assert f["sys.create.errors"] == f["seed.create.errors"] == 0
    # The flusher is metered in clock ticks (10 ms) too: the 200 sessions a tiny run owes
    # it may take less than one, so only its presence is certain.
    assert f["sys.sat.cpu.redis"] > 0 and f["sys.sat.cpu.flusher"] >= 0
    # Postgres is metered in clock ticks (10 ms): the flusher's few HOT updates of a
    # 2-second tiny run may take less than one, the seed design's writes never do.
    assert f["sys.sat.cpu.postgres"] >= 0 and f["seed.sat.cpu.postgres"] > 0
    assert "sys.sat.cpu.sweeper" in f
    # The HTTP floor is metered as its two processes: the bare app's workers and wrk.
    assert {k for k in f if k.startswith("floor.cpu.")} == {"floor.cpu.gateway", "floor.cpu.wrk"}
    assert f"HTTP floor {f['floor.rps']:,.0f} req/s" in section
    assert math.isfinite(f["sys.sat.drain_s"]) and math.isfinite(f["sys.sat.backlog_zero_s"])
    # Each of the seed's pings updates its session and logs one heartbeat: two rows. The
    # server also answers the requests wrk left in flight when it stopped (one a
    # connection at most), which wrk does not count.
    pings = f["seed.sat.requests"]
    assert 2 * pings <= round(f["seed.sat.pg_rows"] * pings) <= 2 * (pings + CONNECTIONS)
    assert f["sys.sat.pg_rows"] > 0 and f["sys.sat.wal_bytes"] > 0
    # AOF growth leaves out the seconds in which a rewrite ended (a rewrite shrinks the
    # file); in a 2-second window that can be all of the gateway-alone phase.
    assert f["sys.sat.aof_bytes"] > 0 and f["gw.aof_bytes"] >= 0
    # A ping script call carries the pings of one event-loop turn of a gateway worker, 1 to
    # MAX_PINGS (and those wrk left in flight, one a connection); the flusher's and
    # sweeper's come on top: a few per webinar and cycle, and the flusher runs cycle after
    # cycle while it owes, so in a tiny run they are a few per cent of the pings.
    pings = f["sys.sat.requests"]
    calls = round(f["sys.sat.cmd.evalsha.calls"] * pings)
    assert pings / MAX_PINGS <= calls <= (pings + CONNECTIONS) * (1 + BACKGROUND_SHARE)
    # (the ping script's share is estimated from a sample of the calls)
    assert 1 / MAX_PINGS <= f["sys.sat.script.ping.calls"] <= 1.05
    assert sum(
        v for k, v in f.items() if k.startswith("sys.sat.script.") and k.endswith(".us")
    ) == pytest.approx(f["sys.sat.cmd.evalsha.us"])
    for share in (25, 50, 75):
        assert f[f"sys.at{share}.errors"] == 0 and f[f"sys.at{share}.rps"] > 0
    assert section.startswith("\n## Whole service, steady state, every ping durable")
    assert f"python -m loadtest.system_bench --sessions {SESSIONS}" in section
    assert "nan" not in section and "never" not in section
    assert section.count("\n- run ") == 1
    assert 0 <= f["machine.steal_pct"] <= 100
    assert f"steal {f['machine.steal_pct']:.1f} %" in section


def test_steal_is_the_hypervisor_s_share_of_the_cpu_time_guests_counted_once() -> None:
    CpuTimes = namedtuple("CpuTimes", "user nice system idle steal guest guest_nice")
    before = CpuTimes(100, 0, 50, 800, 10, 20, 0)
    after = CpuTimes(160, 0, 70, 860, 30, 40, 0)  # 60 + 20 + 60 + 20 spent, guest inside user
    assert cpu.steal_pct(before, after) == 100 * 20 / 160
    assert cpu.steal_pct(before, before) == 0.0


def test_the_audience_spreads_half_the_sessions_over_the_small_webinars() -> None:
    webinars = [f"w{i}" for i in range(1 + SMALL_WEBINARS)]
    audience = Audience(1, webinars, 40)  # type: ignore[arg-type]
    owners = [w for w, _ in audience.session_keys()]
    assert owners[:20] == ["w0"] * 20
    assert owners[20:] == [f"w{1 + i % SMALL_WEBINARS}" for i in range(20)]
    assert [s for _, s in audience.session_keys()] == [f"s-{i}" for i in range(40)]


def test_aof_growth_leaves_out_the_seconds_a_rewrite_ended_in() -> None:
    sampler = Sampler(None, None)  # type: ignore[arg-type]
    # time, size, size after the last rewrite: the file shrinks when a rewrite ends
    sampler.aof = [(0.0, 100, 0), (1.0, 300, 0), (2.0, 120, 120), (3.0, 420, 120)]
    assert sampler.aof_bytes_per_second(0, 3) == (200 + 300) / 2


def test_short_script_calls_share_the_rest_of_evalsha_as_they_share_the_sample() -> None:
    clock = ScriptClock.__new__(ScriptClock)
    clock.long = {"collect": [5000, 3000]}
    clock.short = {"ping": [40, 60, 50], "lease": [10]}
    # commandstats: 1,002 calls and 60,000 µs; the two long calls take 8,000 of them
    figures = clock.per_ping((1002, 60_000), pings=1000)
    assert figures["collect"] == (0.002, 8.0)
    assert figures["ping"][0] == pytest.approx(0.75)
    assert figures["ping"][1] == pytest.approx(52_000 * 150 / 160 / 1000)
    assert figures["lease"][0] == pytest.approx(0.25)
    assert figures["lease"][1] == pytest.approx(52_000 * 10 / 160 / 1000)


def test_a_tiny_idle_run_counts_the_commands(tmp_path: Path) -> None:
    output = tmp_path / "BENCHMARKS.md"
    idle_bench.main(
        ["--webinars", "50", "--settle", "2", "--seconds", "2", "--output", str(output)]
    )
    section = output.read_text()
    assert section.startswith("\n## Idle service: Redis commands with 50 finished webinars")
    assert "| Redis commands/s, 2 s after 2 s of settling | **" in section
