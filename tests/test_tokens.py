"""Viewer token lifetimes (R-EXT-3): exp required, nbf honoured, a leeway for clock skew.

Each refusal is a 401 naming the rule and leaves Redis as it was; a token inside the
leeway is served."""

from __future__ import annotations

import time
from typing import Any
from uuid import uuid4

import pytest
from redis import Redis
from starlette.testclient import TestClient
from support import snapshot, viewer_token, with_settings

from watchtime.settings import Settings, SettingsError

SECRET = "test-viewer-secret"
ADMIN = {"Authorization": "Bearer test-admin-token"}
W = str(uuid4())
LEEWAY = 30


@pytest.fixture
def app_settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return with_settings(settings, **getattr(request, "param", {}))


@pytest.fixture
def webinar_client(client: TestClient) -> TestClient:
    schedule = {"webinar_start_time": "2026-11-29T10:00:00Z"}
    assert client.put(f"/api/webinars/{W}", json=schedule, headers=ADMIN).status_code == 200
    return client


def signed(ttl_seconds: int | None = 3600, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {viewer_token(str(uuid4()), SECRET, ttl_seconds, **claims)}"}


def now() -> int:
    return int(time.time())


REFUSED = [
    ("without exp", lambda: signed(None), "token_without_exp"),
    ("expired past the leeway", lambda: signed(exp=now() - LEEWAY - 5), "token_expired"),
    ("before nbf past the leeway", lambda: signed(nbf=now() + LEEWAY + 5), "token_not_yet_valid"),
    ("exp not a number", lambda: signed(exp="tomorrow"), "invalid_token"),
    ("exp a bool", lambda: signed(exp=True), "invalid_token"),
    ("nbf not a number", lambda: signed(nbf="now"), "invalid_token"),
]


@pytest.mark.parametrize("path", ["access/track", "presence/ping", "access/exit"])
@pytest.mark.parametrize(
    ("headers", "error"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_a_token_breaking_a_time_rule_is_refused_and_changes_nothing(
    webinar_client: TestClient, sync_redis: Redis, path: str, headers: Any, error: str
):
    before = snapshot(sync_redis)
    answer = webinar_client.post(
        f"/api/webinars/{W}/{path}", json={"session_id": "s1"}, headers=headers()
    )
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == error
    assert snapshot(sync_redis) == before


def test_the_live_count_applies_the_same_rules(webinar_client: TestClient):
    answer = webinar_client.get(f"/api/webinars/{W}/live", headers=signed(None))
    assert (answer.status_code, answer.json()["error"]) == (401, "token_without_exp")


SERVED = [
    ("expired within the leeway", lambda: signed(exp=now() - LEEWAY + 10)),
    ("nbf ahead within the leeway", lambda: signed(nbf=now() + LEEWAY - 10)),
    ("nbf passed", lambda: signed(nbf=now() - 60)),
]


@pytest.mark.parametrize("headers", [c[1] for c in SERVED], ids=[c[0] for c in SERVED])
def test_a_token_within_the_leeway_is_served(webinar_client: TestClient, headers: Any):
    answer = webinar_client.post(
        f"/api/webinars/{W}/access/track", json={"session_id": "s1"}, headers=headers()
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("app_settings", [{"viewer_token_require_exp": False}], indirect=True)
def test_tokens_without_exp_are_served_when_not_required(
    webinar_client: TestClient, sync_redis: Redis
):
    headers = signed(None)
    track = webinar_client.post(
        f"/api/webinars/{W}/access/track", json={"session_id": "s1"}, headers=headers
    )
    assert track.status_code == 200, track.text
    expired = webinar_client.post(
        f"/api/webinars/{W}/access/track",
        json={"session_id": "s2"},
        headers=signed(exp=now() - LEEWAY - 5),
    )
    assert (expired.status_code, expired.json()["error"]) == (401, "token_expired")


@pytest.mark.parametrize("app_settings", [{"viewer_token_leeway_seconds": 0}], indirect=True)
def test_the_leeway_is_a_setting(webinar_client: TestClient):
    answer = webinar_client.post(
        f"/api/webinars/{W}/access/track", json={"session_id": "s1"}, headers=signed(exp=now() - 5)
    )
    assert (answer.status_code, answer.json()["error"]) == (401, "token_expired")


def test_token_settings_are_read_and_bounded():
    settings = Settings.from_env(
        {"VIEWER_TOKEN_REQUIRE_EXP": "false", "VIEWER_TOKEN_LEEWAY_SECONDS": "5"}
    )
    assert (settings.viewer_token_require_exp, settings.viewer_token_leeway_seconds) == (False, 5)
    assert Settings.from_env({}).viewer_token_require_exp is True
    assert Settings.from_env({}).viewer_token_leeway_seconds == LEEWAY
    with pytest.raises(SettingsError, match="VIEWER_TOKEN_LEEWAY_SECONDS"):
        Settings.from_env({"VIEWER_TOKEN_LEEWAY_SECONDS": "301"})
