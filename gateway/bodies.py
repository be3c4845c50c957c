"""Request parsing: the webinar id of the path, and bodies as msgspec Structs read with
a size limit before parsing."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar
from uuid import UUID

import msgspec
from starlette.requests import Request
from starlette.types import Receive

from gateway.errors import GatewayError

T = TypeVar("T")

# session_${Date.now()}_${random} or a UUID; it becomes part of Redis key names.
SessionId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
ShortText = Annotated[str, msgspec.Meta(max_length=64)]
# An opaque id a guest's browser keeps across page loads (R-EXT-4); it groups, never proves.
VisitorId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]

JSON = "application/json"
TEXT = "text/plain"  # what navigator.sendBeacon sends for a string body


class ViewState(msgspec.Struct):
    is_visible: bool = True
    is_active: bool = True


class SessionRef(msgspec.Struct):
    """Clients name the session ``session_id`` or ``session_key``: same meaning."""

    session_id: SessionId | None = None
    session_key: SessionId | None = None

    def session(self) -> str | None:
        if self.session_id and self.session_key and self.session_id != self.session_key:
            raise GatewayError(422, "invalid_field", "session_id and session_key differ")
        return self.session_id or self.session_key

    def required_session(self) -> str:
        session = self.session()
        if session is None:
            raise GatewayError(422, "invalid_field", "session_id is required")
        return session


class Track(SessionRef):
    agency_id: ShortText | None = None
    client_id: ShortText | None = None
    visitor_id: VisitorId | None = None
    view_state: ViewState = msgspec.field(default_factory=ViewState)


class Ping(SessionRef):
    visitor_id: VisitorId | None = None  # kept if this ping creates the session
    view_state: ViewState = msgspec.field(default_factory=ViewState)


class Exit(SessionRef):
    # sendBeacon cannot set headers, so a signed-in viewer's beacon carries its token here.
    token: str | None = None


def webinar_id(path_params: Mapping[str, Any]) -> UUID:
    try:
        return _uuid(path_params["webinar_id"])
    except ValueError:
        raise GatewayError(404, "webinar_not_found", "webinar ids are UUIDs") from None


@functools.lru_cache(maxsize=4096)
def _uuid(text: str) -> UUID:
    """Parsed once per webinar: every viewer of a webinar pings the same path."""
    return UUID(text)


async def read(
    request: Request, kind: type[T], max_bytes: int, text_ok: bool = False, empty_ok: bool = False
) -> T:
    """A Starlette endpoint's body as ``kind``."""
    declared = request.headers.get("content-length")
    raw = await read_body(request.receive, declared, max_bytes)
    return decode(raw, kind, request.headers.get("content-type", ""), text_ok, empty_ok)


def decode(
    raw: bytes, kind: type[T], content_type: str, text_ok: bool = False, empty_ok: bool = False
) -> T:
    if not raw and empty_ok:
        raw = b"{}"
    else:
        _check_media(content_type, text_ok)
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as e:
        raise GatewayError(422, "invalid_field", str(e)) from None
    except msgspec.DecodeError as e:
        raise GatewayError(400, "malformed_body", f"body is not valid JSON: {e}") from None


def _check_media(content_type: str, text_ok: bool) -> None:
    media = content_type.split(";", 1)[0].strip().lower()
    if media != JSON and not (text_ok and media == TEXT):
        allowed = f"{JSON} or {TEXT}" if text_ok else JSON
        raise GatewayError(
            415, "unsupported_media_type", f"send {allowed}, not {media or 'nothing'}"
        )


async def read_body(receive: Receive, declared: str | None, max_bytes: int) -> bytes:
    """The whole body, refused with 413 as soon as it passes max_bytes."""
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    body = b""
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise GatewayError(400, "malformed_body", "the client left before its body arrived")
        body += message.get("body", b"")
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
        more = message.get("more_body", False)
    return body


def _too_large(max_bytes: int) -> GatewayError:
    return GatewayError(413, "body_too_large", f"request bodies are limited to {max_bytes} bytes")
