"""The gateway application factory: routes, middleware and the shared clients."""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import multiprocess
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from gateway import admin, openapi, ops, pages, ping, protocol, reports, viewer
from gateway.access import AccessLog
from gateway.admission import Admission
from gateway.cors import ViewerCors
from gateway.errors import HANDLERS
from gateway.metrics import LatencyMiddleware
from watchtime.backends import backends
from watchtime.settings import Settings

ROUTES = [
    ping.ROUTE,
    *viewer.ROUTES,
    *admin.ROUTES,
    *reports.ROUTES,
    *ops.ROUTES,
    *openapi.ROUTES,
    *pages.ROUTES,
]


def create_app(settings: Settings | None = None) -> ASGIApp:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with backends(settings, pg_max_size=10, batched=True) as b:
            # Everything imported and built so far lives as long as the worker: out of the
            # collector's sight, a full collection no longer walks it in the middle of
            # requests (p99 at half load: 15 ms → 5 ms, BENCHMARKS.md).
            gc.freeze()
            yield {
                "settings": settings,
                "redis": b.redis,
                "pg": b.pg,
                "store": b.store,
                "request_ids": ping.RequestIds(),
                # built below, around the app: uvicorn's protocol refuses by it first
                protocol.ADMISSION: served,
            }
            if settings.metrics_dir:  # this worker's live gauges leave the sums
                multiprocess.mark_process_dead(os.getpid(), str(settings.metrics_dir))  # type: ignore[no-untyped-call]

    middleware = _middleware(settings)
    app = Starlette(
        routes=ROUTES,
        middleware=middleware,
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
    shortcut = ping.PingShortcut(app, middleware, cors=bool(settings.cors_allow_origins))
    served = Admission(shortcut, settings)
    # Outermost, so that the admission's 503 refusals are logged too.
    return AccessLog(served) if settings.access_log else served


def _middleware(settings: Settings) -> list[Middleware]:
    """The Starlette app's middleware; gateway.ping.ON_PINGS says which of them pings meet."""
    return [
        Middleware(LatencyMiddleware),
        Middleware(ViewerCors, origins=settings.cors_allow_origins),
    ]
