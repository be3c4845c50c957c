"""The figures of one load test: Locust's JSON statistics (requests, rates, latency) and
the failures by kind beside them, the answers the ledger counted, CPU by role and the
verifier's verdict, as printed at the end of ``make loadtest`` and as a BENCHMARKS.md
section."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest.compare import BEACON_LIMIT_SECONDS, FIGURES, Verdict
from loadtest.service_counts import Counted


@dataclass(frozen=True)
class Row:
    name: str
    requests: int
    failures: int
    per_second: float
    median_ms: int
    p99_ms: int


@dataclass(frozen=True)
class Run:
    command: str
    users: int
    minutes: float
    interval: float
    workers: int
    processes: int
    rows: list[Row]  # by request name, the aggregate last
    failures: list[tuple[str, str, int]]  # name, error, occurrences
    answers: dict[str, int]
    counted: Counted  # by the gateway's own metrics
    cpu: dict[str, float]
    verdict: Verdict | None  # None: the service never settled

    @property
    def total(self) -> Row:
        return self.rows[-1]


def read_locust_json(prefix: Path) -> tuple[list[Row], list[tuple[str, str, int]]]:
    """``<prefix>.json`` (``locust --json-file``: one entry per request name, each with
    its response-time histogram) and ``<prefix>_failures.json`` (the locustfile's)."""
    entries = json.loads(prefix.with_name(prefix.name + ".json").read_text())
    rows = [_row(e["name"], [e]) for e in entries]
    failures = json.loads(prefix.with_name(prefix.name + "_failures.json").read_text())
    kinds = [(f["name"], f["error"], int(f["occurrences"])) for f in failures]
    return [*rows, _row("Aggregated", entries)], kinds


def _row(name: str, entries: list[dict[str, Any]]) -> Row:
    """One request name's figures, or several names' together, as Locust computes them."""
    times: Counter[int] = Counter()
    for e in entries:
        times.update({int(ms): n for ms, n in e["response_times"].items()})
    requests = sum(e["num_requests"] for e in entries)
    started = min(e["start_time"] for e in entries)
    last = max(e["last_request_timestamp"] or started for e in entries)
    return Row(
        name,
        requests,
        sum(e["num_failures"] for e in entries),
        requests / max(last - started, 1e-9),
        _percentile(times, 0.5),
        _percentile(times, 0.99),
    )


def _percentile(times: Counter[int], share: float) -> int:
    """The response time (ms) that ``share`` of the requests did not exceed."""
    wanted, seen = share * times.total(), 0
    for ms in sorted(times):
        seen += times[ms]
        if seen >= wanted:
            return ms
    return 0


def _verdict_lines(v: Verdict | None) -> list[tuple[str, str]]:
    if v is None:
        return [("verifier", "FAIL: the service never settled (sessions open or report changing)")]
    sessions = sum(p.sessions for p in v.people)
    return [
        ("people / sessions in the ledger", f"{len(v.people):,} / {sessions:,}"),
        *(
            (title, ", ".join(f"{k} {value:.3f}" for k, value in v.errors(figure).items()))
            for title, figure in FIGURES
        ),
        (f"people over one interval ({v.interval_seconds:g} s) off", f"{len(v.over_interval)}"),
        (
            f"beacon closers over {BEACON_LIMIT_SECONDS:g} s off",
            f"{len(v.over_beacon_limit)} of {len(v.beacon_people):,}",
        ),
        ("lost / duplicated sessions", f"{v.lost} / {v.duplicated}"),
        ("sessions closed while pinging on schedule", f"{v.refused}"),
        ("verifier", "PASS" if v.passed else "FAIL"),
    ]


def table(run: Run) -> list[tuple[str, str]]:
    total = run.total
    lines = [
        ("requests", f"{total.requests:,} ({total.per_second:,.0f}/s over the run)"),
        *(
            (
                f"  {r.name}",
                f"{r.requests:,} ({r.per_second:,.1f}/s), median {r.median_ms} ms, "
                f"p99 {r.p99_ms} ms",
            )
            for r in run.rows[:-1]
        ),
        ("answers", ", ".join(f"{k}: {n:,}" for k, n in sorted(run.answers.items()))),
        ("pings by outcome, the gateway's count", _counts(run.counted.pings)),
        ("refused at once by the gateway", _counts(run.counted.refused)),
        (
            "failures",
            f"{total.failures:,}"
            + "".join(f"; {name}: {error} x{count:,}" for name, error, count in run.failures),
        ),
        (
            "CPU, % of one core",
            ", ".join(
                f"{k} {value:.0f}" for k, value in run.cpu.items() if not k.startswith("machine")
            ),
        ),
        (
            "machine CPU, % of all cores",
            f"mean {run.cpu['machine mean']:.0f}, peak {run.cpu['machine peak']:.0f}",
        ),
        *_verdict_lines(run.verdict),
    ]
    return lines


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {n:,}" for k, n in sorted(counts.items()) if n) or "none"


def text(run: Run) -> str:
    width = max(len(k) for k, _ in table(run))
    return "\n".join(f"{k:<{width}}  {v}" for k, v in table(run))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(run: Run) -> str:
    rows = "\n".join(f"| {_cell(k.strip())} | {_cell(v)} |" for k, v in table(run))
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    return f"""
## Load test: {run.users:,} viewers, {run.minutes:g} minutes ({when})

`{run.command}`

Locust (FastHttpUser, {run.processes} process) against the whole service with embedded
Redis and PostgreSQL on this 2-core machine, all on 127.0.0.1; heartbeat interval
{run.interval:g} s (time compressed {120 / run.interval:g}x), {run.workers} gateway worker.

| figure | value |
|---|---|
{rows}
"""
