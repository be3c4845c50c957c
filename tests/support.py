"""Helpers shared by the tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx2
from redis import Redis

from watchtime.embedded import free_port


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def viewer_token(sub: str, secret: str, **claims: Any) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps({"sub": sub, "exp": int(time.time()) + 3600, **claims}).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def snapshot(redis: Redis) -> dict[bytes, bytes | None]:
    """Every key with its serialized value: equal snapshots mean nothing changed."""
    return {key: redis.dump(key) for key in sorted(redis.scan_iter(count=1000))}


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    """Waits until the service started as ``process`` answers ``/readyz`` at ``base``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the service exited"
        try:
            if httpx2.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the service never became ready")


@contextmanager
def running(module: str, env: Mapping[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python -m <module>`` on a free port: yields its base URL once it is ready, and its
    process for the block to stop as it means to; killed if still running at the end."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", module], env={**env, "PORT": str(port)})
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, process)
        yield base, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
