"""The gateway's event loop accepts every pending connection in one turn (gateway/listener.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from gateway.listener import Loop

PENDING = 50
T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=Loop) as runner:
        return runner.run(main)


class Counted(asyncio.Protocol):
    made = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        Counted.made += 1
        transport.close()


def test_one_turn_accepts_every_pending_connection() -> None:
    """50 handshakes done by the kernel before the loop turns: one readiness of the
    listening socket accepts them all (libuv's own server takes one per turn)."""

    async def main() -> int:
        loop = asyncio.get_running_loop()
        listening = socket.create_server(("127.0.0.1", 0), backlog=PENDING)
        clients = [socket.create_connection(listening.getsockname()) for _ in range(PENDING)]
        server = await loop.create_server(Counted, sock=listening, backlog=PENDING)
        server.accept()  # type: ignore[attr-defined]
        with pytest.raises(BlockingIOError):  # nothing left for a second turn
            listening.accept()
        await asyncio.sleep(0.1)  # the connections' set-up tasks
        server.close()
        for client in clients:
            client.close()
        return Counted.made

    assert run(main()) == PENDING


def test_a_single_worker_binds_host_and_port_itself() -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"ping")
        answer = await reader.readexactly(4)
        writer.close()
        server.close()
        return answer

    assert run(main()) == b"ping"


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


def test_serve_forever_ends_when_the_server_closes() -> None:
    async def main() -> bool:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        serving = asyncio.create_task(server.serve_forever())
        await asyncio.sleep(0)
        server.close()
        await asyncio.wait_for(serving, 1)
        await server.wait_closed()
        return server.is_serving()

    assert run(main()) is False
