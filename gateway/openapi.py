"""``GET /openapi.json``: the API as an OpenAPI 3.1 document, generated from the app's
route table and the msgspec structs the endpoints read and answer.

OPERATIONS says, per route, which structs, who may call it and what it may refuse
beyond what follows from that: a body can be malformed, too large or of the wrong
type; a token missing or refused; under /api/webinars/{webinar_id} the webinar unknown
(404) or a backend down (503); any route but the operations endpoints may meet
admission control (503). A route without an entry makes the document fail, and the
test that every route is described with it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

import watchtime
from gateway import admission, answers, bodies
from gateway.errors import ErrorAnswer, json_response
from watchtime.webinars import Schedule, Webinar

JSON, TEXT, CSV, HTML, JS = (
    "application/json",
    "text/plain",
    "text/csv",
    "text/html",
    "text/javascript",
)
REF = "#/components/schemas/{name}"
API = "/api/webinars/{webinar_id}"


class Auth(enum.Enum):
    NONE = "anyone"
    VIEWER = "a viewer (viewer token), or a guest without one where guests are allowed"
    ADMIN = "the organiser (admin token)"
    VIEWER_OR_ADMIN = "a viewer, a guest or the organiser"


SECURITY: Mapping[Auth, list[dict[str, list[str]]]] = {
    Auth.NONE: [],
    Auth.VIEWER: [{"viewerToken": []}, {}],
    Auth.ADMIN: [{"adminToken": []}],
    Auth.VIEWER_OR_ADMIN: [{"viewerToken": []}, {"adminToken": []}, {}],
}

# What each refusal status means, with the error codes it carries.
REFUSALS = {
    400: "`malformed_body`: the body is not JSON",
    401: "`authentication_required` (a token is needed), `invalid_token` (`detail` says why), "
    "`token_without_exp`, `token_expired` or `token_not_yet_valid`",
    403: "`forbidden`: this token may not do this",
    404: "`webinar_not_found`: no webinar with this id (webinar ids are UUIDs)",
    413: "`body_too_large`: the body is over MAX_BODY_BYTES",
    415: "`unsupported_media_type`",
    422: "`invalid_field`: a field or parameter is missing or invalid (`detail` names it)",
    503: "`redis_unavailable`, `redis_full` or `postgres_unavailable`: a backend cannot serve; "
    "or `overloaded`: the gateway is at capacity. Ask again after `Retry-After`",
}
# Any route but the operations endpoints may meet admission control (R-EXT-2).
OVERLOADED = "`overloaded`: the gateway is at capacity; ask again after `Retry-After`"
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
CLOSED = (
    "`session_closed`: the session has ended (start a new one), or `session_conflict`: "
    "it belongs to another viewer"
)
STRING = {"type": "string"}


@dataclass(frozen=True)
class Answer:
    status: int
    description: str
    body: type | dict[str, Any] | None = None  # a struct, or a JSON schema
    media: str = JSON


@dataclass(frozen=True)
class Operation:
    summary: str
    answer: Answer
    auth: Auth = Auth.NONE
    body: type | None = None
    body_media: tuple[str, ...] = (JSON,)
    body_required: bool = True
    query: type | None = None
    refusals: Mapping[int, str] = field(default_factory=dict)
    more: tuple[Answer, ...] = ()  # the same status in other media
    tag: str = ""  # default: by who may call it

    @property
    def group(self) -> str:
        default = {Auth.ADMIN: "organisers", Auth.NONE: "operations"}.get(self.auth, "viewers")
        return self.tag or default


OPERATIONS: Mapping[tuple[str, str], Operation] = {
    ("PUT", API): Operation(
        "Create or update a webinar's schedule (mirrored into Redis)",
        Answer(200, "the webinar as stored", Webinar),
        Auth.ADMIN,
        body=Schedule,
    ),
    ("GET", API): Operation("Read a webinar", Answer(200, "the webinar", Webinar), Auth.ADMIN),
    ("POST", API + "/end"): Operation(
        "End the webinar now (server time); the first end wins, PUT corrects it",
        Answer(200, "the webinar with its actual end", Webinar),
        Auth.ADMIN,
        refusals={409: "`webinar_not_started`: a webinar cannot end before its start"},
    ),
    ("POST", API + "/access/track"): Operation(
        "Enter: open a session (idempotent for the same session id)",
        Answer(200, "the session is open", answers.Tracked),
        Auth.VIEWER,
        body=bodies.Track,
        refusals={409: CLOSED},
    ),
    ("POST", API + "/presence/ping"): Operation(
        "Heartbeat: credits the interval since the previous one if the tab was visible",
        Answer(204, "counted"),
        Auth.VIEWER,
        body=bodies.Ping,
        body_required=False,
        refusals={
            409: CLOSED,
            429: "`too_many_pings`: the same visibility again too soon; wait `Retry-After`",
        },
    ),
    ("POST", API + "/access/exit"): Operation(
        "Leave: closes the session, crediting its last interval (idempotent); takes "
        "navigator.sendBeacon's text/plain body, which may carry the viewer's token",
        Answer(204, "closed"),
        Auth.VIEWER,
        body=bodies.Exit,
        body_media=(JSON, TEXT),
        refusals={
            404: "`webinar_not_found`, or `session_not_found`: no session with this id",
            409: "`session_conflict`: the session belongs to another viewer",
        },
    ),
    ("GET", API + "/live"): Operation(
        "Live counts, from Redis",
        Answer(200, "viewers and open sessions now", answers.LiveAnswer),
        Auth.VIEWER_OR_ADMIN,
    ),
    ("GET", API + "/stats/watch-time"): Operation(
        "Watch-time report: one row per person, a page at a time (or all as CSV)",
        Answer(200, "one page of the report", answers.WatchTimeReport),
        Auth.ADMIN,
        query=answers.WatchTimeQuery,
        refusals={503: REFUSALS[503] + "; `report_timeout`: the report took too long"},
        more=(Answer(200, "format=csv: every person, as a download", STRING, CSV),),
    ),
    ("GET", API + "/stats/concurrency"): Operation(
        "Viewers and open sessions over time",
        Answer(200, "one point per snapshot, oldest first", answers.Concurrency),
        Auth.ADMIN,
        query=answers.ConcurrencyQuery,
        more=(Answer(200, "format=csv: the points, as a download", STRING, CSV),),
    ),
    ("GET", "/healthz"): Operation("Liveness", Answer(200, "the gateway runs", answers.Health)),
    ("GET", "/readyz"): Operation(
        "Readiness: Redis answers",
        Answer(200, "ready", answers.Health),
        refusals={503: "`redis_unavailable`"},
    ),
    ("GET", "/metrics"): Operation(
        "Prometheus metrics of every gateway worker", Answer(200, "the text format", STRING, TEXT)
    ),
    ("GET", "/openapi.json"): Operation(
        "This document", Answer(200, "OpenAPI 3.1", {"type": "object"})
    ),
    ("GET", "/docs"): Operation(
        "This document as a page for people", Answer(200, "the API page", STRING, HTML)
    ),
    ("GET", "/demo/{webinar_id}"): Operation(
        "A demo viewer page: the browser client as a guest",
        Answer(200, "the page", STRING, HTML),
        tag="pages",
    ),
    ("GET", "/admin/webinars/{webinar_id}"): Operation(
        "The organiser's page of a webinar (asks for the admin token)",
        Answer(200, "the page", STRING, HTML),
        tag="pages",
    ),
    ("GET", "/static/watchtime.mjs"): Operation(
        "The browser client as an ES module: `import {start} from …`",
        Answer(200, "the module", STRING, JS),
        tag="pages",
    ),
    ("GET", "/static/{path}"): Operation(
        "Static files: the browser client's script-tag build (watchtime.js), the pages' files",
        Answer(200, "the file", STRING, JS),
        refusals={404: "`not_found`"},
        tag="pages",
    ),
}


def endpoints(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, str]]:
    """(method, path) of every route the app serves; a mount is one GET of its files."""
    for route in routes:
        if isinstance(route, Route):
            path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)  # Starlette's convertors
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield method, path
        elif isinstance(route, Mount):
            yield "GET", route.path + "/{path}"


def document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    ops = [(method, path, _described(method, path)) for method, path in endpoints(routes)]
    structs = {kind for _, _, op in ops for kind in _structs(op)}
    ordered = sorted(structs, key=lambda kind: kind.__name__)
    _, schemas = msgspec.json.schema_components([ErrorAnswer, *ordered], ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for method, path, op in ops:
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "webinar-watchtime",
            "version": watchtime.__version__,
            "description": "How long each viewer really watched a live webinar. Every "
            'refusal is JSON `{"error": "<code>", "detail": "<text>"}`.',
        },
        "tags": [{"name": name} for name in ("viewers", "organisers", "operations", "pages")],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }


def _described(method: str, path: str) -> Operation:
    try:
        return OPERATIONS[method, path]
    except KeyError:
        raise LookupError(f"{method} {path} has no entry in gateway/openapi.py") from None


def _structs(op: Operation) -> Iterator[type]:
    for kind in (op.body, op.query, op.answer.body, *(a.body for a in op.more)):
        if isinstance(kind, type):
            yield kind


def _schema(kind: type | dict[str, Any]) -> dict[str, Any]:
    return {"$ref": REF.format(name=kind.__name__)} if isinstance(kind, type) else kind


def _operation(method: str, path: str, op: Operation) -> dict[str, Any]:
    described: dict[str, Any] = {
        "operationId": method.lower() + re.sub(r"\W+", "_", path).rstrip("_"),
        "summary": op.summary,
        "description": f"Who: {op.auth.value}.",
        "tags": [op.group],
        "security": SECURITY[op.auth],
        "parameters": [*_path_parameters(path), *_query_parameters(op.query)],
        "responses": _responses(path, op),
    }
    if op.body is not None:
        content = {media: {"schema": _schema(op.body)} for media in op.body_media}
        described["requestBody"] = {"required": op.body_required, "content": content}
    return described


def _path_parameters(path: str) -> Iterator[dict[str, Any]]:
    for name in re.findall(r"{(\w+)}", path):
        schema = {"type": "string", "format": "uuid"} if name == "webinar_id" else STRING
        yield {"name": name, "in": "path", "required": True, "schema": schema}


def _query_parameters(query: type | None) -> Iterator[dict[str, Any]]:
    """A struct's fields as query parameters: each one's schema without its description."""
    if query is None:
        return
    _, schemas = msgspec.json.schema_components([query], ref_template=REF)
    for name, schema in schemas[query.__name__]["properties"].items():
        description = schema.pop("description", "")
        yield {"name": name, "in": "query", "description": description, "schema": schema}


def _refusals(path: str, op: Operation) -> dict[int, str]:
    """The statuses a refusal of this operation can have, and what they mean."""
    statuses = set()
    if op.body is not None:
        statuses |= {400, 413, 415, 422}
    if op.query is not None:
        statuses.add(422)
    if op.auth is not Auth.NONE:
        statuses.add(401)
    if op.auth is Auth.ADMIN:
        statuses.add(403)
    if path.startswith(API):
        statuses |= {404, 503}
    refusals = {s: REFUSALS[s] for s in statuses}
    if path not in admission.OPERATIONS and 503 not in refusals:
        refusals[503] = OVERLOADED
    return dict(sorted((refusals | dict(op.refusals)).items()))


def _responses(path: str, op: Operation) -> dict[str, Any]:
    success: dict[str, Any] = {"description": op.answer.description}
    if op.answer.body is not None:
        success["content"] = {
            a.media: {"schema": _schema(a.body)}
            for a in (op.answer, *op.more)
            if a.body is not None
        }
    responses: dict[str, Any] = {str(op.answer.status): success}
    for status, text in _refusals(path, op).items():
        refusal = {"description": text, "content": {JSON: {"schema": _schema(ErrorAnswer)}}}
        if status in (429, 503):
            refusal["headers"] = RETRY_AFTER
        responses[str(status)] = refusal
    return responses


SECURITY_SCHEMES = {
    "viewerToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "HS256 signed with VIEWER_TOKEN_SECRET; claim sub is the user's UUID",
    },
    "adminToken": {"type": "http", "scheme": "bearer", "description": "ADMIN_TOKEN"},
}


async def openapi_json(request: Request) -> Response:
    return json_response(document(request.app.routes))


ROUTES: list[BaseRoute] = [Route("/openapi.json", openapi_json, methods=["GET"])]
