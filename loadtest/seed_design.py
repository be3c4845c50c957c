"""The peer of the system benchmark: the naive design this project replaces, every
heartbeat written straight to PostgreSQL.

    SEED_DATABASE_URL=postgresql://… uvicorn --factory loadtest.seed_design:create_app

It serves the two viewer calls of the benchmark's audience with a plain Starlette app
(``await request.json()``, an asyncpg pool of 10 per worker, as the gateway has):

- track: one INSERT of the session row (``ON CONFLICT DO NOTHING``: tracking twice is
  harmless), 200;
- ping: two autocommitted writes, 204 — an UPDATE of the session row that credits the
  time since its stored last heartbeat when the tab was visible (at most 3 intervals
  of 120 s, as the service caps it), stores the new heartbeat and visibility and counts
  the ping; then an INSERT of the heartbeat into a log table (one row per ping).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SCHEMA = """
CREATE TABLE seed_sessions (
    webinar_id         uuid NOT NULL,
    session_id         text NOT NULL,
    entered_at         timestamptz NOT NULL DEFAULT now(),
    last_heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    watched_seconds    double precision NOT NULL DEFAULT 0,
    is_visible         boolean NOT NULL,
    ping_count         integer NOT NULL DEFAULT 0,
    user_agent         text,
    PRIMARY KEY (webinar_id, session_id)
);
CREATE TABLE seed_heartbeats (
    id          bigserial PRIMARY KEY,
    webinar_id  uuid NOT NULL,
    session_id  text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    is_visible  boolean NOT NULL
);
CREATE INDEX seed_heartbeats_session ON seed_heartbeats (webinar_id, session_id, at);
"""

TRACK = """
INSERT INTO seed_sessions (webinar_id, session_id, is_visible, user_agent)
VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"""

CREDIT = """
UPDATE seed_sessions SET
    watched_seconds = watched_seconds + CASE WHEN is_visible
        THEN LEAST(EXTRACT(EPOCH FROM now() - last_heartbeat_at), 360) ELSE 0 END,
    last_heartbeat_at = now(), is_visible = $3, ping_count = ping_count + 1
WHERE webinar_id = $1 AND session_id = $2"""

HEARTBEAT = """
INSERT INTO seed_heartbeats (webinar_id, session_id, is_visible) VALUES ($1, $2, $3)"""


def _visible(body: dict[str, dict[str, bool]]) -> bool:
    return bool(body.get("view_state", {}).get("is_visible", True))


async def track(request: Request) -> Response:
    body = await request.json()
    webinar_id, session_id = request.path_params["webinar_id"], body["session_id"]
    user_agent = request.headers.get("user-agent", "")
    await request.state.pg.execute(TRACK, webinar_id, session_id, _visible(body), user_agent)
    return JSONResponse({"session_id": session_id, "heartbeat_interval_seconds": 120})


async def ping(request: Request) -> Response:
    body = await request.json()
    webinar_id, session_id = request.path_params["webinar_id"], body["session_id"]
    await request.state.pg.execute(CREDIT, webinar_id, session_id, _visible(body))
    await request.state.pg.execute(HEARTBEAT, webinar_id, session_id, _visible(body))
    return Response(status_code=204)


async def healthz(request: Request) -> Response:
    return Response(status_code=204)


def create_app() -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, asyncpg.Pool]]:
        async with asyncpg.create_pool(os.environ["SEED_DATABASE_URL"], max_size=10) as pool:
            yield {"pg": pool}

    return Starlette(
        routes=[
            Route("/api/webinars/{webinar_id:uuid}/access/track", track, methods=["POST"]),
            Route("/api/webinars/{webinar_id:uuid}/presence/ping", ping, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
