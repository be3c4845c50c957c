"""The JSON answers of the API as msgspec structs: what /openapi.json describes, and
what the endpoints that build their answer in one place send."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from gateway import report_queries, reports


class Tracked(msgspec.Struct):
    """The session is known to the gateway: ping every ``heartbeat_interval_seconds``."""

    session_id: str
    heartbeat_interval_seconds: float


class LiveAnswer(msgspec.Struct):
    """Right now, from Redis: people pinging within the stale limit, and open sessions."""

    viewers: int
    active_sessions: int


class Health(msgspec.Struct):
    status: Literal["ok", "ready"]


class WatchTimeReport(msgspec.Struct):
    """One page of the watch-time report (R-STATS, R-EXT-5): people in the byte order of
    ``viewer``, as of the first page's moment (``generated_at``); ``next_cursor`` fetches
    the next page of that moment, null after the last. The summary is over everybody and
    comes with the first page only."""

    webinar_id: UUID
    content_from: datetime
    content_to: datetime
    content_duration_seconds: float
    collect_to: datetime
    generated_at: datetime
    live: LiveAnswer
    summary: report_queries.Summary | None
    viewers: list[report_queries.Person]
    next_cursor: str | None


class ConcurrencyPoint(msgspec.Struct):
    at: datetime
    viewers: int
    active_sessions: int


class Concurrency(msgspec.Struct):
    """Viewers and open sessions over time, one point per sweeper snapshot."""

    webinar_id: UUID
    points: list[ConcurrencyPoint]


class WatchTimeQuery(msgspec.Struct):
    """Query parameters of ``GET …/stats/watch-time``."""

    format: Annotated[
        Literal["json", "csv"],
        msgspec.Meta(description="csv: every person in one download, without paging"),
    ] = "json"
    limit: Annotated[
        int, msgspec.Meta(ge=1, le=reports.PAGE_MAX, description="people per page (JSON)")
    ] = reports.PAGE_DEFAULT
    cursor: Annotated[
        str | None, msgspec.Meta(description="the previous page's next_cursor (JSON)")
    ] = None


class ConcurrencyQuery(msgspec.Struct):
    """Query parameters of ``GET …/stats/concurrency``."""

    format: Annotated[
        Literal["json", "csv"], msgspec.Meta(description="csv: the points as a download")
    ] = "json"
