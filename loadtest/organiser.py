"""A small JSON client for the organiser's side of a load test (create the webinar,
read live counts and reports): urllib, because these are a handful of calls."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import msgspec


class ApiError(RuntimeError):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:500].decode(errors='replace')}")
        self.status = status


def call(
    method: str, url: str, token: str | None = None, body: Any = None, timeout: float = 30
) -> Any:
    """The decoded JSON answer; ApiError for any status but 2xx."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = msgspec.json.encode(body)
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as e:
        raise ApiError(e.code, e.read()) from None
    return msgspec.json.decode(raw) if raw else None
