"""``GET /openapi.json``: a valid OpenAPI 3.1 document that describes every route of the
app, and against whose schemas the app's real answers validate."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import httpx2
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from starlette.testclient import TestClient
from support import add_snapshots, routes_of, seed, viewer_token

from gateway.app import create_app
from gateway.openapi import OPERATIONS, endpoints
from watchtime import __version__
from watchtime.sessions import SessionStore
from watchtime.settings import Settings

ADMIN = {"Authorization": "Bearer test-admin-token"}
API = "/api/webinars/{webinar_id}"
JSON = "application/json"


@pytest.fixture
def doc(client: TestClient) -> dict[str, Any]:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == JSON
    return answer.json()  # type: ignore[no-any-return]


class Answers:
    """Checks real answers against the document; remembers what it checked."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.checked: set[tuple[str, str, int]] = set()

    def check(self, method: str, template: str, answer: httpx2.Response) -> httpx2.Response:
        described = self.doc["paths"][template][method.lower()]["responses"]
        status = answer.status_code
        assert str(status) in described, f"{method} {template} answered {status}: {answer.text}"
        response = described[str(status)]
        media = answer.headers.get("content-type", "").split(";")[0]
        if status == 204:
            assert "content" not in response and answer.content == b""
        else:
            schema = response["content"][media]["schema"]
            body = answer.json() if media == JSON else answer.text
            self.validator(schema).validate(body)
        for header in response.get("headers", {}):
            assert header in answer.headers, f"{method} {template} {status} without {header}"
        self.checked.add((method, template, status))
        return answer

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        """The schema, with the document's components for its references to resolve."""
        rooted = {**schema, "components": self.doc["components"]}
        return Draft202012Validator(rooted, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["version"] == __version__


def test_every_route_of_the_app_is_described_and_nothing_else(
    doc: dict[str, Any], settings: Settings
) -> None:
    routes = set(endpoints(routes_of(create_app(settings))))
    described = {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}
    assert described == routes
    assert set(OPERATIONS) == routes
    # a few routes of docs/api.md, to show the set is not empty
    assert {
        ("POST", API + "/presence/ping"),
        ("GET", API + "/stats/concurrency"),
        ("GET", "/openapi.json"),
        ("GET", "/static/{path}"),
    } <= routes


def test_every_refusal_is_the_error_json_and_rate_limits_name_their_wait(
    doc: dict[str, Any],
) -> None:
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["responses"], (method, path)
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    schema = response["content"][JSON]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorAnswer"}
                if status in ("429", "503"):
                    assert "Retry-After" in response["headers"]
    assert doc["components"]["schemas"]["ErrorAnswer"]["required"] == ["error", "detail"]
    track = doc["paths"][API + "/access/track"]["post"]
    assert sorted(track["responses"]) == [
        "200",
        "400",
        "401",
        "404",
        "409",
        "413",
        "415",
        "422",
        "503",
    ]
    assert track["security"] == [{"viewerToken": []}, {}]
    admin = doc["paths"][API + "/stats/watch-time"]["get"]
    assert admin["security"] == [{"adminToken": []}]
    assert [p["name"] for p in admin["parameters"]] == ["webinar_id", "format", "limit", "cursor"]


def test_real_answers_validate_against_the_document(
    client: TestClient, doc: dict[str, Any], settings: Settings, s0: int
) -> None:
    answers = Answers(doc)
    webinar, user = str(uuid4()), str(uuid4())
    base = f"/api/webinars/{webinar}"
    viewer = {"Authorization": f"Bearer {viewer_token(user, 'test-viewer-secret')}"}
    schedule = {"title": "Launch", "webinar_start_time": "2026-01-01T10:00:00Z"}

    def call(method: str, template: str, url: str, **kwargs: Any) -> httpx2.Response:
        return answers.check(method, template, client.request(method, url, **kwargs))

    # the organiser
    call("GET", API, base, headers=ADMIN)  # 404 before it exists
    call("PUT", API, base, json=schedule, headers=ADMIN)
    call("GET", API, base, headers=ADMIN)
    call("GET", API, base)  # 401
    call("GET", API, base, headers={"Authorization": "Bearer wrong"})  # 403
    call("PUT", API, base, json={**schedule, "post_window_minutes": -1}, headers=ADMIN)  # 422

    # a viewer
    track, ping, exit_ = API + "/access/track", API + "/presence/ping", API + "/access/exit"
    body = {"session_id": "s-1", "view_state": {"is_visible": True, "is_active": True}}
    hidden = {"session_id": "s-1", "view_state": {"is_visible": False}}
    call("POST", track, f"{base}/access/track", json=body, headers=viewer)
    # the same visibility again at once: 429
    assert call("POST", ping, f"{base}/presence/ping", json=body, headers=viewer).status_code == 429
    call("POST", ping, f"{base}/presence/ping", json=hidden, headers=viewer)
    call("GET", API + "/live", f"{base}/live", headers=viewer)
    beacon = {"Content-Type": "text/plain", **viewer}
    call("POST", exit_, f"{base}/access/exit", content=b'{"session_id": "s-1"}', headers=beacon)
    call("POST", ping, f"{base}/presence/ping", json=hidden, headers=viewer)  # 409
    call("POST", exit_, f"{base}/access/exit", json={"session_id": "never"})  # 404
    for refused in (
        {"content": b"{", "headers": {"Content-Type": JSON}},
        {"content": b"{}", "headers": {"Content-Type": "text/html"}},
        {"json": {"session_id": "x" * 5000}},
        {"json": {"session_id": "a b"}},
        {"json": body, "headers": {"Authorization": "Bearer x.y.z"}},
    ):
        call("POST", track, f"{base}/access/track", **refused)
    call("POST", track, f"/api/webinars/{uuid4()}/access/track", json=body)

    # reports, with the session in Postgres
    async def nothing(store: SessionStore) -> None:
        pass

    seed(settings, nothing)
    add_snapshots(settings, UUID(webinar), [(s0, 3, 4)])
    watch_time, concurrency = API + "/stats/watch-time", API + "/stats/concurrency"
    report = call("GET", watch_time, f"{base}/stats/watch-time", headers=ADMIN).json()
    assert [p["viewer"] for p in report["viewers"]] == [f"user:{user}"]
    for params in ({"format": "csv"}, {"limit": "0"}, {"cursor": "nonsense"}):
        call("GET", watch_time, f"{base}/stats/watch-time", params=params, headers=ADMIN)
    points = call("GET", concurrency, f"{base}/stats/concurrency", headers=ADMIN).json()["points"]
    assert len(points) == 1
    call("POST", API + "/end", f"{base}/end", headers=ADMIN)
    later = f"/api/webinars/{uuid4()}"
    future = {"webinar_start_time": "2099-01-01T10:00:00Z"}
    assert client.put(later, json=future, headers=ADMIN).status_code == 200
    call("POST", API + "/end", f"{later}/end", headers=ADMIN)  # 409: not started

    # operations and pages
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        call("GET", path, path)
    call("GET", "/demo/{webinar_id}", f"/demo/{webinar}")
    call("GET", "/admin/webinars/{webinar_id}", f"/admin/webinars/{webinar}")
    call("GET", "/static/{path}", "/static/watchtime.js")
    call("GET", "/static/{path}", "/static/nothing.js")

    tracks = {("POST", track, s) for s in (200, 400, 401, 404, 413, 415, 422)}
    # A table of the answers checked, several a line: the formatter would give each a line.
    assert answers.checked >= tracks | {
        ("GET", API, 200), ("GET", API, 401), ("GET", API, 403), ("GET", API, 404),
        ("PUT", API, 200), ("PUT", API, 422), ("POST", API + "/end", 200),
        ("POST", API + "/end", 409), ("POST", ping, 204), ("POST", ping, 409),
        ("POST", ping, 429), ("POST", exit_, 204), ("POST", exit_, 404),
        ("GET", API + "/live", 200), ("GET", watch_time, 200), ("GET", watch_time, 422),
        ("GET", concurrency, 200), ("GET", "/static/{path}", 404),
    }  # fmt: skip
