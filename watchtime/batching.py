"""Coalesced script calls: the gateway's way to Redis.

Awaiting one redis-py EVALSHA per request costs the gateway more CPU than the rest of
the request. Instead each call is packed by hiredis and queued on a pipelined
connection of the batcher's own (``watchtime.pipe``) to the node that owns its
webinar: the calls of one event-loop turn leave in one write per node, and each
caller gets back its own reply or its own error.

Re-sending a call is safe: track and exit are idempotent and a ping carries a
request id its script recognises. So a call that met a lost connection, a Redis that
forgot its scripts (restart, failover) or, on a cluster, a slot that moved is sent
once more after the repair.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import hiredis
from redis.commands.core import AsyncScript
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ConnectionError,
    ExecAbortError,
    MovedError,
    NoScriptError,
    RedisClusterException,
    TimeoutError,
)

from watchtime.client import RedisClient
from watchtime.metrics import REDIS_NOSCRIPT
from watchtime.pipe import Pipe, open_pipe
from watchtime.redis_routes import routes

DEFAULT_MAX_BATCH = 256
T = TypeVar("T")
# Errors a call is re-sent after, once: the route is looked up again (a lost connection
# is replaced), or the script loaded again.
LOST = (ConnectionError, TimeoutError, RedisClusterException)
ROUTE_CHANGED = (*LOST, MovedError, AskError, ClusterDownError)


class ScriptBatcher:
    def __init__(
        self, redis: RedisClient, timeout: float, max_batch: int = DEFAULT_MAX_BATCH
    ) -> None:
        self.redis = redis
        self.timeout = timeout  # REDIS_TIMEOUT_SECONDS
        self.max_batch = max_batch
        self.routes = routes(redis)
        self.pipes: dict[str, Pipe] = {}
        self.once = _Once()

    async def __call__(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        packed = hiredis.pack_command(("EVALSHA", script.sha, len(keys), *keys, *args))
        reply = await self._routed(keys[0], packed)
        if isinstance(reply, NoScriptError):  # a restarted or failed-over Redis forgot it
            REDIS_NOSCRIPT.inc()
            # On a cluster redis-py loads the script on every primary.
            await self.once(("load", script.sha), lambda: self.redis.script_load(script.script))
            reply = await self._attempt(keys[0], packed, 1)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def transaction(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """``commands`` run at once, MULTI … EXEC, their first argument a key: one per
        reply, an error reply as a value. They must share a hash tag."""
        framed = (("MULTI",), *commands, ("EXEC",))
        packed = b"".join(hiredis.pack_command(tuple(command)) for command in framed)
        reply = await self._routed(commands[0][1], packed, len(commands) + 2)
        if isinstance(reply, Exception):
            raise reply
        return cast(list[Any], reply)

    async def _routed(self, key: Any, packed: bytes, replies: int = 1) -> Any:
        """The reply, once more after a repair if the route had changed."""
        reply = await self._attempt(key, packed, replies)
        # A transaction that met a moved slot is aborted: the EXEC says so.
        if isinstance(reply, (*ROUTE_CHANGED, ExecAbortError)):
            await self.once(("refresh",), self.routes.refresh)
            reply = await self._attempt(key, packed, replies)
        return reply

    async def open(self) -> None:
        """Connects to every primary now rather than on the first calls."""
        for name in self.routes.primaries():
            await self._open(name)

    async def aclose(self) -> None:
        for pipe in self.pipes.values():
            pipe.close()

    async def _attempt(self, key: Any, packed: bytes, replies: int) -> Any:
        """The reply, or the error the call met, as a value."""
        try:
            name = self.routes.node(key)
            pipe = self.pipes.get(name)
            if pipe is None or pipe.lost:
                pipe = await self._open(name)
            return await pipe.send(packed, replies)
        except LOST as e:
            return e

    async def _open(self, name: str) -> Pipe:
        pipe = await self.once(
            ("open", name),
            lambda: open_pipe(self.routes.address(name), self.max_batch, self.timeout),
        )
        self.pipes[name] = pipe
        return pipe


class _Once:
    """Runs one awaitable per key at a time, shared by every caller that asks for it
    meanwhile: a burst of calls that all met the same trouble repairs it once."""

    def __init__(self) -> None:
        self.running: dict[tuple[str, ...], asyncio.Future[Any]] = {}

    async def __call__(self, key: tuple[str, ...], start: Callable[[], Awaitable[T]]) -> T:
        running = self.running.get(key)
        if running is None:
            running = self.running[key] = asyncio.ensure_future(start())
            running.add_done_callback(lambda _: self.running.pop(key, None))
        result: T = await asyncio.shield(running)
        return result
