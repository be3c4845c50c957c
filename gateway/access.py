"""The access log (``ACCESS_LOG``): one line per HTTP request, pings included.

Off by default: at thousands of pings a second a line each costs CPU that the pings need
(BENCHMARKS.md, "Access log"). Under ``LOG_FORMAT=json`` the request's method, path,
status, duration and client address are fields of their own.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.metrics import ResponseStatus

log = logging.getLogger("watchtime.access")


class AccessLog:
    """The outermost ASGI app when enabled: it sees the pings that ``PingShortcut`` serves
    past Starlette, and the client address after uvicorn applied FORWARDED_ALLOW_IPS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        answer = ResponseStatus(send)
        try:
            await self.app(scope, receive, answer)
        finally:
            _line(scope, answer.status, (time.perf_counter() - started) * 1000)


def _line(scope: Scope, status: int, duration_ms: float) -> None:
    client = scope.get("client")
    fields = {
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "duration_ms": round(duration_ms, 3),
        "client": client[0] if client else "",
    }
    log.info(
        '%(client)s "%(method)s %(path)s" %(status)d %(duration_ms).1fms', fields, extra=fields
    )
