"""Liveness of the background processes from their loops' progress, and the little HTTP
server on their metrics port that reports it (``/healthz``) beside ``/metrics``.

The metrics are served by a thread of their own, so they answer while a loop is stuck;
``/healthz`` answers 503 once a loop has not finished a cycle by its deadline.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import msgspec
from prometheus_client import make_wsgi_app

HEALTH_PATH = "/healthz"


class Liveness:
    """The deadline of each loop's next finished cycle; healthy while no loop is past its."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.deadlines: dict[str, float] = {}

    def due_within(self, name: str, seconds: float) -> None:
        """``name`` is expected to finish a cycle within ``seconds`` from now."""
        self.deadlines[name] = self.clock() + seconds

    def late(self) -> list[str]:
        now = self.clock()
        return sorted(name for name, deadline in list(self.deadlines.items()) if deadline < now)


def _app(liveness: Liveness) -> Callable[..., Iterable[bytes]]:
    metrics = make_wsgi_app()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != HEALTH_PATH:
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        late = liveness.late()
        status = "503 Service Unavailable" if late else "200 OK"
        body = msgspec.json.encode({"status": "stalled" if late else "ok", "late": late})
        start_response(status, [("Content-Type", "application/json")])
        return [body]

    return app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds are no news."""


def serve(liveness: Liveness, host: str, port: int) -> WSGIServer:
    """``/healthz`` and ``/metrics`` on ``host:port``, from a daemon thread."""
    kind = _Server6 if ":" in host else _Server
    server = make_server(host, port, _app(liveness), kind, _QuietHandler)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
