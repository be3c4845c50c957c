"""The gateway application factory: routes, middleware and the shared clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware

from gateway import admin, ops, viewer
from gateway.cors import ViewerCors
from gateway.errors import HANDLERS
from gateway.metrics import LatencyMiddleware
from watchtime.connections import postgres_pool, redis_client
from watchtime.scripts import Scripts
from watchtime.sessions import SessionStore
from watchtime.settings import Settings


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        redis = redis_client(settings)
        # No connection at start: pings need only Redis and must work while Postgres is down.
        pg = await postgres_pool(settings, min_size=0)
        try:
            yield {
                "settings": settings,
                "redis": redis,
                "pg": pg,
                "store": SessionStore(Scripts(redis), settings),
                "request_ids": viewer.RequestIds(),
            }
        finally:
            await pg.close()
            await redis.aclose()

    return Starlette(
        routes=[*viewer.ROUTES, *admin.ROUTES, *ops.ROUTES],
        middleware=[
            Middleware(LatencyMiddleware),
            Middleware(ViewerCors, origins=settings.cors_allow_origins),
        ],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
