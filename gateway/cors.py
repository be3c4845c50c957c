"""CORS for the viewer endpoints only (``CORS_ALLOW_ORIGINS``): pages on other origins
embed the viewer script; the admin API stays same-origin."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

VIEWER_SUFFIXES = ("/access/track", "/presence/ping", "/access/exit", "/live")


class ViewerCors:
    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type"],
            expose_headers=["retry-after"],  # the client's back-off after a 429 or 503
            max_age=86400,  # one preflight a day per browser, not one per ping
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        viewer = scope["type"] == "http" and scope["path"].endswith(VIEWER_SUFFIXES)
        await (self.cors if viewer else self.app)(scope, receive, send)
