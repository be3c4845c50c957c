"""A multi-worker gateway: metrics add up across workers, and a killed worker is not missed."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from uuid import uuid4

import httpx2
from support import running

from watchtime import __version__, keys
from watchtime.embedded import PostgresServer, RedisServer

ADMIN = {"Authorization": "Bearer workers-admin-token"}


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    assert found, f"{name} not exposed"
    return float(found.group(1))


def workers(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def ping(base: str, webinar: str, session_id: str) -> int:
    with httpx2.Client() as fresh:  # a new connection, so the kernel picks a worker
        answer = fresh.post(
            f"{base}/api/webinars/{webinar}/presence/ping", json={"session_id": session_id}
        )
        return answer.status_code


def test_two_workers_one_set_of_metrics(
    redis_server: RedisServer, postgres_server: PostgresServer, sync_redis, clean_pg, tmp_path: Path
):
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_999999.db").write_bytes(b"a previous run's counters")
    env = os.environ | {
        "REDIS_URL": redis_server.url,
        "DATABASE_URL": postgres_server.url,
        "ADMIN_TOKEN": "workers-admin-token",
        "GATEWAY_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "LOG_LEVEL": "WARNING",
    }
    with running("gateway", env) as (base, process):
        webinar = str(uuid4())
        schedule = {"webinar_start_time": "2026-11-29T10:00:00Z"}
        assert (
            httpx2.put(f"{base}/api/webinars/{webinar}", json=schedule, headers=ADMIN).status_code
            == 200
        )
        assert [ping(base, webinar, f"s{i}") for i in range(40)] == [204] * 40

        assert not (folder / "counter_999999.db").exists()
        served_by = {p.name for p in folder.glob("counter_*.db")}
        assert len(served_by) == 2, served_by
        for _ in range(5):  # whichever worker answers, the sums are the same
            text = httpx2.get(f"{base}/metrics").text
            assert metric(text, 'watchtime_pings_total{outcome="created"}') == 40
            assert metric(text, "watchtime_sessions_created_total") == 40
            assert metric(text, "watchtime_http_requests_in_flight") == 1  # this scrape
            assert metric(text, f'watchtime_build_info{{version="{__version__}"}}') == 1

        os.kill(workers(process.pid)[0], signal.SIGKILL)
        assert [ping(base, webinar, f"t{i}") for i in range(20)] == [204] * 20
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert sync_redis.zcard(keys.guests(webinar)) == 60
