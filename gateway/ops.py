"""Operations endpoints: liveness, readiness (Redis reachable) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from redis.asyncio import RedisCluster
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.errors import error_response, json_response
from gateway.metrics import REDIS_MAX_MEMORY, REDIS_USED_MEMORY
from watchtime.client import RedisClient
from watchtime.errors import REDIS_ERRORS
from watchtime.redis_routes import server_name

log = logging.getLogger("watchtime.gateway")
# A scrape must answer even while Redis does not.
REDIS_MEMORY_TIMEOUT_SECONDS = 1.0


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        await request.state.redis.ping()
    except REDIS_ERRORS as e:
        return error_response(503, "redis_unavailable", f"redis: {e}")
    return json_response({"status": "ready"})


async def metrics(request: Request) -> Response:
    await _redis_memory(request.state.redis)
    return Response(generate_latest(_registry(request)), media_type=CONTENT_TYPE_LATEST)


async def _redis_memory(redis: RedisClient) -> None:
    """The Redis memory gauges, fresh; left out of this scrape if Redis does not answer."""
    try:
        async with asyncio.timeout(REDIS_MEMORY_TIMEOUT_SECONDS):
            nodes = await _memory_by_node(redis)
    except (*REDIS_ERRORS, TimeoutError) as e:
        log.warning("Redis memory left out of /metrics: %s", e)
        nodes = {}
    # Only the nodes of now: a failed-over primary's series ends.
    REDIS_USED_MEMORY.clear()
    REDIS_MAX_MEMORY.clear()
    for node, info in nodes.items():
        REDIS_USED_MEMORY.labels(node).set(info["used_memory"])
        REDIS_MAX_MEMORY.labels(node).set(info["maxmemory"])


async def _memory_by_node(redis: RedisClient) -> dict[str, dict[str, Any]]:
    if isinstance(redis, RedisCluster):
        nodes: dict[str, dict[str, Any]] = await redis.info(
            "memory", target_nodes=RedisCluster.PRIMARIES
        )
        return nodes
    return {server_name(redis): await redis.info("memory")}


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
