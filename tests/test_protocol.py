"""The gateway's HTTP protocol refuses past the admission bound before it makes a task
(gateway/protocol.py): uvicorn serving a counting app behind admission control, whose
admitted requests wait until released."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from gateway.admission import Admission
from gateway.protocol import ADMISSION, Protocol
from watchtime.embedded import free_port
from watchtime.settings import Settings

pytestmark = pytest.mark.anyio
BOUND = 2
PING = "/api/webinars/0b3a6c52-6c3e-4b53-a4b8-2d51c1f7c9a1/presence/ping"
SITE = "https://site.example"


class Held:
    """The app behind admission control: counts the requests handed to it, and answers
    those admitted with 204 once released."""

    def __init__(self, settings: Settings) -> None:
        self.admission = Admission(self.admitted, settings)
        self.released = asyncio.Event()
        self.full = asyncio.Event()  # the bound's worth of requests handed to it
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(scope, receive, send)
            return
        self.calls += 1
        if self.calls == BOUND:
            self.full.set()
        await self.admission(scope, receive, send)

    async def admitted(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.released.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        scope["state"][ADMISSION] = self.admission
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})


@asynccontextmanager
async def serving(app: Held) -> AsyncIterator[int]:
    port = free_port()
    config = uvicorn.Config(app, port=port, http=Protocol, loop="asyncio", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn sets a flag, no event)
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        app.released.set()
        server.should_exit = True
        await task


async def request(port: int, *headers: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A ping sent on a connection of its own, kept open for its answer and more."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    send(writer, *headers)
    return reader, writer


def send(writer: asyncio.StreamWriter, *headers: str) -> None:
    body = b'{"session_id":"s1"}'
    head = [f"POST {PING} HTTP/1.1", "host: gateway", f"content-length: {len(body)}", *headers]
    writer.write("\r\n".join([*head, "", ""]).encode() + body)


async def answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
    fields = dict(line.split(": ", 1) for line in head[1:] if line)
    body = await reader.readexactly(int(fields.get("content-length", "0")))
    return int(head[0].split()[1]), fields, body


async def test_past_the_bound_the_protocol_refuses_before_the_app() -> None:
    app = Held(Settings.from_env({"ADMISSION_MAX_IN_FLIGHT": str(BOUND)}))
    async with serving(app) as port:
        held = [await request(port) for _ in range(BOUND)]
        await app.full.wait()
        refused = [await request(port) for _ in range(3)]
        for reader, _ in refused:
            status, fields, body = await answer(reader)
            assert (status, fields["retry-after"], fields["content-type"]) == (
                503,
                "2",
                "application/json",
            )
            assert msgspec.json.decode(body) == {
                "error": "overloaded",
                "detail": "the gateway is at capacity: retry in 2s",
            }
            assert "connection" not in fields  # kept alive for the next request
        assert app.calls == BOUND  # no task, no app call, for a refused request
        app.released.set()
        assert [(await answer(r))[0] for r, _ in held] == [204] * BOUND
        reader, writer = refused[0]
        send(writer)  # the same connection, now that there is room
        assert (await answer(reader))[0] == 204
        assert app.calls == BOUND + 1
        for _, w in held + refused:
            w.close()


async def test_what_the_protocol_cannot_answer_alone_goes_to_the_app() -> None:
    """A page on another origin needs the CORS headers of the app's refusal."""
    settings = Settings.from_env(
        {"ADMISSION_MAX_IN_FLIGHT": str(BOUND), "CORS_ALLOW_ORIGINS": SITE}
    )
    app = Held(settings)
    async with serving(app) as port:
        held = [await request(port) for _ in range(BOUND)]
        await app.full.wait()
        reader, writer = await request(port, f"origin: {SITE}")
        status, fields, _ = await answer(reader)
        assert (status, fields["access-control-allow-origin"]) == (503, SITE)
        assert app.calls == BOUND + 1
        for _, w in [*held, (reader, writer)]:
            w.close()


async def test_operations_endpoints_are_never_refused() -> None:
    app = Held(Settings.from_env({"ADMISSION_MAX_IN_FLIGHT": str(BOUND)}))
    async with serving(app) as port:
        held = [await request(port) for _ in range(BOUND)]
        await app.full.wait()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nhost: gateway\r\n\r\n")
        await asyncio.sleep(0.1)
        assert app.calls == BOUND + 1  # handed to the app, which holds it like the others
        app.released.set()
        assert (await answer(reader))[0] == 204
        for _, w in [*held, (reader, writer)]:
            w.close()
