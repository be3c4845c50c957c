"""Pages for people: the browser client script, the demo viewer page (R-CLIENT) and the
organiser's page of one webinar."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from gateway import browser_client

# Pages embed /static/watchtime.js by a fixed name: a fix reaches every viewer within
# the hour, and revalidation afterwards is a 304 thanks to StaticFiles' ETag.
STATIC_CACHE_CONTROL = "public, max-age=3600"
# Static files are public, and other sites load the client with an integrity hash
# (crossorigin) or as a module: both are CORS requests, refused without this header.
STATIC_HEADERS = {"Cache-Control": STATIC_CACHE_CONTROL, "Access-Control-Allow-Origin": "*"}
# Pages are revalidated on every visit. no-cache, not no-store: no-store would keep the
# demo page out of the back/forward cache.
PAGE_CACHE_CONTROL = "no-cache"
# The organiser's page keeps the admin token in sessionStorage: it may run only its own
# script and talk only to this origin, so injected markup can neither run code nor send
# the token elsewhere; and no other site may frame it (clickjacking "End now").
ADMIN_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _html(name: str) -> str:
    return (files("gateway") / "html" / name).read_text(encoding="utf-8")


class CachedStaticFiles(StaticFiles):
    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(STATIC_HEADERS)
        return response


def javascript(text: str) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint serving one script built at start, cached as the static files are."""

    async def endpoint(request: Request) -> Response:
        return Response(text, headers=STATIC_HEADERS, media_type="text/javascript")

    return endpoint


def page(
    html: str, headers: Mapping[str, str] | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint serving one fixed page: the page's script reads the ids in its URL."""
    all_headers = {"Cache-Control": PAGE_CACHE_CONTROL, **(headers or {})}

    async def endpoint(request: Request) -> Response:
        return HTMLResponse(html, headers=all_headers)

    return endpoint


ROUTES: list[BaseRoute] = [
    Route("/demo/{webinar_id:uuid}", page(_html("demo.html")), methods=["GET"]),
    # A static shell without data, served to anyone: it asks for the admin token and
    # every figure it shows comes from the admin API, which checks that token.
    Route(
        "/admin/webinars/{webinar_id:uuid}",
        page(_html("admin.html"), {"Content-Security-Policy": ADMIN_CSP}),
        methods=["GET"],
    ),
    # The API page: /openapi.json rendered by its own script, under the same policy.
    Route(
        "/docs", page(_html("api.html"), {"Content-Security-Policy": ADMIN_CSP}), methods=["GET"]
    ),
    Route(
        "/static/watchtime.mjs",
        javascript(browser_client.module(browser_client.script())),
        methods=["GET"],
    ),
    Mount("/static", CachedStaticFiles(packages=[("gateway", "static")]), name="static"),
]
