"""Prometheus metrics of the gateway (R-OBS): base units, ``_total``, ``_seconds``."""

from __future__ import annotations

import functools
import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PINGS = Counter("watchtime_pings_total", "Heartbeat pings by outcome", ["outcome"])
SESSIONS_CREATED = Counter("watchtime_sessions_created_total", "Sessions created by track or ping")
REDIS_ERRORS = Counter(
    "watchtime_redis_errors_total", "Requests that failed because Redis did not answer"
)
REFUSED = Counter(
    "watchtime_gateway_refused_total",
    "Requests refused at once (503 + Retry-After) by reason: overloaded",
    ["reason"],
)
# Read from Redis's INFO memory at every scrape of /metrics: alerts fire before a Redis
# with noeviction refuses writes (every ping would answer 503 redis_full).
REDIS_USED_MEMORY = Gauge(
    "watchtime_redis_used_memory_bytes",
    "Memory Redis uses (INFO used_memory), by Redis node",
    ["node"],
    multiprocess_mode="livemostrecent",
)
REDIS_MAX_MEMORY = Gauge(
    "watchtime_redis_maxmemory_bytes",
    "Redis's maxmemory (0: no limit), by Redis node",
    ["node"],
    multiprocess_mode="livemostrecent",
)
IN_FLIGHT = Gauge(
    "watchtime_http_requests_in_flight",
    "Requests being served now",
    multiprocess_mode="livesum",  # across the live workers; a dead worker's share drops out
)
REQUEST_SECONDS = Histogram(
    "watchtime_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"))


def request_started() -> float:
    IN_FLIGHT.inc()
    return time.perf_counter()


def request_finished(method: str, route: str, status: int, started: float) -> None:
    IN_FLIGHT.dec()
    _latency(method if method in METHODS else "other", route, status).observe(
        time.perf_counter() - started
    )


@functools.lru_cache(maxsize=1024)
def _latency(method: str, route: str, status: int) -> Any:
    """A histogram child, looked up once: .labels() costs a dict lookup and a lock."""
    return REQUEST_SECONDS.labels(method, route, status)


class ResponseStatus:
    """``send`` for an ASGI app, keeping the status it answered (500 until it answers)."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)


class LatencyMiddleware:
    """Times every HTTP request, labelled by route template (not the raw path, which
    holds ids and would explode the label set)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = request_started()
        answer = ResponseStatus(send)
        try:
            await self.app(scope, receive, answer)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            request_finished(scope["method"], route, answer.status, started)
