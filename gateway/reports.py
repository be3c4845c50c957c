"""Organisers' reports: watch time per person and concurrency over time, JSON or CSV."""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prometheus_client import Histogram
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway import auth, bodies, report_queries
from gateway.errors import GatewayError, json_response, refusal
from watchtime import clock, webinars
from watchtime.errors import postgres_boundary
from watchtime.sessions import Status

REPORT_SECONDS = Histogram(
    "watchtime_report_duration_seconds", "Time to build a watch-time report", ["format"]
)
PAGE_DEFAULT, PAGE_MAX = 1000, 10_000
# The CSV's header row, kept reading as one row rather than a column a line.
CSV_COLUMNS = ("viewer", "user_id", "sessions", "watched_seconds", "present_seconds",
               "first_entered_at", "last_seen_at", "active_seconds", "device",
               "browser")  # fmt: skip
CONCURRENCY_COLUMNS = ("at", "viewers", "active_sessions")
FORMATS = ("json", "csv")
CSV = "text/csv; charset=utf-8"

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


def _format(request: Request) -> str:
    kind = request.query_params.get("format", "json")
    if kind not in FORMATS:
        raise GatewayError(422, "invalid_field", "format must be json or csv")
    return kind


async def _webinar(request: Request) -> webinars.Webinar:
    auth.require_admin(request, request.state.settings)
    webinar = await webinars.fetch(request.state.pg, bodies.webinar_id(request.path_params))
    if webinar is None:
        raise refusal(Status.NO_WEBINAR)
    return webinar


async def _snapshot(request: Request, webinar: webinars.Webinar) -> report_queries.Cursor:
    """The first page of a report as of now (Redis time)."""
    now_ms = await clock.server_ms(request.state.redis)
    return report_queries.Cursor(report_queries.Window.of(webinar, now_ms), "")


async def _cursor(request: Request, webinar: webinars.Webinar) -> report_queries.Cursor:
    """The request's cursor; without one, a new snapshot."""
    text = request.query_params.get("cursor")
    if text is None:
        return await _snapshot(request, webinar)
    try:
        return report_queries.decode_cursor(text)
    except ValueError:
        raise GatewayError(422, "invalid_field", "cursor is not one this API gave") from None


def _csv_text(rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


async def watch_time(request: Request) -> Response:
    started = time.perf_counter()
    webinar = await _webinar(request)
    if _format(request) == "csv":  # everybody, of a snapshot of its own
        return await _csv(request, webinar.id, await _snapshot(request, webinar), started)
    limit, cursor = _limit(request), await _cursor(request, webinar)
    stale_ms = request.state.settings.stale_after_ms
    page = await report_queries.watch_time(request.state.pg, webinar.id, stale_ms, limit, cursor)
    response = await _json(request, webinar.id, page)
    REPORT_SECONDS.labels("json").observe(time.perf_counter() - started)
    return response


async def _json(request: Request, webinar_id: UUID, page: report_queries.Page) -> Response:
    live = await request.state.store.live(webinar_id)
    window = page.window
    return json_response(
        {
            "webinar_id": webinar_id,
            "content_from": _iso(window.content_from),
            "content_to": _iso(window.content_to),
            "content_duration_seconds": window.duration_ms / 1000,
            "collect_to": _iso(window.collect_to),
            "generated_at": _iso(window.now_ms),
            "live": live._asdict() if live else {"viewers": 0, "active_sessions": 0},
            "summary": page.summary,
            "viewers": page.viewers,
            "next_cursor": page.next_cursor,
        }
    )


def _csv_row(person: report_queries.Person) -> list[Any]:
    return [
        person.viewer,
        person.user_id or "",
        person.sessions,
        person.watched_seconds,
        person.present_seconds,
        person.first_entered_at.isoformat(),
        person.last_seen_at.isoformat(),
        person.active_seconds,
        person.device,
        person.browser,
    ]


async def _csv(
    request: Request, webinar_id: UUID, cursor: report_queries.Cursor, started: float
) -> Response:
    """Every page of one snapshot, streamed. The first is read before the answer starts,
    so that an outage is still an HTTP error; a later one cuts the download short."""
    pg, stale_ms = request.state.pg, request.state.settings.stale_after_ms
    people, following = await report_queries.people(pg, webinar_id, stale_ms, PAGE_MAX, cursor)

    async def lines() -> AsyncIterator[str]:
        nonlocal people, following
        yield _csv_text([CSV_COLUMNS, *map(_csv_row, people)])
        while following is not None:
            people, following = await report_queries.people(
                pg, webinar_id, stale_ms, PAGE_MAX, following
            )
            yield _csv_text(map(_csv_row, people))
        REPORT_SECONDS.labels("csv").observe(time.perf_counter() - started)

    name = f"watch-time-{webinar_id}.csv"
    return StreamingResponse(lines(), media_type=CSV, headers=_attachment(name))


async def concurrency(request: Request) -> Response:
    webinar = await _webinar(request)
    kind = _format(request)
    with postgres_boundary():
        rows = await request.state.pg.fetch(CONCURRENCY, webinar.id)
    if kind == "csv":
        body = _csv_text(
            [
                CONCURRENCY_COLUMNS,
                *((r["bucket_at"].isoformat(), r["viewers"], r["active_sessions"]) for r in rows),
            ]
        )
        return Response(body, media_type=CSV, headers=_attachment(f"concurrency-{webinar.id}.csv"))
    points = [
        {"at": r["bucket_at"], "viewers": r["viewers"], "active_sessions": r["active_sessions"]}
        for r in rows
    ]
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
