"""Who is asking (R-AUTH): viewers by an HS256 JWT whose ``sub`` is their user id,
guests without one, organisers by the admin token."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import time
from typing import Any
from uuid import UUID

from starlette.requests import Request

from gateway.errors import GatewayError, refusal
from watchtime.settings import Settings


def bearer(request: Request) -> str | None:
    return bearer_token(request.headers.get("authorization", ""))


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def viewer(settings: Settings, token: str | None) -> str:
    """The viewer's user id from a verified token, or '' for a guest."""
    if token is None:
        if not settings.allow_guests:
            raise GatewayError(401, "authentication_required", "guests are not allowed: sign in")
        return ""
    if not settings.viewer_token_secret:
        raise GatewayError(401, "invalid_token", "viewer tokens are not enabled on this server")
    subject, exp, nbf = _verified(token, settings.viewer_token_secret)
    _check_times(settings, exp, nbf)
    return subject


@functools.lru_cache(maxsize=65536)
def _verified(token: str, secret: str) -> tuple[str, Any, Any]:
    """Signature and subject of a token, checked once: a viewer pings with the same
    token all session long. Times are checked on every use; failures are not cached."""
    claims = verify_hs256(token, secret.encode())
    return _subject(claims), claims.get("exp"), claims.get("nbf")


def require_admin(request: Request, settings: Settings) -> None:
    token = bearer(request)
    if token is None:
        raise GatewayError(
            401, "authentication_required", "send Authorization: Bearer <ADMIN_TOKEN>"
        )
    if not _is_admin(token, settings):
        raise GatewayError(403, "forbidden", "this token may not manage webinars")


def viewer_or_admin(request: Request, settings: Settings) -> None:
    token = bearer(request)
    if not _is_admin(token, settings):
        viewer(settings, token)


def _is_admin(token: str | None, settings: Settings) -> bool:
    admin = settings.admin_token
    return bool(token and admin and hmac.compare_digest(token, admin))


def _invalid(why: str) -> GatewayError:
    return GatewayError(401, "invalid_token", why)


def _b64(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise _invalid("token is not base64url") from None


def verify_hs256(token: str, secret: bytes) -> dict[str, Any]:
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header, claims = json.loads(_b64(header_b64)), json.loads(_b64(payload_b64))
    except ValueError:
        raise _invalid("token is not a JWT") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        raise _invalid("only HS256 tokens are accepted")
    expected = hmac.new(secret, f"{header_b64}.{payload_b64}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _b64(signature_b64)):
        raise _invalid("bad token signature")
    return claims


def _check_times(settings: Settings, exp: Any, nbf: Any) -> None:
    """exp and nbf (R-EXT-3), each allowed the leeway either way; a token without exp
    would never expire, so it is refused unless the platform's tokens have none."""
    now, leeway = time.time(), settings.viewer_token_leeway_seconds
    if exp is None:
        if settings.viewer_token_require_exp:
            raise refusal("token_without_exp")
    elif _seconds(exp, "exp") + leeway < now:
        raise refusal("token_expired")
    if nbf is not None and _seconds(nbf, "nbf") - leeway > now:
        raise refusal("token_not_yet_valid")


def _seconds(claim: Any, name: str) -> float:
    """A NumericDate claim: seconds since the epoch (RFC 7519), never a bool or a string."""
    if isinstance(claim, bool) or not isinstance(claim, int | float):
        raise _invalid(f"claim {name} must be a number of seconds since the epoch")
    return claim


def _subject(claims: dict[str, Any]) -> str:
    try:
        return str(UUID(str(claims["sub"])))
    except (KeyError, ValueError):
        raise _invalid("claim sub must be the user's UUID") from None
