"""The error contract (docs/api.md, R-API): JSON ``{"error", "detail"}`` with a fitting status."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway.metrics import REDIS_ERRORS
from watchtime.errors import BackendUnavailable
from watchtime.sessions import Status


class ErrorAnswer(msgspec.Struct):
    """Every refusal: a stable machine-readable code and a sentence for people."""

    error: str
    detail: str


class GatewayError(Exception):
    def __init__(
        self, status: int, error: str, detail: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers


# The session scripts' refusals, as HTTP; "no_webinar" also answers any other lookup of
# a webinar that does not exist. Then the viewer token's time rules (R-EXT-3).
REFUSALS: dict[str, tuple[int, str, str]] = {
    Status.NO_WEBINAR: (404, "webinar_not_found", "no webinar with this id"),
    Status.NO_SESSION: (404, "session_not_found", "no session with this id"),
    Status.CLOSED: (409, "session_closed", "this session has ended: start a new one"),
    Status.OTHER_USER: (409, "session_conflict", "this session belongs to another viewer"),
    "token_without_exp": (401, "token_without_exp", "the viewer token has no exp claim"),
    "token_expired": (401, "token_expired", "the viewer token has expired: get a new one"),
    "token_not_yet_valid": (401, "token_not_yet_valid", "the viewer token's nbf is ahead"),
}


def refusal(status: str) -> GatewayError:
    return GatewayError(*REFUSALS[status])


def json_response(
    data: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(msgspec.json.encode(data), status, headers, media_type="application/json")


def error_response(
    status: int, error: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    return json_response(ErrorAnswer(error, detail), status, headers)


def response_for(exc: GatewayError | BackendUnavailable) -> Response:
    if isinstance(exc, GatewayError):
        return error_response(exc.status, exc.error, exc.detail, exc.headers)
    if exc.backend == "redis":
        REDIS_ERRORS.inc()
    error = f"{exc.backend}_{exc.reason}"  # redis_full, redis_unavailable, postgres_unavailable
    return error_response(503, error, str(exc), {"Retry-After": "1"})


async def on_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError | BackendUnavailable)
    return response_for(exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 in the same JSON shape."""
    assert isinstance(exc, HTTPException)
    error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, error, str(exc.detail), exc.headers)


HANDLERS = {
    GatewayError: on_error,
    BackendUnavailable: on_error,
    HTTPException: on_http_exception,
}
