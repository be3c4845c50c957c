"""Every error status of docs/api.md: a JSON {error, detail}, and nothing changed in Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from redis import Redis
from starlette.testclient import TestClient
from support import snapshot, viewer_token, with_settings

from gateway.app import create_app
from gateway.metrics import REDIS_ERRORS
from watchtime.embedded import free_port
from watchtime.settings import Settings

ADMIN = {"Authorization": "Bearer test-admin-token"}
OPEN, CLOSED = "open-session", "closed-session"
W = str(uuid4())
UNKNOWN = str(uuid4())
SCHEDULE = {"webinar_start_time": "2026-11-29T10:00:00Z"}


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    """A webinar with one open and one closed guest session."""
    assert client.put(f"/api/webinars/{W}", json=SCHEDULE, headers=ADMIN).status_code == 200
    for session_id in (OPEN, CLOSED):
        assert (
            client.post(
                f"/api/webinars/{W}/access/track", json={"session_id": session_id}
            ).status_code
            == 200
        )
    assert (
        client.post(f"/api/webinars/{W}/access/exit", json={"session_id": CLOSED}).status_code
        == 204
    )
    return client


def chunks(size: int) -> Iterator[bytes]:
    """A body sent chunked, without Content-Length."""
    yield b'{"session_id": "' + b"a" * size + b'"}'


def api(path: str) -> str:
    return f"/api/webinars/{W}/{path}"


CASES: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    (
        "malformed json",
        "POST",
        api("presence/ping"),
        {"content": b'{"session_id":', "headers": {"Content-Type": "application/json"}},
        400,
        "malformed_body",
    ),
    (
        "malformed track",
        "POST",
        api("access/track"),
        {"content": b'{"session_id" "x"}', "headers": {"Content-Type": "application/json"}},
        400,
        "malformed_body",
    ),
    (
        "bad token",
        "POST",
        api("presence/ping"),
        {"json": {"session_id": OPEN}, "headers": {"Authorization": "Bearer a.b.c"}},
        401,
        "invalid_token",
    ),
    (
        "forged token",
        "POST",
        api("access/track"),
        {
            "json": {"session_id": "new"},
            "headers": {"Authorization": f"Bearer {viewer_token(str(uuid4()), 'wrong-secret')}"},
        },
        401,
        "invalid_token",
    ),
    (
        "token without uuid sub",
        "POST",
        api("access/track"),
        {
            "json": {"session_id": "new"},
            "headers": {"Authorization": f"Bearer {viewer_token('alice', 'test-viewer-secret')}"},
        },
        401,
        "invalid_token",
    ),
    (
        "expired token",
        "POST",
        api("access/track"),
        {
            "json": {"session_id": "new"},
            "headers": {
                "Authorization": f"Bearer {viewer_token(str(uuid4()), 'test-viewer-secret', exp=1)}"
            },
        },
        401,
        "token_expired",
    ),
    (
        "admin without token",
        "PUT",
        api("").rstrip("/"),
        {"json": SCHEDULE},
        401,
        "authentication_required",
    ),
    (
        "admin wrong token",
        "PUT",
        api("").rstrip("/"),
        {"json": SCHEDULE, "headers": {"Authorization": "Bearer nope"}},
        403,
        "forbidden",
    ),
    ("get webinar as viewer", "GET", api("").rstrip("/"), {}, 401, "authentication_required"),
    (
        "unknown webinar track",
        "POST",
        f"/api/webinars/{UNKNOWN}/access/track",
        {"json": {"session_id": "new"}},
        404,
        "webinar_not_found",
    ),
    (
        "unknown webinar ping",
        "POST",
        f"/api/webinars/{UNKNOWN}/presence/ping",
        {"json": {"session_id": "new"}},
        404,
        "webinar_not_found",
    ),
    (
        "unknown webinar exit",
        "POST",
        f"/api/webinars/{UNKNOWN}/access/exit",
        {"json": {"session_id": OPEN}},
        404,
        "webinar_not_found",
    ),
    ("unknown webinar live", "GET", f"/api/webinars/{UNKNOWN}/live", {}, 404, "webinar_not_found"),
    (
        "unknown webinar get",
        "GET",
        f"/api/webinars/{UNKNOWN}",
        {"headers": ADMIN},
        404,
        "webinar_not_found",
    ),
    (
        "unknown webinar end",
        "POST",
        f"/api/webinars/{UNKNOWN}/end",
        {"headers": ADMIN},
        404,
        "webinar_not_found",
    ),
    (
        "webinar id not a uuid",
        "POST",
        "/api/webinars/42/presence/ping",
        {"json": {"session_id": OPEN}},
        404,
        "webinar_not_found",
    ),
    (
        "unknown session exit",
        "POST",
        api("access/exit"),
        {"json": {"session_id": "nope"}},
        404,
        "session_not_found",
    ),
    ("unknown path", "GET", "/api/nothing", {}, 404, "not_found"),
    ("wrong method", "DELETE", api("presence/ping"), {}, 405, "method_not_allowed"),
    (
        "ping closed",
        "POST",
        api("presence/ping"),
        {"json": {"session_id": CLOSED}},
        409,
        "session_closed",
    ),
    (
        "track closed",
        "POST",
        api("access/track"),
        {"json": {"session_id": CLOSED}},
        409,
        "session_closed",
    ),
    (
        "ping another user's",
        "POST",
        api("presence/ping"),
        {
            "json": {"session_id": OPEN},
            "headers": {
                "Authorization": f"Bearer {viewer_token(str(uuid4()), 'test-viewer-secret')}"
            },
        },
        409,
        "session_conflict",
    ),
    ("end before start", "POST", api("end"), {"headers": ADMIN}, 409, "webinar_not_started"),
    (
        "declared too large",
        "POST",
        api("presence/ping"),
        {"content": b"{}" + b" " * 5000, "headers": {"Content-Type": "application/json"}},
        413,
        "body_too_large",
    ),
    (
        "chunked too large",
        "POST",
        api("access/track"),
        {"content": chunks(5000), "headers": {"Content-Type": "application/json"}},
        413,
        "body_too_large",
    ),
    (
        "ping as text/plain",
        "POST",
        api("presence/ping"),
        {"content": b'{"session_id": "open-session"}', "headers": {"Content-Type": "text/plain"}},
        415,
        "unsupported_media_type",
    ),
    (
        "track as form",
        "POST",
        api("access/track"),
        {"data": {"session_id": "x"}},
        415,
        "unsupported_media_type",
    ),
    ("track without session", "POST", api("access/track"), {"json": {}}, 422, "invalid_field"),
    (
        "bad session id",
        "POST",
        api("presence/ping"),
        {"json": {"session_id": "a b/c"}},
        422,
        "invalid_field",
    ),
    (
        "long session id",
        "POST",
        api("access/track"),
        {"json": {"session_id": "a" * 129}},
        422,
        "invalid_field",
    ),
    (
        "ids differ",
        "POST",
        api("presence/ping"),
        {"json": {"session_id": OPEN, "session_key": "other"}},
        422,
        "invalid_field",
    ),
    (
        "visibility not a bool",
        "POST",
        api("presence/ping"),
        {"json": {"session_id": OPEN, "view_state": {"is_visible": "yes"}}},
        422,
        "invalid_field",
    ),
    ("guest legacy ping", "POST", api("presence/ping"), {"json": {}}, 422, "invalid_field"),
    (
        "long visitor id",
        "POST",
        api("access/track"),
        {"json": {"session_id": "new", "visitor_id": "v" * 65}},
        422,
        "invalid_field",
    ),
    (
        "bad visitor id",
        "POST",
        api("presence/ping"),
        {"json": {"session_id": "new", "visitor_id": "a.b"}},
        422,
        "invalid_field",
    ),
    (
        "empty visitor id",
        "POST",
        api("access/track"),
        {"json": {"session_id": "new", "visitor_id": ""}},
        422,
        "invalid_field",
    ),
    (
        "visitor id not text",
        "POST",
        api("presence/ping"),
        {"json": {"session_id": OPEN, "visitor_id": 7}},
        422,
        "invalid_field",
    ),
    (
        "end before start in schedule",
        "PUT",
        api("").rstrip("/"),
        {
            "json": SCHEDULE | {"webinar_scheduled_end_time": "2026-11-29T09:00:00Z"},
            "headers": ADMIN,
        },
        422,
        "invalid_field",
    ),
    (
        "naive datetime",
        "PUT",
        api("").rstrip("/"),
        {"json": {"webinar_start_time": "2026-11-29T10:00:00"}, "headers": ADMIN},
        422,
        "invalid_field",
    ),
    (
        "schedule without start",
        "PUT",
        api("").rstrip("/"),
        {"json": {"title": "x"}, "headers": ADMIN},
        422,
        "invalid_field",
    ),
    (
        "too frequent",
        "POST",
        api("presence/ping"),
        {"json": {"session_id": OPEN}},
        429,
        "too_many_pings",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "error"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_error_changes_nothing(
    seeded: TestClient,
    sync_redis: Redis,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    error: str,
):
    if path.endswith("/end"):  # a webinar that starts in the far future
        seeded.put(
            api("").rstrip("/"), json={"webinar_start_time": "2999-01-01T00:00:00Z"}, headers=ADMIN
        )
    before = snapshot(sync_redis)
    answer = seeded.request(method, path, **kwargs)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == error
    assert isinstance(answer.json()["detail"], str) and answer.json()["detail"]
    if status == 429:
        assert answer.headers["retry-after"] == "1"
    assert snapshot(sync_redis) == before


@pytest.fixture
def app_settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return with_settings(settings, **getattr(request, "param", {}))


@pytest.mark.parametrize("app_settings", [{"allow_guests": False}], indirect=True)
def test_guests_refused_when_not_allowed(client: TestClient, sync_redis: Redis):
    assert client.put(f"/api/webinars/{W}", json=SCHEDULE, headers=ADMIN).status_code == 200
    before = snapshot(sync_redis)
    answer = client.post(api("access/track"), json={"session_id": "new"})
    assert (answer.status_code, answer.json()["error"]) == (401, "authentication_required")
    assert client.get(api("live")).status_code == 401
    assert client.get(api("live"), headers=ADMIN).status_code == 200
    assert snapshot(sync_redis) == before
    signed_in = {"Authorization": f"Bearer {viewer_token(str(uuid4()), 'test-viewer-secret')}"}
    assert (
        client.post(api("access/track"), json={"session_id": "new"}, headers=signed_in).status_code
        == 200
    )


def test_redis_unavailable_answers_503(settings: Settings, sync_redis: Redis):
    dead = with_settings(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    errors_before = REDIS_ERRORS._value.get()
    with TestClient(create_app(dead)) as client:
        answer = client.post(api("presence/ping"), json={"session_id": OPEN})
        assert (answer.status_code, answer.json()["error"]) == (503, "redis_unavailable")
        assert answer.headers["retry-after"] == "1"
        assert client.get("/readyz").status_code == 503
        assert REDIS_ERRORS._value.get() == errors_before + 1
        assert client.get("/healthz").status_code == 200
    assert snapshot(sync_redis) == {}
