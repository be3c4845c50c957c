"""The viewer endpoints besides the ping (gateway/ping.py): track, exit and live counts.

Each request is one Lua script call on Redis (R-ARCH-1); the script holds the rules
(R-SEM), this module only translates HTTP to arguments and outcomes to statuses.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import auth, bodies
from gateway.answers import Tracked
from gateway.errors import json_response, refusal
from gateway.metrics import SESSIONS_CREATED
from watchtime.limits import MAX_EXTRA_BYTES
from watchtime.metrics import SESSIONS_CLOSED
from watchtime.sessions import Status


def extras(
    user_agent: str, referrer: str, client: tuple[str, int] | None, visitor_id: str | None
) -> dict[str, str]:
    """Write-once details of a new session, clipped so a header cannot bloat Redis."""
    return {
        "user_agent": user_agent[:MAX_EXTRA_BYTES],
        "referrer": referrer[:MAX_EXTRA_BYTES],
        "ip_address": client[0] if client else "",
        "visitor_id": visitor_id or "",
    }


async def track(request: Request) -> Response:
    state = request.state
    webinar_id = bodies.webinar_id(request.path_params)
    body = await bodies.read(request, bodies.Track, state.settings.max_body_bytes)
    user_id = auth.viewer(state.settings, auth.bearer(request))
    session_id = body.required_session()
    details = extras(
        request.headers.get("user-agent", ""),
        request.headers.get("referer", ""),
        request.client,
        body.visitor_id,
    ) | {
        "agency_id": body.agency_id or "",
        "client_id": body.client_id or "",
    }
    outcome = await state.store.track(
        webinar_id,
        session_id,
        user_id,
        visible=body.view_state.is_visible,
        active=body.view_state.is_active,
        extras=details,
    )
    if outcome.status not in (Status.CREATED, Status.EXISTS):
        raise refusal(outcome.status)
    if outcome.status is Status.CREATED:
        SESSIONS_CREATED.inc()
    return json_response(Tracked(session_id, state.settings.heartbeat_interval_seconds))


async def exit_(request: Request) -> Response:
    state = request.state
    webinar_id = bodies.webinar_id(request.path_params)
    body = await bodies.read(request, bodies.Exit, state.settings.max_body_bytes, text_ok=True)
    user_id = auth.viewer(state.settings, auth.bearer(request) or body.token)
    outcome = await state.store.exit(webinar_id, body.required_session(), user_id)
    if outcome.status is Status.OK:
        SESSIONS_CLOSED.labels("exit").inc()
    elif outcome.status is not Status.CLOSED:  # exit is idempotent
        raise refusal(outcome.status)
    return Response(status_code=204)


async def live(request: Request) -> Response:
    auth.viewer_or_admin(request, request.state.settings)
    counts = await request.state.store.live(bodies.webinar_id(request.path_params))
    if counts is None:
        raise refusal(Status.NO_WEBINAR)
    return json_response(counts._asdict())


ROUTES = [
    Route("/api/webinars/{webinar_id}/access/track", track, methods=["POST"]),
    Route("/api/webinars/{webinar_id}/access/exit", exit_, methods=["POST"]),
    Route("/api/webinars/{webinar_id}/live", live, methods=["GET"]),
]
