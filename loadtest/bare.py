"""The yardstick of ``make bench``: a bare Starlette endpoint that reads the body and
answers 204, served by uvicorn exactly as the gateway is (``uvicorn loadtest.bare:app``)."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def ping(request: Request) -> Response:
    await request.body()
    return Response(status_code=204)


app = Starlette(routes=[Route("/api/webinars/{webinar_id}/presence/ping", ping, methods=["POST"])])
