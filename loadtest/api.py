"""The viewer endpoints through Locust's FastHttpSession, each answer judged for
Locust's statistics: a 429 on a ping is the rate limit working as intended (success),
and so is 409 ``session_closed`` when the tab had been silent past the stale limit.
A 503 with ``Retry-After`` (the gateway at capacity, or Redis full) is a refusal that
changed nothing: a success for Locust, and the tab sends the request again after it.
Every answer is also counted by kind in the ledger (``ping 204``, ``ping 503``, ...),
which Locust's success/failure split does not show.
"""

from __future__ import annotations

from typing import Any

import msgspec
from locust.contrib.fasthttp import FastHttpSession, ResponseContextManager

from loadtest.ledger import Ledger
from loadtest.tab import Answer

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) watchtime-loadtest"


class LocustViewerApi:
    def __init__(
        self, client: FastHttpSession, ledger: Ledger, webinar_id: str, token: str | None
    ) -> None:
        self.client, self.ledger, self.token = client, ledger, token
        self.retry_after = 0.0
        self.maybe_applied = False
        self.base = f"/api/webinars/{webinar_id}"
        self.headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def track(self, session_id: str, visible: bool) -> float | None:
        body = {"session_id": session_id, "view_state": {"is_visible": visible}}
        with self._post("/access/track", body, "track") as response:
            self._count("track", response)
            if response.status_code != 200:
                if not self._refused(response):
                    _fail(response)
                return None
            interval: float = response.json()["heartbeat_interval_seconds"]
            return interval

    def ping(self, session_id: str, visible: bool, flip: bool, closed_expected: bool) -> Answer:
        body = {"session_id": session_id, "view_state": {"is_visible": visible, "is_active": True}}
        name = "ping (visibility change)" if flip else "ping"
        with self._post("/presence/ping", body, name) as response:
            self._count("ping", response)
            status = response.status_code
            if status == 204:
                return Answer.OK
            if self._refused(response):
                return Answer.REFUSED
            if status == 429:
                response.success()  # the rate limit at work, as intended
                return Answer.RATE_LIMITED
            if status == 409 and _error(response) == "session_closed":
                if closed_expected:
                    response.success()
                else:
                    response.failure("409 session_closed while pinging on schedule")
                return Answer.CLOSED
            _fail(response)
            return Answer.FAILED

    def exit(self, session_id: str) -> bool:
        """The beacon: text/plain, as navigator.sendBeacon sends a string; it cannot set
        headers, so a signed-in viewer's token travels in the body."""
        body: dict[str, Any] = {"session_id": session_id}
        if self.token:
            body["token"] = self.token
        headers = {"Content-Type": "text/plain;charset=UTF-8", "User-Agent": USER_AGENT}
        with self.client.post(
            self.base + "/access/exit",
            data=_json(body),
            headers=headers,
            name="exit (beacon)",
            catch_response=True,
        ) as response:
            self._count("exit", response)
            if response.status_code == 204:
                return True
            if not self._refused(response):  # else the sweeper closes it, as intended
                _fail(response)
            return False

    def _post(self, path: str, body: dict[str, Any], name: str) -> ResponseContextManager:
        return self.client.post(
            self.base + path,
            data=_json(body),
            headers=self.headers,
            name=name,
            catch_response=True,
        )

    def _count(self, kind: str, response: ResponseContextManager) -> None:
        self.ledger.count(f"{kind} {response.status_code or 'no answer'}")
        self.retry_after, self.maybe_applied = 0.0, False

    def _refused(self, response: ResponseContextManager) -> bool:
        """A 503 that asks to come back later: the service shedding load, as intended."""
        headers = response.headers if response.status_code == 503 else None
        wait = str(headers.get("Retry-After", "")) if headers else ""
        if not wait.isdigit():
            return False
        response.success()
        self.retry_after = float(wait)
        self.maybe_applied = _error(response) == "redis_unavailable"
        return True


def _json(body: dict[str, Any]) -> str:
    return msgspec.json.encode(body).decode()


def _error(response: ResponseContextManager) -> str | None:
    try:
        error: str = response.json()["error"]
        return error
    except (ValueError, KeyError, TypeError):
        return None


def _fail(response: ResponseContextManager) -> None:
    """Marks a failure with the error code of the answer, so failures group by kind."""
    if response.status_code:
        response.failure(f"{response.status_code} {_error(response) or 'unexpected answer'}")
    else:  # no answer: a timeout, a refused or reset connection
        error = getattr(response, "error", None)
        response.failure(f"no answer: {type(error).__name__ if error else 'unknown'}")
