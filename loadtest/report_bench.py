"""Benchmark of the organiser's report on a live webinar of many people: all its pages
while sessions keep changing, and the CSV export, over HTTP from a gateway process.

    python -m loadtest.report_bench --people 100000   (make bench-report)

Seeds the people straight into Postgres (INSERT … SELECT generate_series: open
sessions heard from within the last minute, a fifth of them guests, a quarter of the
users in two tabs, user agents of a few thousand browser builds), pages through the
report as the organiser's page does while a writer changes sessions as the flusher
would (heartbeats, credited intervals, new people), checks that every seeded person is
listed exactly once, then times the CSV export. Appends its figures, with the command,
to BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from hashlib import md5
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg

from loadtest import organiser, publishing
from watchtime.embedded import PostgresServer, RedisServer, free_port, started
from watchtime.migrate import migrate_url

ADMIN_TOKEN = "report-bench-admin-token"
PAGE = 1000  # people per request, as the organiser's page asks
WRITE_EVERY_SECONDS = 1.0
WRITE_ROWS = 5000  # sessions changed per write, as one flush batch
NEWCOMERS = 100  # new sessions per write, entered after the report's moment

# Browser builds: each template takes a build number, BUILDS of them per template.
BUILDS = 400
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.%s.85 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.%s Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E%s Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.%s.135 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.%s",
    "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.%s.0 Safari/537.36",
]

# Person i: a guest when i % 5 = 0, else a user; users with i % 4 = 1 have a second tab.
# Entered in the first ten minutes, heard from within the last minute, visible in
# stretches of 100 s.
SEED = """
INSERT INTO webinar_user_sessions (webinar_id, user_id, session_id, entered_at,
    last_heartbeat_at, watched_seconds_raw, watched_intervals, is_visible, is_active,
    ping_count, user_agent, version)
SELECT $1, CASE WHEN i % 5 = 0 THEN NULL ELSE md5(i::text)::uuid END,
       'session_' || i || '_' || tab, to_timestamp(($2::int8 + (i % 600) * 1000 + tab) / 1000.0),
       to_timestamp(($3::int8 - (i % 60) * 1000) / 1000.0), 100,
       int8multirange(int8range($2::int8 + (i % 600) * 1000, $2::int8 + (i % 600) * 1000 + 100000),
                      int8range($2::int8 + 900000 + tab * 1000, $2::int8 + 1000000 + tab * 1000)),
       true, true, 10, format(($4::text[])[i % array_length($4::text[], 1) + 1], i % $5::int), 1
FROM generate_series(1, $6::int) AS i, generate_series(0, 1) AS tab
WHERE tab = 0 OR (i % 5 <> 0 AND i % 4 = 1)
"""

# What a flush does to open sessions: a heartbeat now, one more credited interval.
HEARTBEATS = """
UPDATE webinar_user_sessions
SET last_heartbeat_at = clock_timestamp(), version = version + 1, ping_count = ping_count + 1,
    watched_intervals = watched_intervals + int8multirange(int8range($3::int8, $3::int8 + 5000))
WHERE webinar_id = $1 AND session_id = ANY($2::text[])
"""

NEW_PEOPLE = """
INSERT INTO webinar_user_sessions (webinar_id, session_id, entered_at, last_heartbeat_at,
    is_visible, is_active, user_agent, version)
SELECT $1, 'late_' || $2::int8 || '_' || n, clock_timestamp() + interval '1 s',
       clock_timestamp() + interval '1 s', true, true, 'curl/8.5.0', 1
FROM generate_series(1, $3::int) AS n
"""


def _md5(i: int) -> bytes:
    """Postgres's md5(i::text)::uuid, as bytes."""
    return md5(str(i).encode()).digest()


def seeded_people(count: int) -> set[str]:
    """The labels the report must list, computed here rather than read back."""
    return {
        f"guest:session_{i}_0"
        if i % 5 == 0
        else f"user:{UUID(bytes=md5(str(i).encode()).digest())}"
        for i in range(1, count + 1)
    }


@contextlib.contextmanager
def gateway(redis_url: str, database_url: str) -> Iterator[str]:
    """The gateway as a process of its own, one worker, as deployed."""
    port = free_port()
    env = os.environ | {
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "PORT": str(port),
        "GATEWAY_WORKERS": "1",
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen([sys.executable, "-m", "gateway"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(30)


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the gateway exited")
        with contextlib.suppress(OSError):
            if urllib.request.urlopen(f"{base}/readyz", timeout=1).status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("the gateway never became ready")


async def seed(database_url: str, webinar: UUID, people: int, t0: int) -> float:
    now = round(time.time() * 1000)
    conn = await asyncpg.connect(database_url)
    try:
        started_at = time.perf_counter()
        await conn.execute(SEED, webinar, t0, now, AGENTS, BUILDS, people)
        await conn.execute("ANALYZE webinar_user_sessions")
        return time.perf_counter() - started_at
    finally:
        await conn.close()


async def keep_writing(database_url: str, webinar: UUID, people: int, stop: asyncio.Event) -> int:
    """Changes sessions until ``stop``, as flushes and arrivals would; returns how many."""
    conn = await asyncpg.connect(database_url)
    changed, round_ = 0, 0
    try:
        while not stop.is_set():
            first = (round_ * WRITE_ROWS) % people
            batch = [f"session_{i}_0" for i in range(first + 1, first + WRITE_ROWS + 1)]
            now = round(time.time() * 1000)
            await conn.execute(HEARTBEATS, webinar, batch, now - 5000)
            await conn.execute(NEW_PEOPLE, webinar, round_, NEWCOMERS)
            changed += WRITE_ROWS + NEWCOMERS
            round_ += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), WRITE_EVERY_SECONDS)
        return changed
    finally:
        await conn.close()


def page_through(base: str, webinar: UUID) -> tuple[list[str], list[float], int]:
    """Every page: the labels in order, each page's time in ms, the summary's count."""
    url = f"{base}/api/webinars/{webinar}/stats/watch-time?limit={PAGE}"
    labels: list[str] = []
    times: list[float] = []
    cursor: str | None = None
    counted = 0
    while True:
        after = f"&cursor={urllib.parse.quote(cursor)}" if cursor else ""
        started_at = time.perf_counter()
        body = organiser.call("GET", url + after, ADMIN_TOKEN, timeout=120)
        times.append((time.perf_counter() - started_at) * 1000)
        counted = counted or body["summary"]["viewers"]
        labels += [p["viewer"] for p in body["viewers"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return labels, times, counted


def csv_export(base: str, webinar: UUID) -> tuple[float, list[str]]:
    """Seconds to download the whole CSV, and its first column (header dropped)."""
    request = urllib.request.Request(
        f"{base}/api/webinars/{webinar}/stats/watch-time?format=csv",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    started_at = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        text = response.read().decode()
    seconds = time.perf_counter() - started_at
    return seconds, [line.split(",", 1)[0] for line in text.splitlines()[1:]]


async def paging_while_writing(
    base: str, database_url: str, webinar: UUID, people: int
) -> tuple[list[str], list[float], int, int]:
    stop = asyncio.Event()
    writer = asyncio.create_task(keep_writing(database_url, webinar, people, stop))
    await asyncio.sleep(WRITE_EVERY_SECONDS)  # the writer is going before the first page
    try:
        labels, times, counted = await asyncio.to_thread(page_through, base, webinar)
    finally:
        stop.set()
    return labels, times, counted, await writer


def check_once(what: str, labels: list[str], expected: set[str]) -> None:
    if len(labels) != len(set(labels)) or set(labels) != expected:
        missing, extra = len(expected - set(labels)), len(set(labels) - expected)
        twice = len(labels) - len(set(labels))
        raise SystemExit(f"{what}: {missing} missing, {extra} extra, {twice} listed twice")


async def measure(folder: Path, people: int) -> dict[str, float]:
    redis_server, pg_server = RedisServer(folder / "redis"), PostgresServer(folder / "postgres")
    with started([redis_server, pg_server]):
        await migrate_url(pg_server.url)
        webinar = uuid4()
        t0 = round(time.time() * 1000) - 3600_000  # live for an hour, no end yet
        seeding = await seed(pg_server.url, webinar, people, t0)
        with gateway(redis_server.url, pg_server.url) as base:
            start = datetime.fromtimestamp(t0 / 1000, UTC).isoformat()
            organiser.call(
                "PUT",
                f"{base}/api/webinars/{webinar}",
                ADMIN_TOKEN,
                {"title": "report bench", "webinar_start_time": start},
            )
            labels, times, counted, written = await paging_while_writing(
                base, pg_server.url, webinar, people
            )
            expected = seeded_people(people)
            check_once("paging", labels, expected)
            csv_seconds, csv_labels = await asyncio.to_thread(csv_export, base, webinar)
            check_once("csv", csv_labels, expected | _late(csv_labels))
    return {
        "load": os.getloadavg()[0],
        "people": people,
        "seed_s": seeding,
        "pages": len(times),
        "summary_people": counted,
        "first_ms": times[0],
        "median_ms": statistics.median(times),
        "p90_ms": sorted(times)[int(0.9 * (len(times) - 1))],
        "max_ms": max(times),
        "written": written,
        "csv_s": csv_seconds,
        "csv_rows": len(csv_labels),
    }


def _late(labels: list[str]) -> set[str]:
    """The newcomers a later snapshot (the CSV's) rightly lists too."""
    return {label for label in labels if label.startswith("guest:late_")}


def markdown(f: dict[str, float], command: str) -> str:
    return f"""
## Report: paging a live webinar, CSV export ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)

`{command}` — embedded Redis and PostgreSQL 18 on this 2-core machine (1-minute load
average {f["load"]:.1f} at the end, this run's own processes included), the gateway as one
process (one worker), over HTTP. {f["people"]:,.0f} people seeded straight into Postgres
({f["seed_s"]:.1f} s): open sessions heard from within the last minute, a fifth guests, a
quarter of the users in two tabs, {len(AGENTS) * BUILDS:,} distinct user agents. While the
pages were read, a writer changed {WRITE_ROWS:,} sessions and added {NEWCOMERS} newcomers
every {WRITE_EVERY_SECONDS:g} s, as flushes would ({f["written"]:,.0f} rows in all).

| figure | value |
|---|---|
| pages of {PAGE:,} people | {f["pages"]:,.0f}: every seeded person exactly once (checked) |
| first page (with the summary over all {f["summary_people"]:,.0f} people) | {f["first_ms"]:.0f} ms |
| every page | median {f["median_ms"]:.0f} ms, p90 {f["p90_ms"]:.0f} ms, max {f["max_ms"]:.0f} ms |
| CSV export, {f["csv_rows"]:,.0f} people, whole download | {f["csv_s"]:.2f} s |
"""  # noqa: E501


def main() -> None:
    publishing.main(__doc__, "loadtest.report_bench", measure, markdown, people=100_000)


if __name__ == "__main__":
    main()
