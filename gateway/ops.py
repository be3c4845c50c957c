"""Operations endpoints: liveness, readiness (Redis reachable) and Prometheus metrics."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.errors import error_response, json_response
from watchtime.errors import REDIS_ERRORS


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        await request.state.redis.ping()
    except REDIS_ERRORS as e:
        return error_response(503, "redis_unavailable", f"redis: {e}")
    return json_response({"status": "ready"})


async def metrics(request: Request) -> Response:
    return Response(generate_latest(_registry(request)), media_type=CONTENT_TYPE_LATEST)


def _registry(request: Request) -> CollectorRegistry:
    """This process's metrics, or every worker's added up when there are several."""
    folder = request.state.settings.metrics_dir
    if folder is None:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    return registry


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
