"""Logs: LOG_LEVEL and LOG_FORMAT=json in every command (uvicorn's own lines included), the
access log, and the client address behind a trusted proxy (FORWARDED_ALLOW_IPS)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import httpx2
import pytest
from support import run_async, running, seed

from watchtime.embedded import free_port
from watchtime.logs import JsonFormatter
from watchtime.sessions import SessionStore
from watchtime.settings import Settings, SettingsError

ADMIN_TOKEN = "logs-admin-token"
BIN = Path(sys.executable).parent


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as the JSON object it must be, with the fields every line has."""
    lines = [json.loads(line) for line in text.splitlines()]
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
        assert datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0), line
        assert line["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), line
    return lines


def messages(lines: list[dict[str, Any]], logger: str) -> list[str]:
    return [line["message"] for line in lines if line["logger"] == logger]


def test_a_json_line_carries_the_request_fields_and_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "watchtime.access", logging.ERROR, __file__, 1, "%s done", ("ping",), sys.exc_info()
        )
    record.__dict__.update(method="POST", path="/p", status=204, duration_ms=0.5, client="::1")
    [line] = json_lines(JsonFormatter().format(record))
    assert {k: v for k, v in line.items() if k not in ("time", "exception")} == {
        "level": "ERROR",
        "logger": "watchtime.access",
        "message": "ping done",
        "method": "POST",
        "path": "/p",
        "status": 204,
        "duration_ms": 0.5,
        "client": "::1",
    }
    assert line["exception"].endswith("ValueError: boom")
    assert datetime.fromisoformat(line["time"]).timestamp() == pytest.approx(
        record.created, abs=1e-3
    )


@pytest.mark.parametrize("variable", ["LOG_FORMAT", "LOG_LEVEL", "ACCESS_LOG"])
def test_a_bad_log_setting_is_refused_with_its_name(variable: str) -> None:
    with pytest.raises(SettingsError, match=f"^{variable}="):
        Settings.from_env({variable: "loud"})


def migrate(settings: Settings, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": os.environ["PATH"], "DATABASE_URL": settings.database_url or ""}
    return subprocess.run(
        [str(BIN / "watchtime-migrate")],
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_migrate_logs_json_lines_at_the_configured_level(settings: Settings) -> None:
    done = migrate(settings, LOG_FORMAT="json", LOG_LEVEL="INFO")
    assert done.returncode == 0, done.stderr
    lines = json_lines(done.stderr)
    assert messages(lines, "watchtime.migrate") == ["schema up to date (0 applied)"]
    assert [line["level"] for line in lines] == ["INFO"]
    quiet = migrate(settings, LOG_FORMAT="json", LOG_LEVEL="WARNING")
    assert (quiet.returncode, quiet.stderr) == (0, "")
    text = migrate(settings)  # the default: text
    assert text.stderr.endswith(" INFO watchtime.migrate schema up to date (0 applied)\n")


def test_a_crash_is_one_json_line_with_its_traceback(settings: Settings) -> None:
    nothing_there = f"postgresql://watchtime@127.0.0.1:{free_port()}/watchtime"
    done = migrate(settings, LOG_FORMAT="json", DATABASE_URL=nothing_there)
    assert done.returncode == 1
    [line] = json_lines(done.stderr)
    assert (line["level"], line["logger"]) == ("CRITICAL", "watchtime")
    assert line["message"].startswith("stopped by ConnectionRefusedError: ")
    assert line["exception"].startswith("Traceback (most recent call last):")


def service_env(settings: Settings, **env: str) -> dict[str, str]:
    return os.environ | {
        "REDIS_URL": settings.redis_url or "",
        "DATABASE_URL": settings.database_url or "",
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "GATEWAY_WORKERS": "1",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        **env,
    }


def open_session(base: str, session_id: str, **headers: str) -> str:
    """A new webinar with one session opened by track; returns the webinar's id."""
    webinar = str(uuid4())
    body = {"webinar_start_time": "2026-01-01T10:00:00Z"}
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert httpx2.put(f"{base}/api/webinars/{webinar}", json=body, headers=admin).status_code == 200
    track = {"session_id": session_id}
    url = f"{base}/api/webinars/{webinar}/access/track"
    assert httpx2.post(url, json=track, headers=headers).status_code == 200
    return webinar


def test_every_process_of_the_service_logs_json_lines(
    settings: Settings, sync_redis: object, clean_pg: None, tmp_path: Path
) -> None:
    """The supervisor, the migrations it runs, the gateway (uvicorn's lines and the access
    log), the flusher and the sweeper: every line on stderr is one JSON object."""
    stderr = tmp_path / "stderr"
    flusher_port, sweeper_port = free_port(), free_port()
    env = service_env(
        settings,
        ACCESS_LOG="true",
        FLUSHER_METRICS_PORT=str(flusher_port),
        SWEEPER_METRICS_PORT=str(sweeper_port),
    )
    with stderr.open("wb") as out, running("watchtime.supervisor", env, out) as (base, process):
        webinar = open_session(base, "s1")
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
    lines = json_lines(stderr.read_text())
    assert messages(lines, "watchtime")[0] == "migrations: 0 applied"
    assert "Application startup complete." in messages(lines, "uvicorn.error")
    loops, health = messages(lines, "watchtime.loop"), ", liveness on /healthz"
    assert f"watchtime-flusher metrics on http://127.0.0.1:{flusher_port}/metrics{health}" in loops
    assert f"watchtime-sweeper metrics on http://127.0.0.1:{sweeper_port}/metrics{health}" in loops
    assert {"flusher stopped", "sweeper stopped"} <= set(loops)
    track = [line for line in lines if line.get("path", "").endswith("/access/track")]
    assert [
        {k: v for k, v in t.items() if k in ("logger", "method", "path", "status", "client")}
        for t in track
    ] == [
        {
            "logger": "watchtime.access",
            "method": "POST",
            "path": f"/api/webinars/{webinar}/access/track",
            "status": 200,
            "client": "127.0.0.1",
        }
    ]
    assert track[0]["duration_ms"] > 0


def test_the_service_honours_log_level(
    settings: Settings, sync_redis: object, clean_pg: None, tmp_path: Path
) -> None:
    """LOG_LEVEL=WARNING silences the supervisor's, the processes' and uvicorn's INFO."""
    stderr = tmp_path / "stderr"
    env = service_env(
        settings,
        LOG_LEVEL="WARNING",
        ACCESS_LOG="true",
        FLUSHER_METRICS_PORT=str(free_port()),
        SWEEPER_METRICS_PORT="0",
    )
    with stderr.open("wb") as out, running("watchtime.supervisor", env, out) as (base, process):
        open_session(base, "s1")
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
    assert json_lines(stderr.read_text()) == []


def stored_ip(settings: Settings, session_id: str) -> str:
    """The session's ip_address in Postgres, after a flush."""

    async def nothing(store: SessionStore) -> None:
        pass

    seed(settings, nothing)
    found: list[str] = []

    async def read() -> None:
        conn = await asyncpg.connect(settings.database_url)
        try:
            query = "SELECT ip_address FROM webinar_user_sessions WHERE session_id = $1"
            found.append(str(await conn.fetchval(query, session_id)))
        finally:
            await conn.close()

    run_async(read)
    return found[0]


@pytest.mark.parametrize(
    ("allowed", "stored"),
    [("127.0.0.1", "203.0.113.9"), ("192.0.2.1", "127.0.0.1"), ("", "203.0.113.9")],
    ids=["trusted proxy", "untrusted peer", "default"],
)
def test_the_client_address_is_taken_from_a_trusted_proxy_only(
    settings: Settings,
    sync_redis: object,
    clean_pg: None,
    tmp_path: Path,
    allowed: str,
    stored: str,
) -> None:
    """The test's requests come from 127.0.0.1, which the default (unset) trusts: a proxy
    on the same host."""
    env = service_env(settings, ACCESS_LOG="true")
    if allowed:
        env["FORWARDED_ALLOW_IPS"] = allowed
    else:
        env.pop("FORWARDED_ALLOW_IPS", None)
    stderr = tmp_path / "stderr"
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    with stderr.open("wb") as out, running("gateway", env, out) as (base, _):
        open_session(base, "s1", **forwarded)
    assert stored_ip(settings, "s1") == stored
    [track] = [line for line in json_lines(stderr.read_text()) if "track" in line.get("path", "")]
    assert track["client"] == stored


def test_the_access_log_is_off_by_default(
    settings: Settings, sync_redis: object, clean_pg: None, tmp_path: Path
) -> None:
    stderr = tmp_path / "stderr"
    with stderr.open("wb") as out, running("gateway", service_env(settings), out) as (base, _):
        open_session(base, "s1")
    lines = json_lines(stderr.read_text())
    assert messages(lines, "watchtime.access") == []
    assert "Application startup complete." in messages(lines, "uvicorn.error")
