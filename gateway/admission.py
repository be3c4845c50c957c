"""Admission control (R-EXT-2): refuse at once what this worker cannot carry.

The gateway's outermost ASGI app counts the requests this worker is serving. Every
script call queued on the pipelined Redis connection belongs to one of them, so the
count bounds those too. Past ``ADMISSION_MAX_IN_FLIGHT`` a request is answered 503
with ``Retry-After`` before its body is read and before Redis is asked: a refusal
costs an HTTP parse and one write, where queueing it would cost every request behind
it its latency, until clients time out and retry on top of the queue. The operations
endpoints are answered ahead of the bound, never refused: a liveness probe that fails
under load makes an orchestrator restart a gateway that is merely busy.
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
        refuse = _Refusal(settings.admission_retry_after_seconds)
        # A page on another origin can read the refusal's Retry-After only with CORS.
        origins = settings.cors_allow_origins
        self.refuse: ASGIApp = ViewerCors(refuse, origins) if origins else refuse

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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A fresh header list: the CORS middleware adds its headers to the one it is sent.
        start: Message = {"type": "http.response.start", "status": 503, "headers": [*self.headers]}
        await send(start)
        await send({"type": "http.response.body", "body": self.body})
