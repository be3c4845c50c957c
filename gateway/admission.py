"""Admission control (R-EXT-2): refuse at once what this worker cannot carry.

The gateway's outermost ASGI app counts the requests this worker is serving. Every
script call queued on the pipelined Redis connection belongs to one of them, so the
count bounds those too. Past ``ADMISSION_MAX_IN_FLIGHT`` a request is answered 503
with ``Retry-After`` before its body is read and before Redis is asked: a refusal
costs an HTTP parse and one write, where queueing it would cost every request behind
it its latency, until clients time out and retry on top of the queue. The operations
endpoints are answered ahead of the bound, never refused: a liveness probe that fails
under load makes an orchestrator restart a gateway that is merely busy.

Under uvicorn the HTTP protocol (gateway/protocol.py) refuses first, before it makes a
task for the request, which is where most of a refusal's cost was; what it cannot
answer alone (a page on another origin, an access-log line) comes here.
"""

from __future__ import annotations

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.cors import ViewerCors
from gateway.metrics import REFUSED
from watchtime.settings import Settings

OPERATIONS = frozenset(("/healthz", "/readyz", "/metrics"))
OVERLOADED = REFUSED.labels("overloaded")


class Admission:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.bound = settings.admission_max_in_flight
        self.in_flight = 0
        self.refusal = _Refusal(settings.admission_retry_after_seconds)
        # A page on another origin can read the refusal's Retry-After only with CORS.
        origins = settings.cors_allow_origins
        self.refuse: ASGIApp = ViewerCors(self.refusal, origins) if origins else self.refusal
        self.bare_refusals_only = not origins and not settings.access_log

    def refuses_early(self, in_flight: int, path: str) -> bool:
        """Whether the HTTP protocol refuses this request itself, ``in_flight`` being the
        requests the worker has begun: past the bound, not an operations endpoint, and
        nothing to add to the bare refusal (CORS headers, an access-log line)."""
        return in_flight >= self.bound and path not in OPERATIONS and self.bare_refusals_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPERATIONS:
            await self.app(scope, receive, send)
        elif self.in_flight >= self.bound:
            OVERLOADED.inc()
            await self.refuse(scope, receive, send)
        else:
            self.in_flight += 1
            try:
                await self.app(scope, receive, send)
            finally:
                self.in_flight -= 1


class _Refusal:
    """The 503, its body and headers encoded once."""

    def __init__(self, retry_after: int) -> None:
        detail = f"the gateway is at capacity: retry in {retry_after}s"
        self.body = msgspec.json.encode({"error": "overloaded", "detail": detail})
        self.headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
            (b"retry-after", str(retry_after).encode()),
        ]

    def response(self, server_headers: list[tuple[bytes, bytes]], keep_alive: bool) -> bytes:
        """The whole HTTP/1.1 answer, for a protocol to write as it is."""
        lines = [b"HTTP/1.1 503 Service Unavailable"]
        lines += [name + b": " + value for name, value in [*server_headers, *self.headers]]
        lines += [] if keep_alive else [b"connection: close"]
        return b"\r\n".join([*lines, b"", self.body])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A fresh header list: the CORS middleware adds its headers to the one it is sent.
        start: Message = {"type": "http.response.start", "status": 503, "headers": [*self.headers]}
        await send(start)
        await send({"type": "http.response.body", "body": self.body})
