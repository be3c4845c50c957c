"""The gateway's event loop: uvloop, with connections accepted in batches.

libuv (since 1.45) accepts one connection per turn of the loop. A worker serving
thousands of connections takes a long turn, so in a "doors open" spike new connections
wait in the kernel's accept queue for seconds, a health probe among them, and their
requests time out before a byte is read. This loop accepts up to the listen backlog per
turn, as asyncio's own loop does, and hands each connection to uvloop
(``connect_accepted_socket``); uvicorn's ``loop`` setting takes it by import string.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

import uvloop

log = logging.getLogger("watchtime.gateway")

RESOURCE_PAUSE_SECONDS = 1.0  # accepting stops this long after an error such as EMFILE

ProtocolFactory = Callable[[], asyncio.BaseProtocol]


class Loop(uvloop.Loop):
    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: ProtocolFactory,
        host: str | None = None,
        port: int | None = None,
        *,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: Any = None,
        **kwargs: Any,
    ) -> asyncio.AbstractServer:
        if ssl is not None:
            raise ValueError("the gateway serves plain HTTP; TLS ends at the proxy")
        return BatchServer(self, protocol_factory, sock or _bind(host, port), backlog)


class BatchServer(asyncio.AbstractServer):
    """A listening socket whose pending connections are accepted together."""

    def __init__(
        self, loop: Loop, protocol_factory: ProtocolFactory, sock: socket.socket, batch: int
    ) -> None:
        self.loop, self.protocol_factory, self.batch = loop, protocol_factory, batch
        self.sock = sock
        sock.setblocking(False)
        sock.listen(batch)  # uvicorn binds the socket; the server listens, as asyncio's does
        self.closed: asyncio.Future[None] = loop.create_future()
        loop.add_reader(sock.fileno(), self.accept)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self.sock,)

    def accept(self) -> None:
        for _ in range(self.batch):
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return  # none left, or another worker took it
            except OSError as e:  # out of descriptors or buffers: not spinning on it
                self.pause(e)
                return
            self.loop.create_task(self.connect(conn))

    async def connect(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await self.loop.connect_accepted_socket(self.protocol_factory, conn)
        except OSError as e:  # the peer left before it was set up
            log.debug("connection dropped while accepted: %s", e)
            conn.close()

    def pause(self, error: OSError) -> None:
        log.warning("accept paused for %ss: %s", RESOURCE_PAUSE_SECONDS, error)
        self.loop.remove_reader(self.sock.fileno())
        self.loop.call_later(RESOURCE_PAUSE_SECONDS, self.resume)

    def resume(self) -> None:
        if self.is_serving():
            self.loop.add_reader(self.sock.fileno(), self.accept)

    def close(self) -> None:
        if self.is_serving():
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.closed.set_result(None)

    def is_serving(self) -> bool:
        return not self.closed.done()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self.loop

    async def start_serving(self) -> None:
        return None

    async def serve_forever(self) -> None:
        try:
            await asyncio.shield(self.closed)
        finally:  # cancelled, as asyncio's servers are, or closed
            self.close()

    async def wait_closed(self) -> None:
        # The listening socket only: uvicorn closes and awaits the connections itself.
        await asyncio.shield(self.closed)


def _bind(host: str | None, port: int | None) -> socket.socket:
    """The socket uvicorn would have libuv bind: a single worker passes host and port."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    return sock
