"""The API page (``GET /docs``) in Chromium: it renders every operation of
/openapi.json, and loads nothing from anywhere but the gateway."""

from __future__ import annotations

import httpx2
from browsers import screenshots
from playwright.sync_api import Page, Request


def test_the_api_page_shows_every_route_from_the_gateway_alone(gateway: str, tab: Page) -> None:
    doc = httpx2.get(f"{gateway}/openapi.json").json()
    described = {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}
    requested: list[str] = []
    tab.on("request", lambda request: requested.append(request.url))
    failed: list[Request] = []
    tab.on("requestfailed", lambda request: failed.append(request))

    tab.goto(f"{gateway}/docs")
    tab.wait_for_selector("#schemas:not([hidden])")

    shown = tab.eval_on_selector_all(
        "section.operation",
        "sections => sections.map(s => [s.dataset.method, s.dataset.path, "
        "s.querySelector('h3').textContent])",
    )
    assert {(method, path) for method, path, _ in shown} == described
    assert len(shown) == len(described)
    assert all(heading == f"{method} {path}" for method, path, heading in shown)
    assert tab.locator("#message").is_hidden()
    # every struct of the document has its section, and references link to them
    names = tab.eval_on_selector_all("section.schema h3", "hs => hs.map(h => h.textContent)")
    assert sorted(names) == sorted(doc["components"]["schemas"])
    assert tab.locator('a[href="#schema-ErrorAnswer"]').count() > 10
    assert requested and all(url.startswith(gateway) for url in requested), requested
    assert failed == []
    screenshots(tab, "api-page")
