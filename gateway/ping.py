"""The ping path: ``POST /api/webinars/{webinar_id}/presence/ping``.

Every viewer sends it every interval, so it is a bare ASGI endpoint: headers read
once, the body decoded by msgspec, one coalesced Lua script call, 204. The script
holds the rules (R-SEM-2, R-SEM-3, R-SEM-6); this module translates HTTP to its
arguments and its outcome to a status. ``PingShortcut`` sends pings here past
Starlette and its router, through the middleware ``ON_PINGS`` applies; pings that need
CORS headers take the full stack to the same endpoint.
"""

from __future__ import annotations

import itertools
import math
import secrets
from collections.abc import Sequence

from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import auth, bodies
from gateway.cors import ViewerCors
from gateway.errors import REFUSALS, GatewayError, refusal, response_for
from gateway.metrics import PINGS, SESSIONS_CREATED, LatencyMiddleware
from gateway.viewer import extras
from watchtime.errors import BackendUnavailable
from watchtime.sessions import Outcome, Status

PREFIX, SUFFIX = "/api/webinars/", "/presence/ping"
NO_CONTENT: list[Message] = [
    {"type": "http.response.start", "status": 204, "headers": []},
    {"type": "http.response.body", "body": b""},
]
# Label children resolved once: .labels() on every ping would cost a dict lookup and a lock.
OUTCOMES = {status: PINGS.labels(status) for status in (*Status, *REFUSALS)}


class RequestIds:
    """Unique ids for ping requests, so a script call that redis-py retries after a
    lost reply is recognised by the script and credits nothing twice (R-SEM-7)."""

    def __init__(self) -> None:
        self.prefix = secrets.token_hex(6)
        self.counter = itertools.count()

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter):x}"


class PingEndpoint:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            outcome = await _ping(scope, receive)
        except (GatewayError, BackendUnavailable) as e:  # refused before the script ran
            PINGS.labels(e.error if isinstance(e, GatewayError) else e.reason).inc()
            return await _answer(response_for(e), scope, receive, send)
        OUTCOMES[outcome.status].inc()
        refusal = _refusal(outcome)
        if refusal is not None:
            return await _answer(response_for(refusal), scope, receive, send)
        if outcome.status is Status.CREATED:
            SESSIONS_CREATED.inc()
        for message in NO_CONTENT:
            await send(message)


async def _answer(response: Response, scope: Scope, receive: Receive, send: Send) -> None:
    await response(scope, receive, send)


def _refusal(outcome: Outcome) -> GatewayError | None:
    if outcome.status in REFUSALS:
        return refusal(outcome.status)
    if outcome.status is Status.RATE_LIMITED:
        wait = str(max(1, math.ceil(outcome.wait_ms / 1000)))
        return GatewayError(429, "too_many_pings", f"ping again in {wait}s", {"Retry-After": wait})
    return None


async def _ping(scope: Scope, receive: Receive) -> Outcome:
    state, headers = scope["state"], _Headers(scope)
    settings = state["settings"]
    webinar_id = bodies.webinar_id(scope["path_params"])
    raw = await bodies.read_body(receive, headers.get(b"content-length"), settings.max_body_bytes)
    body = bodies.decode(raw, bodies.Ping, headers.get(b"content-type"), empty_ok=True)
    user_id = auth.viewer(settings, auth.bearer_token(headers.get(b"authorization")))
    session_id = body.session()
    if session_id is None:  # the legacy ping: presence only (R-SEM-3)
        if not user_id:
            raise GatewayError(422, "invalid_field", "guests must send session_id")
        outcome: Outcome = await state["store"].presence(webinar_id, user_id)
        return outcome
    details = extras(
        headers.get(b"user-agent"), headers.get(b"referer"), scope.get("client"), body.visitor_id
    )
    view = body.view_state
    return await state["store"].ping(  # type: ignore[no-any-return]
        webinar_id,
        session_id,
        user_id,
        state["request_ids"](),
        visible=view.is_visible,
        active=view.is_active,
        extras=details,
    )


class _Headers:
    """The few request headers a ping reads, decoded only when read."""

    def __init__(self, scope: Scope) -> None:
        self.raw: dict[bytes, bytes] = dict(scope["headers"])

    def get(self, name: bytes) -> str:
        return self.raw.get(name, b"").decode("latin-1")


ENDPOINT = PingEndpoint()
ROUTE = Route(PREFIX + "{webinar_id}" + SUFFIX, ENDPOINT, methods=["POST"])


# Every middleware of the Starlette app, as a ping the shortcut serves meets it: applied
# (the same class, wrapped around the endpoint in the app's order) or skipped, and why.
# The shortcut passes Starlette by for speed, so a middleware added to the app must be
# named here: PingShortcut refuses to start otherwise.
APPLIED = "applied"
ON_PINGS: dict[type, str] = {
    LatencyMiddleware: APPLIED,
    ViewerCors: "skipped: a ping that needs CORS headers (it names an Origin and CORS is "
    "configured) takes the full stack instead",
}


class PingShortcut:
    """The gateway's outermost ASGI app but for admission and the access log: serves
    pings itself, past Starlette and its router, through the app's middleware that
    ``ON_PINGS`` applies, unless CORS is configured and the request comes from another
    origin; everything else goes to the Starlette app."""

    def __init__(self, app: ASGIApp, middleware: Sequence[Middleware], cors: bool) -> None:
        self.app = app
        self.cors = cors
        self.ping = _through(ENDPOINT, middleware)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        webinar_id = _ping_webinar(scope)
        if webinar_id is None or (self.cors and _has_origin(scope)):
            await self.app(scope, receive, send)
            return
        scope["path_params"] = {"webinar_id": webinar_id}
        scope["route"] = ROUTE  # what the router would have matched, for the metrics' label
        await self.ping(scope, receive, send)


def _through(endpoint: ASGIApp, middleware: Sequence[Middleware]) -> ASGIApp:
    """``endpoint`` inside the middleware ``ON_PINGS`` applies, the first outermost."""
    for cls, args, kwargs in reversed(middleware):
        if cls not in ON_PINGS:
            raise TypeError(f"{cls.__name__} is not in gateway.ping.ON_PINGS: apply or skip it")
        if ON_PINGS[cls] == APPLIED:
            endpoint = cls(endpoint, *args, **kwargs)
    return endpoint


def _ping_webinar(scope: Scope) -> str | None:
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
        return None
    middle = path[len(PREFIX) : -len(SUFFIX)]
    return middle if middle and "/" not in middle else None


def _has_origin(scope: Scope) -> bool:
    return any(name == b"origin" for name, _ in scope["headers"])
