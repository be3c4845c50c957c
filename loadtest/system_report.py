"""The Markdown section of the system benchmark (``loadtest/system_bench.py``) from its
figures: the median over the runs, and each run's headline."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from loadtest.audience import CONNECTIONS, SMALL_WEBINARS, THREADS

if TYPE_CHECKING:
    from loadtest.system_bench import Figures, Options

VIEWER_INTERVAL_SECONDS = 120  # a viewer-equivalent pings once per heartbeat interval
COMPONENTS = (
    ("gateway", "gateway workers (seed: its workers)"),
    ("redis", "Redis"),
    ("flusher", "flusher"),
    ("sweeper", "sweeper"),
    ("postgres", "PostgreSQL"),
    ("wrk", "wrk (the load)"),
)
DESIGNS = ("sys.sat", "gw", "floor", "seed.sat")
HEADS = "| whole service | gateway alone | HTTP floor | seed design |"
LoadAverage = tuple[float, float, float]  # 1, 5 and 15 minutes, from os.getloadavg()


def _n(value: float, digits: int = 0) -> str:
    return "—" if math.isnan(value) else "never" if math.isinf(value) else (f"{value:,.{digits}f}")


def _get(f: Figures, name: str) -> float:
    return f.get(name, math.nan)


def markdown(
    f: Figures,
    runs: list[Figures],
    o: Options,
    command: str,
    loads: tuple[LoadAverage, LoadAverage],
) -> str:
    return (
        "\n".join(
            [
                _header(f, o, command, loads),
                _loads(f),
                _cpu(f),
                _storage(f),
                _commands(f),
                _scripts(f),
                _runs(runs),
            ]
        )
        + "\n"
    )


def _load(average: LoadAverage) -> str:
    return ", ".join(f"{value:.2f}" for value in average)


def _all(f: Figures, design: str) -> float:
    """CPU µs per ping of every process measured in a design's window."""
    return sum(v for k, v in f.items() if k.startswith(f"{design}.cpu."))


def _header(f: Figures, o: Options, command: str, loads: tuple[LoadAverage, LoadAverage]) -> str:
    sat, seed, gw, floor = f["sys.sat.rps"], f["seed.sat.rps"], f["gw.rps"], f["floor.rps"]
    limit = (
        ""
        if o.min_ping_interval is None
        else (f" MIN_PING_INTERVAL_SECONDS={o.min_ping_interval:g} (for so few sessions).")
    )
    return f"""
## Whole service, steady state, every ping durable ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)

`{command}` — `make run`'s defaults (the `watchtime` supervisor: gateway with
GATEWAY_WORKERS = {o.gateway_workers}, flusher, sweeper, migrations) on embedded Redis
(AOF, appendfsync everysec) and PostgreSQL (fsync on), wrk ({THREADS} threads,
{CONNECTIONS} connections) on 127.0.0.1 of this {os.cpu_count()}-core machine, which other
agents share (load average {_load(loads[0])} before the runs, {_load(loads[1])} after;
the hypervisor withheld {_n(_get(f, "machine.steal_pct"), 1)} % of the machine's CPU time
during a run, steal in `/proc/stat`, median of the runs).
{o.sessions:,} guest sessions over {1 + SMALL_WEBINARS} webinars (half on one, the rest
over {SMALL_WEBINARS}), created through `access/track` and waited for in Postgres, then
re-pinged in turn, every ping visible (each credits time: a change the flusher must
carry). Saturation for {o.seconds:g} s, fixed rates for {o.rate_seconds:g} s each. Median
of {o.runs} run(s); each run's headline at the end.{limit}

**Whole box: {_n(sat)} sustained pings/s** (p99 {_n(f["sys.sat.p99_ms"], 1)} ms), that is
each session pinged every {_n(o.sessions / sat, 1)} s, {_n(sat * VIEWER_INTERVAL_SECONDS)}
viewer-equivalents at the 120-s interval; Postgres held every session's last state
{_n(f["sys.sat.drain_s"], 1)} s after the load stopped. **{_n(f["ratio.seed"], 2)}x the seed
design** ({_n(seed)} req/s, p99 {_n(f["seed.sat.p99_ms"], 1)} ms) in the same runs; the
gateway alone (no flusher, no sweeper, same Redis and sessions): {_n(gw)} pings/s
(the whole service carried {_n(f["ratio.gw"], 2)} of that). The HTTP floor, a bare
Starlette 204 with the same uvicorn settings and workers under the same load:
{_n(floor)} req/s at {_n(_all(f, "floor"), 1)} µs of CPU a request (its workers and wrk),
where the whole service spent {_n(_all(f, "sys.sat"), 1)} µs a ping.
"""


def _loads(f: Figures) -> str:
    rows = [
        "| load | pings/s | p50 | p99 | errors or non-2xx | flush lag (max of the gauge) |",
        "|---|---|---|---|---|---|",
    ]
    for name, label in (
        ("sys.sat", "saturation"),
        ("sys.at25", "25 %"),
        ("sys.at50", "50 %"),
        ("sys.at75", "75 %"),
    ):
        rows.append(
            f"| {label} | {_n(_get(f, name + '.rps'))} | {_n(_get(f, name + '.p50_ms'), 2)} ms "
            f"| {_n(_get(f, name + '.p99_ms'), 2)} ms | {_n(_get(f, name + '.errors'))} "
            f"| {_n(_get(f, name + '.lag_max_s'), 1)} s |"
        )
    creation = (
        f"Creation: {_n(f['sys.create.rps'])} tracks/s, all in Postgres "
        f"{_n(f['sys.create.stored_s'], 1)} s after the first was sent "
        f"({_n(f['sys.create.errors'])} errors); seed "
        f"design {_n(f['seed.create.rps'])} tracks/s. Drain: Postgres held every "
        f"session {_n(f['sys.sat.drain_s'], 1)} s after the load, the flusher's backlog "
        f"gauge read 0 after {_n(f['sys.sat.backlog_zero_s'], 1)} s (it is set once a "
        "cycle)."
    )
    return "\n".join(["", *rows, "", creation])


def _cpu(f: Figures) -> str:
    rows = [
        f"| CPU µs per ping, at saturation {HEADS}",
        "|---|---|---|---|---|",
    ]
    for name, label in COMPONENTS:
        cells = [_n(_get(f, f"{d}.cpu.{name}"), 1) for d in DESIGNS]
        rows.append(f"| {label} | {' | '.join(cells)} |")
    totals = [_n(_all(f, d), 1) for d in DESIGNS]
    rows.append(f"| all | {' | '.join(totals)} |")
    return "\n".join(["", *rows])


def _storage(f: Figures) -> str:
    def row(label: str, name: str, digits: int = 0, scale: float = 1) -> str:
        cells = [_n(_get(f, f"{d}.{name}") * scale, digits) for d in DESIGNS]
        return f"| {label} | {' | '.join(cells)} |"

    return "\n".join(
        [
            "",
            f"| per ping, at saturation {HEADS}",
            "|---|---|---|---|---|",
            row("PostgreSQL rows written (inserted + updated)", "pg_rows", 2),
            row("of the updates, HOT (%)", "pg_hot", 0, 100),
            row("PostgreSQL WAL bytes", "wal_bytes"),
            row("Redis AOF bytes", "aof_bytes"),
        ]
    )


def _commands(f: Figures) -> str:
    names = sorted(
        (k.split(".")[3] for k in f if k.startswith("sys.sat.cmd.") and k.endswith(".calls")),
        key=lambda n: -f[f"sys.sat.cmd.{n}.us"],
    )
    rows = [
        f"| {n.upper()} | {f[f'sys.sat.cmd.{n}.calls']:.2f} | {f[f'sys.sat.cmd.{n}.us']:.1f} "
        f"| {_n(_get(f, f'gw.cmd.{n}.calls'), 2)} |"
        for n in names
        # MULTI and EXEC: one a chunk of the flusher's reads, but EXEC takes their time
        if f[f"sys.sat.cmd.{n}.calls"] >= 0.005 or f[f"sys.sat.cmd.{n}.us"] >= 0.05
    ]
    head = "| command | calls per ping | µs per ping | gateway alone: calls per ping |"
    return "\n".join(
        [
            "",
            "Redis by command at saturation (`INFO commandstats` differences; the "
            "commands a script or a transaction runs are counted on their own and "
            "inside EVALSHA's or EXEC's time):",
            "",
            head,
            "|---|---|---|---|",
            *rows,
        ]
    )


def _scripts(f: Figures) -> str:
    names = sorted(
        k.split(".")[3] for k in f if k.startswith("sys.sat.script.") and k.endswith(".calls")
    )
    rows = []
    for n in names:
        calls, us = f[f"sys.sat.script.{n}.calls"], f[f"sys.sat.script.{n}.us"]
        rows.append(f"| {n} | {calls:.4f} | {us:.1f} | {us / calls if calls else 0:,.0f} |")
    total = sum(f[f"sys.sat.script.{n}.us"] for n in names)
    return "\n".join(
        [
            "",
            "Redis by script at saturation (SLOWLOG: every call of 1 ms or more "
            "over the window; the shorter ones share what is left of EVALSHA's calls and "
            "time in `commandstats` as they share a 0.5-s sample of every call in the "
            f"middle of the window; together {total:.1f} µs per ping):",
            "",
            "| script | calls per ping | Redis µs per ping | µs per call |",
            "|---|---|---|---|",
            *rows,
        ]
    )


def _runs(runs: list[Figures]) -> str:
    lines = [
        f"- run {i}: whole box {r['sys.sat.rps']:,.0f} pings/s (p99 {r['sys.sat.p99_ms']:.1f}"
        f" ms), drain {_n(r['sys.sat.drain_s'], 1)} s; seed design {r['seed.sat.rps']:,.0f} "
        f"req/s ({r['ratio.seed']:.2f}x); gateway alone {r['gw.rps']:,.0f} pings/s; HTTP floor "
        f"{r['floor.rps']:,.0f} req/s; "
        f"steal {_n(_get(r, 'machine.steal_pct'), 1)} %"
        for i, r in enumerate(runs, 1)
    ]
    return "\n".join(["", "Runs:", *lines])
