"""Every console script answers ``--help`` and ``--version`` without starting anything."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from watchtime import __version__

ROOT = Path(__file__).parent.parent
SCRIPTS = sorted(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])
BIN = Path(sys.executable).parent


def command(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    # No settings at all: an answer that needed REDIS_URL or DATABASE_URL would fail.
    env = {"PATH": str(BIN), "GATEWAY_WORKERS": "not-a-number"}
    return subprocess.run(
        [str(BIN / script), *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_the_installed_scripts_are_the_five_commands() -> None:
    assert SCRIPTS == [
        "watchtime",
        "watchtime-flusher",
        "watchtime-gateway",
        "watchtime-migrate",
        "watchtime-sweeper",
    ]


@pytest.mark.parametrize("script", SCRIPTS)
def test_version_prints_the_package_version(script: str) -> None:
    done = command(script, "--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{script} {__version__}\n", "")


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_describes_the_command(script: str) -> None:
    done = command(script, "--help")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith(f"usage: {script} [-h] [--version]\n")
    assert "--version" in done.stdout and "Configuration" in done.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_unknown_argument_is_refused(script: str) -> None:
    done = command(script, "--no-such-option")
    assert done.returncode == 2
    assert "unrecognized arguments: --no-such-option" in done.stderr
