"""The ping shortcut passes Starlette by: one table (``gateway.ping.ON_PINGS``) says which
of the app's middleware a ping still goes through, and the shortcut's route matching
agrees with the route it stands for."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Match

from gateway import ping
from gateway.app import create_app
from gateway.metrics import LatencyMiddleware
from watchtime.settings import Settings

W = "0b0e6a53-54f3-4b43-8c4e-2f05b8e2c1a7"


def starlette_app() -> Starlette:
    app: Any = create_app(Settings())
    while not isinstance(app, Starlette):
        app = app.app
    return app


def test_every_middleware_of_the_app_is_applied_to_pings_or_skipped_with_a_reason() -> None:
    """Add a middleware to the app and this fails until ON_PINGS names it."""
    middleware = {m.cls for m in starlette_app().user_middleware}
    assert middleware == set(ping.ON_PINGS)
    for how in ping.ON_PINGS.values():
        assert how == ping.APPLIED or how.startswith("skipped: ")


def test_a_middleware_the_table_leaves_out_stops_the_gateway_from_starting() -> None:
    app = starlette_app()
    undeclared = [Middleware(LatencyMiddleware), Middleware(GZipMiddleware)]
    with pytest.raises(TypeError, match=r"GZipMiddleware is not in gateway\.ping\.ON_PINGS"):
        ping.PingShortcut(app, undeclared, cors=False)


def test_the_applied_middleware_wrap_the_endpoint_in_the_apps_order() -> None:
    shortcut = ping.PingShortcut(starlette_app(), [Middleware(LatencyMiddleware)], cors=False)
    assert isinstance(shortcut.ping, LatencyMiddleware)
    assert shortcut.ping.app is ping.ENDPOINT


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", f"/api/webinars/{W}/presence/ping"),
        ("GET", f"/api/webinars/{W}/presence/ping"),
        ("POST", "/api/webinars//presence/ping"),
        ("POST", f"/api/webinars/{W}/x/presence/ping"),
        ("POST", f"/api/webinars/{W}/presence/ping/"),
        ("POST", f"/api/webinars/{W}/access/track"),
        ("POST", "/api/webinars/not-a-uuid/presence/ping"),
    ],
)
def test_the_shortcut_takes_exactly_the_requests_the_ping_route_matches(
    method: str, path: str
) -> None:
    scope = {"type": "http", "method": method, "path": path, "headers": []}
    match, child = ping.ROUTE.matches(scope)
    taken = ping._ping_webinar(scope)
    assert (taken is not None) == (match is Match.FULL)
    if taken is not None:
        assert child["path_params"] == {"webinar_id": taken}
