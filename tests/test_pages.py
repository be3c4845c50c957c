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


ADMIN_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def test_the_organiser_page_is_a_static_shell_served_without_a_token(client: TestClient) -> None:
    response = client.get(f"/admin/webinars/{WEBINAR}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    # Only its own script and style sheet, from this origin: nothing external, no inline code.
    assert response.headers["content-security-policy"] == ADMIN_CSP
    assert response.text.count("<script") == 1
    assert '<script src="/static/admin.js" defer></script>' in response.text
    assert response.text.count("<link") == 1
    assert '<link rel="stylesheet" href="/static/admin.css">' in response.text
    assert "://" not in response.text
    assert "<style" not in response.text
    assert " style=" not in response.text


def test_the_organiser_page_holds_no_data(client: TestClient) -> None:
    """The same bytes for every webinar, with or without the admin token."""
    other = client.get("/admin/webinars/00000000-0000-0000-0000-000000000001")
    signed_in = client.get(
        f"/admin/webinars/{WEBINAR}", headers={"Authorization": "Bearer test-admin-token"}
    )
    assert other.content == signed_in.content == client.get(f"/admin/webinars/{WEBINAR}").content


def test_the_organiser_page_needs_a_webinar_uuid(client: TestClient) -> None:
    for path in ("/admin/webinars/not-a-uuid", "/admin/webinars/", "/admin/webinars"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json() == {"error": "not_found", "detail": "Not Found"}
    response = client.post(f"/admin/webinars/{WEBINAR}")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_the_organiser_page_script_and_styles_are_served(client: TestClient) -> None:
    for name, content_type in (
        ("admin.js", "text/javascript; charset=utf-8"),
        ("admin.css", "text/css; charset=utf-8"),
        ("base.css", "text/css; charset=utf-8"),
    ):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200
        assert response.content == (files("gateway") / "static" / name).read_bytes()
        assert response.headers["content-type"] == content_type
        assert response.headers["cache-control"] == "public, max-age=3600"
