"""Organisers' reports: watch time per person (JSON or CSV) and concurrency over time."""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prometheus_client import Histogram
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import auth, bodies, report
from gateway.errors import GatewayError, json_response, refusal
from watchtime import clock, webinars
from watchtime.errors import postgres_boundary

REPORT_SECONDS = Histogram(
    "watchtime_report_duration_seconds", "Time to build a watch-time report", ["format"]
)
PAGE_DEFAULT, PAGE_MAX = 1000, 10_000
CSV_COLUMNS = ("viewer", "user_id", "sessions", "watched_seconds", "present_seconds",
               "first_entered_at", "last_seen_at")  # fmt: skip

CONCURRENCY = """
SELECT bucket_at, viewers, active_sessions FROM webinar_viewer_snapshots
WHERE webinar_id = $1 ORDER BY bucket_at"""


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", str(PAGE_DEFAULT))
    if not raw.isdigit() or not 1 <= int(raw) <= PAGE_MAX:
        raise GatewayError(422, "invalid_field", f"limit must be an integer from 1 to {PAGE_MAX}")
    return int(raw)


def _cursor(request: Request) -> str | None:
    cursor = request.query_params.get("cursor")
    if cursor is not None:
        try:
            report.decode_cursor(cursor)
        except (ValueError, TypeError):
            raise GatewayError(422, "invalid_field", "cursor is not one this API gave") from None
    return cursor


async def _webinar(request: Request) -> webinars.Webinar:
    auth.require_admin(request, request.state.settings)
    webinar = await webinars.fetch(request.state.pg, bodies.webinar_id(request.path_params))
    if webinar is None:
        raise refusal("no_webinar")
    return webinar


async def watch_time(request: Request) -> Response:
    started = time.perf_counter()
    webinar = await _webinar(request)
    kind = request.query_params.get("format", "json")
    if kind not in ("json", "csv"):
        raise GatewayError(422, "invalid_field", "format must be json or csv")
    now_ms = await clock.server_ms(request.state.redis)
    window = report.Window.of(webinar, now_ms)
    build = _csv if kind == "csv" else _json
    response = await build(request, webinar.id, window, now_ms)
    REPORT_SECONDS.labels(kind).observe(time.perf_counter() - started)
    return response


async def _page(
    request: Request,
    webinar_id: UUID,
    window: report.Window,
    now_ms: int,
    limit: int,
    cursor: str | None,
) -> report.Page:
    stale_ms = request.state.settings.stale_after_ms
    return await report.watch_time(request.state.pg, webinar_id, window, now_ms, stale_ms,
                                   limit, cursor)  # fmt: skip


async def _json(request: Request, webinar_id: UUID, window: report.Window, now_ms: int) -> Response:
    page = await _page(request, webinar_id, window, now_ms, _limit(request), _cursor(request))
    live = await request.state.store.live(webinar_id)
    return json_response({
        "webinar_id": webinar_id,
        "content_from": _iso(window.content_from),
        "content_to": _iso(window.content_to),
        "content_duration_seconds": window.duration_ms / 1000,
        "collect_to": _iso(window.collect_to),
        "generated_at": _iso(now_ms),
        "live": live._asdict() if live else {"viewers": 0, "active_sessions": 0},
        "summary": page.summary,
        "viewers": page.viewers,
        "next_cursor": page.next_cursor,
    })  # fmt: skip


def _csv_row(person: report.Person) -> list[Any]:
    return [person.viewer, person.user_id or "", person.sessions, person.watched_seconds,
            person.present_seconds, person.first_entered_at.isoformat(),
            person.last_seen_at.isoformat()]  # fmt: skip


async def _csv(request: Request, webinar_id: UUID, window: report.Window, now_ms: int) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    cursor: str | None = None
    while True:
        page = await _page(request, webinar_id, window, now_ms, PAGE_MAX, cursor)
        writer.writerows(_csv_row(p) for p in page.viewers)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    filename = f"watch-time-{webinar_id}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


async def concurrency(request: Request) -> Response:
    webinar = await _webinar(request)
    with postgres_boundary():
        rows = await request.state.pg.fetch(CONCURRENCY, webinar.id)
    points = [{"at": r["bucket_at"], "viewers": r["viewers"],
               "active_sessions": r["active_sessions"]} for r in rows]  # fmt: skip
    return json_response({"webinar_id": webinar.id, "points": points})


Endpoint = Callable[[Request], Awaitable[Response]]


def bounded(endpoint: Endpoint) -> Endpoint:
    """A report that cannot finish within ``REPORT_TIMEOUT_SECONDS`` (a slow or locked
    Postgres) answers 503 then, its queries cancelled, rather than hang."""

    @functools.wraps(endpoint)
    async def answer(request: Request) -> Response:
        seconds = request.state.settings.report_timeout_seconds
        try:
            async with asyncio.timeout(seconds):
                return await endpoint(request)
        except TimeoutError:
            detail = f"the report did not finish within {seconds:g}s: Postgres is slow"
            raise GatewayError(503, "report_timeout", detail, {"Retry-After": "10"}) from None

    return answer


ROUTES = [
    Route("/api/webinars/{webinar_id}/stats/watch-time", bounded(watch_time), methods=["GET"]),
    Route("/api/webinars/{webinar_id}/stats/concurrency", bounded(concurrency), methods=["GET"]),
]
