"""The slow-Postgres drill: Postgres up but not answering in time, as when a migration or
a vacuum holds an ACCESS EXCLUSIVE lock on the sessions table.

A report answers 503 ``report_timeout`` after ``REPORT_TIMEOUT_SECONDS`` instead of
hanging; the flusher's command times out (``POSTGRES_COMMAND_TIMEOUT_SECONDS``) and
leaves as BackendUnavailable, which its loop backs off on; the pings go on (Redis only).
Once the lock is gone the flusher catches up and nothing acknowledged is lost."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from uuid import uuid4

import asyncpg
import pytest
from anyio.from_thread import start_blocking_portal
from redis import Redis
from starlette.testclient import TestClient
from support import acknowledged, flush, session_rows, with_settings

from watchtime.errors import BackendUnavailable
from watchtime.settings import Settings, SettingsError

ADMIN = {"Authorization": "Bearer test-admin-token"}
W = uuid4()
SESSIONS = ["s0", "s1", "s2"]
SLOW = {"report_timeout_seconds": 0.5, "postgres_command_timeout_seconds": 0.5}


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    return with_settings(settings, min_ping_interval_seconds=0, **SLOW)


@contextmanager
def locked(database_url: str, table: str) -> Iterator[None]:
    """``table`` locked against every reader and writer by a transaction of its own,
    until the block ends."""
    with start_blocking_portal() as portal:
        conn: asyncpg.Connection = portal.call(asyncpg.connect, database_url)
        portal.call(conn.execute, f"BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            portal.call(conn.execute, "ROLLBACK")
            portal.call(conn.close)


def test_slow_postgres_reports_answer_503_and_the_flusher_backs_off_and_catches_up(
    client: TestClient, sync_redis: Redis, app_settings: Settings
):
    schedule = {"webinar_start_time": "2026-11-29T10:00:00Z"}
    assert client.put(f"/api/webinars/{W}", json=schedule, headers=ADMIN).status_code == 200
    for session_id in SESSIONS:
        body = {"session_id": session_id}
        assert client.post(f"/api/webinars/{W}/access/track", json=body).status_code == 200
    flush(app_settings)
    report = f"/api/webinars/{W}/stats/watch-time"

    with locked(app_settings.database_url or "", "webinar_user_sessions"):
        answer = client.get(report, headers=ADMIN)  # answered while the lock is held
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "report_timeout"
        assert answer.headers["retry-after"] == "10"
        for session_id in SESSIONS:  # the ping path does not need Postgres
            body = {"session_id": session_id}
            assert client.post(f"/api/webinars/{W}/presence/ping", json=body).status_code == 204
        with pytest.raises(BackendUnavailable) as refused:  # what the loop backs off on
            flush(app_settings)
        assert refused.value.backend == "postgres"
        assert client.get("/healthz").status_code == 200

    flush(app_settings)  # caught up: every acknowledged ping is in Postgres
    assert session_rows(app_settings.database_url or "") == acknowledged(sync_redis, W, SESSIONS)
    assert all(pings == 1 for _, pings in session_rows(app_settings.database_url or "").values())
    answer = client.get(report, headers=ADMIN)
    assert answer.status_code == 200
    assert answer.json()["summary"]["sessions"] == len(SESSIONS)


def test_the_timeouts_are_settings_with_bounds():
    settings = Settings.from_env(
        {"REPORT_TIMEOUT_SECONDS": "5", "POSTGRES_COMMAND_TIMEOUT_SECONDS": "2.5"}
    )
    assert (settings.report_timeout_seconds, settings.postgres_command_timeout_seconds) == (5, 2.5)
    defaults = Settings.from_env({})
    assert (defaults.report_timeout_seconds, defaults.postgres_command_timeout_seconds) == (30, 30)
    for name in ("REPORT_TIMEOUT_SECONDS", "POSTGRES_COMMAND_TIMEOUT_SECONDS"):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: "0"})
