"""Organisers' endpoints: webinar schedules, stored in Postgres and mirrored into Redis."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import auth, bodies
from gateway.errors import GatewayError, json_response, refusal
from watchtime import clock, webinars
from watchtime.sessions import Status


async def put_webinar(request: Request) -> Response:
    state = request.state
    auth.require_admin(request, state.settings)
    webinar_id = bodies.webinar_id(request.path_params)
    schedule = await bodies.read(request, webinars.Schedule, state.settings.max_body_bytes)
    problem = schedule.problem()
    if problem:
        raise GatewayError(422, "invalid_field", problem)
    webinar = await webinars.save(state.pg, webinar_id, schedule)
    await webinars.mirror(state.redis, webinar)
    return json_response(webinar)


async def get_webinar(request: Request) -> Response:
    auth.require_admin(request, request.state.settings)
    webinar = await webinars.fetch(request.state.pg, bodies.webinar_id(request.path_params))
    if webinar is None:
        raise refusal(Status.NO_WEBINAR)
    return json_response(webinar)


async def end_webinar(request: Request) -> Response:
    state = request.state
    auth.require_admin(request, state.settings)
    webinar_id = bodies.webinar_id(request.path_params)
    webinar = await webinars.end(state.pg, webinar_id, await clock.server_time(state.redis))
    if webinar is None:
        if await webinars.fetch(state.pg, webinar_id) is None:
            raise refusal(Status.NO_WEBINAR)
        raise GatewayError(409, "webinar_not_started", "a webinar cannot end before its start")
    await webinars.mirror(state.redis, webinar)
    return json_response(webinar)


ROUTES = [
    Route("/api/webinars/{webinar_id}", put_webinar, methods=["PUT"]),
    Route("/api/webinars/{webinar_id}", get_webinar, methods=["GET"]),
    Route("/api/webinars/{webinar_id}/end", end_webinar, methods=["POST"]),
]
