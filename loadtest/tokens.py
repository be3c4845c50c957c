"""Viewer tokens as a platform back-end issues them: HS256 JWTs whose ``sub`` is the
user id, signed with ``VIEWER_TOKEN_SECRET`` (R-AUTH)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def viewer_token(sub: str, secret: str, ttl_seconds: int | None = 3600, **claims: Any) -> str:
    """A token that expires ``ttl_seconds`` from now (``None``: a token without exp, which
    the gateway refuses unless ``VIEWER_TOKEN_REQUIRE_EXP=false``)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    if ttl_seconds is not None:
        claims = {"exp": int(time.time()) + ttl_seconds, **claims}
    payload = _b64(json.dumps({"sub": sub, **claims}).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"
