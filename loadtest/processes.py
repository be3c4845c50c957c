"""The service (or one of its parts) as a process of its own while a load runs against
it: started with its output in a log, awaited until it answers, stopped as Ctrl-C stops
it."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from loadtest import organiser

READY_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 60.0


@contextlib.contextmanager
def serving(
    command: list[str], env: dict[str, str], log: Path, ready_url: str
) -> Iterator[subprocess.Popen[bytes]]:
    """The process, its output appended to ``log``, once ``ready_url`` answers; SIGINT when
    the block ends (the supervisor then stops its children in order)."""
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
    try:
        _wait_ready(ready_url, process, log)
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{log.stem} exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError, organiser.ApiError):
            organiser.call("GET", url, timeout=2)
            return
        time.sleep(0.3)
    raise RuntimeError(f"{log.stem} was not ready in {READY_TIMEOUT_SECONDS:.0f}s; see {log}")
