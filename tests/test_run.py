"""`make run`: the supervisor serves the README's curl sequence, and stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import running

from watchtime.settings import Settings

README = Path(__file__).parent.parent / "README.md"


def readme_sequence(base: str) -> str:
    block = re.search(r"<!-- curl-sequence -->\n```sh\n(.*?)```", README.read_text(), re.S)
    assert block, "README has no curl sequence"
    return block.group(1).replace("BASE=http://127.0.0.1:8000", f"BASE={base}")


@pytest.fixture(params=["embedded", "given servers"])
def service(request: pytest.FixtureRequest, tmp_path: Path, settings: Settings) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env |= {
        "DATA_DIR": str(tmp_path / "data"),
        "ADMIN_TOKEN": "local-admin-token",
        "FLUSHER_METRICS_PORT": "0",
        "SWEEPER_METRICS_PORT": "0",
    }
    if request.param == "given servers":
        env |= {"REDIS_URL": settings.redis_url or "", "DATABASE_URL": settings.database_url or ""}
    with running("watchtime.supervisor", env) as (base, process):
        yield base
        process.send_signal(signal.SIGINT)  # Ctrl-C
        assert process.wait(60) == 0
    embedded = (tmp_path / "data").exists()
    assert embedded == (request.param == "embedded")


def test_the_readme_sequence_works(service: str, sync_redis, clean_pg) -> None:
    done = subprocess.run(
        ["bash", "-e", "-c", readme_sequence(service)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith('{"id":"3f1c6c2e-6a59-4b8e-9d57-1f0b9a1e2c3d"')
    assert re.fullmatch(
        r'\{"session_id":"session_\d+_demo","heartbeat_interval_seconds":120\.0\}', lines[1]
    )
    assert lines[2:] == [
        "204",
        '{"viewers":1,"active_sessions":1}',
        "204",
        '{"viewers":0,"active_sessions":0}',
    ]
