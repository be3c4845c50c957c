"""Pages for people: the browser client script and the demo viewer page (R-CLIENT)."""

from __future__ import annotations

import os
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

# Pages embed /static/watchtime.js by a fixed name: a fix reaches every viewer within
# the hour, and revalidation afterwards is a 304 thanks to StaticFiles' ETag.
STATIC_CACHE_CONTROL = "public, max-age=3600"

DEMO_HTML = (files("gateway") / "html" / "demo.html").read_text(encoding="utf-8")


class CachedStaticFiles(StaticFiles):
    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = STATIC_CACHE_CONTROL
        return response


async def demo(request: Request) -> Response:
    # no-cache, not no-store: no-store would keep the page out of the back/forward cache.
    return HTMLResponse(DEMO_HTML, headers={"Cache-Control": "no-cache"})


ROUTES: list[BaseRoute] = [
    Route("/demo/{webinar_id:uuid}", demo, methods=["GET"]),
    Mount("/static", CachedStaticFiles(packages=[("gateway", "static")]), name="static"),
]
