"""The viewer endpoints: track, ping, exit and live counts.

Each request is one Lua script call on Redis (R-ARCH-1); the script holds the rules
(R-SEM), this module only translates HTTP to arguments and outcomes to statuses.
"""

from __future__ import annotations

import itertools
import math
import secrets
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import auth, bodies
from gateway.errors import GatewayError, json_response
from gateway.metrics import PINGS, SESSIONS_CREATED
from watchtime.metrics import SESSIONS_CLOSED
from watchtime.sessions import Outcome

REFUSALS = {
    "no_webinar": (404, "webinar_not_found", "no webinar with this id"),
    "no_session": (404, "session_not_found", "no session with this id"),
    "closed": (409, "session_closed", "this session has ended: start a new one"),
    "other_user": (409, "session_conflict", "this session belongs to another viewer"),
}


class RequestIds:
    """Unique ids for ping requests, so a script call that redis-py retries after a
    lost reply is recognised by the script and credits nothing twice (R-SEM-7)."""

    def __init__(self) -> None:
        self.prefix = secrets.token_hex(6)
        self.counter = itertools.count()

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter):x}"


def _refuse(outcome: Outcome) -> GatewayError:
    status, error, detail = REFUSALS[outcome.status]
    return GatewayError(status, error, detail)


def _extras(request: Request) -> dict[str, str]:
    """Write-once details of a new session, clipped so a header cannot bloat Redis."""
    limit = 512
    return {
        "user_agent": request.headers.get("user-agent", "")[:limit],
        "referrer": request.headers.get("referer", "")[:limit],
        "ip_address": request.client.host if request.client else "",
    }


async def track(request: Request) -> Response:
    state = request.state
    webinar_id = bodies.webinar_id(request)
    body = await bodies.read(request, bodies.Track, state.settings.max_body_bytes)
    user_id = auth.viewer(state.settings, auth.bearer(request))
    session_id = body.required_session()
    extras = _extras(request) | {
        "agency_id": body.agency_id or "",
        "client_id": body.client_id or "",
    }
    outcome = await state.store.track(
        webinar_id,
        session_id,
        user_id,
        body.view_state.is_visible,
        body.view_state.is_active,
        extras,
    )
    if outcome.status not in ("created", "exists"):
        raise _refuse(outcome)
    if outcome.status == "created":
        SESSIONS_CREATED.inc()
    interval = state.settings.heartbeat_interval_seconds
    return json_response({"session_id": session_id, "heartbeat_interval_seconds": interval})


async def ping(request: Request) -> Response:
    state = request.state
    webinar_id = bodies.webinar_id(request)
    try:
        body = await bodies.read(request, bodies.Ping, state.settings.max_body_bytes, empty_ok=True)
        user_id = auth.viewer(state.settings, auth.bearer(request))
        outcome = await _ping(request, webinar_id, body, user_id)
    except GatewayError as e:
        PINGS.labels(e.error).inc()
        raise
    PINGS.labels(outcome.status).inc()
    if outcome.status == "rate_limited":
        wait = str(max(1, math.ceil(outcome.first / 1000)))
        raise GatewayError(429, "too_many_pings", f"ping again in {wait}s", {"Retry-After": wait})
    if outcome.status == "created":
        SESSIONS_CREATED.inc()
    return Response(status_code=204)


async def _ping(request: Request, webinar_id: UUID, body: bodies.Ping, user_id: str) -> Outcome:
    state = request.state
    session_id = body.session()
    outcome: Outcome
    if session_id is None:
        if not user_id:
            raise GatewayError(422, "invalid_field", "guests must send session_id")
        outcome = await state.store.presence(webinar_id, user_id)
    else:
        view = body.view_state
        outcome = await state.store.ping(
            webinar_id,
            session_id,
            user_id,
            state.request_ids(),
            view.is_visible,
            view.is_active,
            _extras(request),
        )
    if outcome.status in REFUSALS:
        raise _refuse(outcome)
    return outcome


async def exit_(request: Request) -> Response:
    state = request.state
    webinar_id = bodies.webinar_id(request)
    body = await bodies.read(request, bodies.Exit, state.settings.max_body_bytes, text_ok=True)
    user_id = auth.viewer(state.settings, auth.bearer(request) or body.token)
    outcome = await state.store.exit(webinar_id, body.required_session(), user_id)
    if outcome.status == "ok":
        SESSIONS_CLOSED.labels("exit").inc()
    elif outcome.status != "closed":  # exit is idempotent
        raise _refuse(outcome)
    return Response(status_code=204)


async def live(request: Request) -> Response:
    auth.viewer_or_admin(request, request.state.settings)
    counts = await request.state.store.live(bodies.webinar_id(request))
    if counts is None:
        raise _refuse(Outcome("no_webinar"))
    return json_response(counts._asdict())


ROUTES = [
    Route("/api/webinars/{webinar_id}/access/track", track, methods=["POST"]),
    Route("/api/webinars/{webinar_id}/presence/ping", ping, methods=["POST"]),
    Route("/api/webinars/{webinar_id}/access/exit", exit_, methods=["POST"]),
    Route("/api/webinars/{webinar_id}/live", live, methods=["GET"]),
]
