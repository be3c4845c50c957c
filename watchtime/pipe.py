"""One pipelined connection to one Redis server: the gateway's way to send script calls.

Commands queued during one event-loop turn leave together in one write. Replies are
parsed by hiredis as they come off the socket and each resolves its caller's future,
in the order Redis answers, which is the order of the commands. Nothing runs per
command but a future: no task, no pool checkout, no read call.

While ``MAX_IN_FLIGHT`` writes are unanswered, new commands wait for one of them to
be answered: under load the writes grow (fewer syscalls), idle there is no wait at
all, and no timer is involved. A connection that answers nothing for ``timeout``
seconds while replies are owed is dropped, failing what it owed.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Any, NamedTuple, cast

import hiredis
from redis import exceptions

from watchtime.metrics import REDIS_BATCH_CALLS

# Two keep Redis busy (it runs one write's commands while the next travels); more only
# shrink the writes.
MAX_IN_FLIGHT = 2


# Error replies by their first word, as redis-py raises them.
REPLY_ERRORS: dict[str, type[exceptions.ResponseError]] = {
    "NOSCRIPT": exceptions.NoScriptError,
    "MOVED": exceptions.MovedError,
    "ASK": exceptions.AskError,
    "CLUSTERDOWN": exceptions.ClusterDownError,
    "EXECABORT": exceptions.ExecAbortError,
}


def reply_error(message: str) -> exceptions.ResponseError:
    """What the parser makes of an error reply: MOVED, ASK and the like without their code."""
    code, _, rest = message.partition(" ")
    known = REPLY_ERRORS.get(code)
    return known(rest) if known else exceptions.ResponseError(message)


class Address(NamedTuple):
    """Where a Redis server listens and how to log in, as redis-py parsed REDIS_URL."""

    host: str
    port: int
    path: str | None  # a Unix socket instead of host and port
    tls: ssl.SSLContext | None
    username: str | None
    password: str | None
    db: int

    def handshake(self) -> list[tuple[Any, ...]]:
        """What a new connection sends first: log in, choose the database."""
        commands: list[tuple[Any, ...]] = []
        if self.password:
            commands.append(
                ("AUTH", self.username, self.password) if self.username else ("AUTH", self.password)
            )
        if self.db:
            commands.append(("SELECT", self.db))
        return commands


class Pipe(asyncio.Protocol):
    """The connection's protocol: ``send`` queues, the event loop writes and reads."""

    def __init__(self, max_batch: int, timeout: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.max_batch = max_batch
        self.timeout = timeout
        self.parser = hiredis.Reader(replyError=reply_error)
        self.transport: asyncio.Transport | None = None
        self.queued: list[bytes] = []
        # Per reply of the queued commands, its caller, or None for a reply nobody reads
        # (the ones before a transaction's EXEC); then the same, written, in Redis's order.
        self.waiting: list[asyncio.Future[Any] | None] = []
        self.owed: deque[asyncio.Future[Any] | None] = deque()
        self.writes: deque[int] = deque()  # replies still owed per unanswered write
        self.lost: Exception | None = None
        self.answered_at = 0.0  # loop time of the last reply, or of a write to an idle pipe
        self.watchdog: asyncio.TimerHandle | None = None

    def send(self, packed: bytes, replies: int = 1) -> asyncio.Future[Any]:
        """Queues packed commands that answer ``replies`` replies; the future gets the last
        one, an error reply as a redis-py error value (``reply_error``), or the
        connection's loss as an exception. (A transaction, MULTI … EXEC, is read by its
        EXEC: a command Redis refused to queue fails the EXEC.)"""
        if self.lost:
            raise self.lost
        reply = self.loop.create_future()
        self.queued.append(packed)
        if replies > 1:  # not on the ping path: one reply a call
            self.waiting += [None] * (replies - 1)
        self.waiting.append(reply)
        if len(self.queued) >= self.max_batch:
            self._write()
        elif len(self.queued) == 1 and len(self.writes) < MAX_IN_FLIGHT:
            self.loop.call_soon(self._write)
        return reply

    def close(self) -> None:
        if self.transport:
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        self.answered_at = self.loop.time()
        while (reply := self.parser.gets()) is not False:
            caller = self.owed.popleft()
            if caller is not None and not caller.done():  # else nobody reads it
                caller.set_result(reply)
            self.writes[0] -= 1
            if not self.writes[0]:
                self.writes.popleft()
                self._write()  # what queued up behind the in-flight limit

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost:
            self.lost = exceptions.ConnectionError(f"Redis connection lost: {exc or 'closed'}")
        for caller in (*self.owed, *self.waiting):
            if caller is not None and not caller.done():
                caller.set_exception(self.lost)
        self.owed.clear()
        self.waiting.clear()
        if self.watchdog:
            self.watchdog.cancel()

    def _write(self) -> None:
        if not self.queued or self.transport is None or self.lost:
            return
        REDIS_BATCH_CALLS.observe(len(self.queued))
        if not self.owed:
            self.answered_at = self.loop.time()
        self.transport.write(b"".join(self.queued))
        self.owed.extend(self.waiting)
        self.writes.append(len(self.waiting))
        self.queued, self.waiting = [], []
        if self.watchdog is None:
            self.watchdog = self.loop.call_later(self.timeout, self._watch)

    def _watch(self) -> None:
        self.watchdog = None
        if not self.owed:
            return
        silent = self.loop.time() - self.answered_at
        if silent < self.timeout:
            self.watchdog = self.loop.call_later(self.timeout - silent, self._watch)
            return
        self.lost = exceptions.TimeoutError(f"Redis answered nothing for {silent:.1f}s")
        assert self.transport is not None
        self.transport.abort()


async def open_pipe(address: Address, max_batch: int, seconds: float) -> Pipe:
    """Connects and logs in within ``seconds``; failures leave as redis-py's errors."""
    pipe = Pipe(max_batch, seconds)
    try:
        async with asyncio.timeout(seconds):
            await _connect(pipe, address)
            for command in address.handshake():
                _logged_in(await pipe.send(hiredis.pack_command(command)))
    except BaseException as e:
        pipe.close()
        if isinstance(e, TimeoutError):  # the builtin, an OSError: test it first
            raise exceptions.TimeoutError("Redis did not accept a connection in time") from e
        if isinstance(e, OSError):
            raise exceptions.ConnectionError(f"cannot connect to Redis: {e}") from e
        raise
    return pipe


async def _connect(pipe: Pipe, address: Address) -> None:
    if address.path:
        await pipe.loop.create_unix_connection(lambda: pipe, address.path)
    else:
        await pipe.loop.create_connection(lambda: pipe, address.host, address.port, ssl=address.tls)


def _logged_in(reply: Any) -> None:
    if isinstance(reply, exceptions.ResponseError):
        raise exceptions.AuthenticationError(str(reply))
