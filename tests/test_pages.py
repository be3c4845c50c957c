"""The browser client script and the demo viewer page are served as pages should be."""

from __future__ import annotations

from importlib.resources import files

from starlette.testclient import TestClient

WEBINAR = "3f1c6c2e-6a59-4b8e-9d57-1f0b9a1e2c3d"
SCRIPT = (files("gateway") / "static" / "watchtime.js").read_bytes()


def test_the_script_is_served_with_its_type_and_a_cache_lifetime(client: TestClient) -> None:
    response = client.get("/static/watchtime.js")
    assert response.status_code == 200
    assert response.content == SCRIPT
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=3600"
    etag = response.headers["etag"]

    again = client.get("/static/watchtime.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["cache-control"] == "public, max-age=3600"


def test_unknown_static_files_are_json_404s(client: TestClient) -> None:
    response = client.get("/static/nothing.js")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "Not Found"}


def test_the_demo_page_loads_only_the_client_script(client: TestClient) -> None:
    response = client.get(f"/demo/{WEBINAR}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    # Revalidated on every visit, yet allowed into the back/forward cache (no no-store).
    assert response.headers["cache-control"] == "no-cache"
    assert response.text.count("<script src=") == 1
    assert '<script src="/static/watchtime.js"></script>' in response.text


def test_the_demo_page_needs_a_webinar_uuid(client: TestClient) -> None:
    response = client.get("/demo/not-a-uuid")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "Not Found"}
