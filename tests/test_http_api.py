"""The HTTP API of docs/api.md over a real app, Redis and Postgres."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

import pytest
from redis import Redis
from starlette.testclient import TestClient
from support import snapshot, viewer_token, with_settings

from watchtime import keys
from watchtime.fields import session_hash
from watchtime.settings import Settings

ADMIN = {"Authorization": "Bearer test-admin-token"}
SECRET = "test-viewer-secret"
S = "session_1800000000000_k3j4h5"


@pytest.fixture
def webinar(client: TestClient) -> str:
    webinar_id = str(uuid4())
    body = {
        "title": "Launch",
        "webinar_start_time": "2026-11-29T10:00:00Z",
        "webinar_scheduled_end_time": "2026-11-29T11:00:00Z",
        "post_window_minutes": 15,
    }
    assert client.put(f"/api/webinars/{webinar_id}", json=body, headers=ADMIN).status_code == 200
    return webinar_id


@pytest.fixture
def app_settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return with_settings(settings, **getattr(request, "param", {}))


def ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


def url(webinar: str, path: str) -> str:
    return f"/api/webinars/{webinar}/{path}"


def session(redis: Redis, webinar: str, session_id: str = S) -> dict[str, str]:
    return session_hash(redis.hgetall(keys.session(UUID(webinar), session_id)))


def test_put_get_and_end_a_webinar(client: TestClient, sync_redis: Redis):
    webinar_id = str(uuid4())
    body = {"webinar_start_time": "2026-11-29T10:00:00+01:00", "post_window_minutes": 5}
    created = client.put(f"/api/webinars/{webinar_id}", json=body, headers=ADMIN)
    assert created.status_code == 200
    assert created.json() | {"created_at": None, "updated_at": None} == {
        "id": webinar_id,
        "title": "",
        "webinar_start_time": "2026-11-29T09:00:00Z",
        "webinar_scheduled_end_time": None,
        "webinar_actual_end_time": None,
        "post_window_minutes": 5,
        "created_at": None,
        "updated_at": None,
    }
    assert sync_redis.hgetall(keys.meta(UUID(webinar_id))) == {
        b"start": str(ms("2026-11-29T09:00:00Z")).encode(),
        b"scheduled_end": b"",
        b"actual_end": b"",
        b"post_window_minutes": b"5",
    }
    assert sync_redis.zscore(keys.REGISTRY, webinar_id) == 0  # in the working set

    body["webinar_scheduled_end_time"] = "2026-11-29T10:00:00Z"
    updated = client.put(f"/api/webinars/{webinar_id}", json=body, headers=ADMIN).json()
    assert updated["webinar_scheduled_end_time"] == "2026-11-29T10:00:00Z"
    assert (
        sync_redis.hget(keys.meta(UUID(webinar_id)), "scheduled_end")
        == str(ms("2026-11-29T10:00:00Z")).encode()
    )
    assert client.get(f"/api/webinars/{webinar_id}", headers=ADMIN).json() == updated

    ended = client.post(f"/api/webinars/{webinar_id}/end", headers=ADMIN).json()
    assert ended["webinar_actual_end_time"] is not None
    again = client.post(f"/api/webinars/{webinar_id}/end", headers=ADMIN).json()
    assert again["webinar_actual_end_time"] == ended["webinar_actual_end_time"]
    stored = sync_redis.hget(keys.meta(UUID(webinar_id)), "actual_end")
    assert stored and int(stored) > ms("2026-11-29T09:00:00Z")


def test_track_ping_exit_and_live(client: TestClient, sync_redis: Redis, webinar: str):
    answer = client.post(url(webinar, "access/track"), json={"session_id": S, "agency_id": "ag-1"})
    assert answer.status_code == 200
    assert answer.json() == {"session_id": S, "heartbeat_interval_seconds": 120.0}
    assert client.get(url(webinar, "live")).json() == {"viewers": 1, "active_sessions": 1}

    ping = client.post(
        url(webinar, "presence/ping"), json={"session_key": S, "view_state": {"is_visible": False}}
    )
    assert (ping.status_code, ping.content) == (204, b"")
    assert session(sync_redis, webinar)["visible"] == "0"
    assert sync_redis.hget(keys.extras(UUID(webinar), S), "agency_id") == b"ag-1"

    beacon = client.post(
        url(webinar, "access/exit"),
        content=f'{{"session_id": "{S}"}}',
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )
    assert beacon.status_code == 204
    assert session(sync_redis, webinar)["closed_reason"] == "exit"
    assert client.post(url(webinar, "access/exit"), json={"session_id": S}).status_code == 204
    assert client.get(url(webinar, "live")).json() == {"viewers": 0, "active_sessions": 0}


def test_signed_in_viewer_owns_the_session(client: TestClient, sync_redis: Redis, webinar: str):
    alice, bob = str(uuid4()), str(uuid4())
    as_alice = {"Authorization": f"Bearer {viewer_token(alice, SECRET)}"}
    as_bob = {"Authorization": f"Bearer {viewer_token(bob, SECRET)}"}
    track = client.post(
        url(webinar, "access/track"), json={"session_id": S, "user_id": bob}, headers=as_alice
    )
    assert track.status_code == 200
    assert session(sync_redis, webinar)["user_id"] == alice  # never from the body
    before = snapshot(sync_redis)
    refused = client.post(url(webinar, "presence/ping"), json={"session_id": S}, headers=as_bob)
    assert (refused.status_code, refused.json()["error"]) == (409, "session_conflict")
    guest = client.post(url(webinar, "access/exit"), json={"session_id": S})
    assert (guest.status_code, guest.json()["error"]) == (409, "session_conflict")
    assert snapshot(sync_redis) == before
    token = viewer_token(alice, SECRET)
    beacon = client.post(url(webinar, "access/exit"), json={"session_id": S, "token": token})
    assert beacon.status_code == 204


def test_legacy_ping_without_session_counts_presence(
    client: TestClient, sync_redis: Redis, webinar: str
):
    user = str(uuid4())
    headers = {"Authorization": f"Bearer {viewer_token(user, SECRET)}"}
    assert client.post(url(webinar, "presence/ping"), headers=headers).status_code == 204
    presence = sync_redis.zrange(keys.presence(UUID(webinar)), 0, -1)
    assert presence == [f"user:{user}".encode()]
    assert client.get(url(webinar, "live")).json() == {"viewers": 1, "active_sessions": 0}


def test_ops_endpoints(client: TestClient, webinar: str):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    client.post(url(webinar, "access/track"), json={"session_id": S})
    client.post(url(webinar, "presence/ping"), json={"session_id": S})
    metrics = client.get("/metrics").text
    assert 'watchtime_pings_total{outcome="rate_limited"}' in metrics
    assert "watchtime_sessions_created_total" in metrics
    assert (
        'watchtime_http_request_duration_seconds_count{method="POST",'
        'route="/api/webinars/{webinar_id}/presence/ping",status="429"}'
    ) in metrics


@pytest.mark.parametrize(
    "app_settings", [{"cors_allow_origins": ("https://events.example",)}], indirect=True
)
def test_cors_for_viewer_endpoints_only(client: TestClient, sync_redis: Redis, webinar: str):
    origin = {"Origin": "https://events.example"}
    preflight = client.options(
        url(webinar, "presence/ping"),
        headers=origin
        | {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://events.example"
    assert preflight.headers["access-control-max-age"] == "86400"
    track = client.post(url(webinar, "access/track"), json={"session_id": S}, headers=origin)
    assert track.headers["access-control-allow-origin"] == "https://events.example"
    client.post(
        url(webinar, "presence/ping"),
        json={"session_id": S, "view_state": {"is_visible": False}},
        headers=origin,
    )
    assert (
        session(sync_redis, webinar)["visible"] == "0"
    )  # the full stack reached the same endpoint
    ping = client.post(url(webinar, "presence/ping"), json={"session_id": S}, headers=origin)
    assert (ping.status_code, ping.headers["access-control-allow-origin"]) == (
        204,
        "https://events.example",
    )
    stranger = client.post(
        url(webinar, "presence/ping"),
        json={"session_id": S},
        headers={"Origin": "https://evil.example"},
    )
    assert "access-control-allow-origin" not in stranger.headers
    admin = client.get(f"/api/webinars/{webinar}", headers=ADMIN | origin)
    assert "access-control-allow-origin" not in admin.headers
