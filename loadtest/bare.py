"""The yardstick of ``make bench``: a bare Starlette endpoint that reads the body and
answers 204, served by uvicorn exactly as the gateway is (``uvicorn loadtest.bare:app``).
The system benchmark serves it as the gateway's HTTP floor; /healthz tells it when the
workers are up."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def ping(request: Request) -> Response:
    await request.body()
    return Response(status_code=204)


async def healthz(request: Request) -> Response:
    return Response(status_code=204)


app = Starlette(
    routes=[
        Route("/api/webinars/{webinar_id}/presence/ping", ping, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
)
