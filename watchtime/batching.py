"""Coalesced script calls: the gateway's way to Redis.

Awaiting one EVALSHA per request costs the gateway more CPU than the rest of the
request. Instead, calls made during one event-loop turn leave together in the next
turn as one pipelined write per Redis node, and each caller gets back its own reply
or its own error. While ``MAX_IN_FLIGHT`` batches are out, new calls wait for one of
them to return: under load the batches grow (fewer writes, fewer syscalls), idle
there is no wait at all, and no timer is involved.

Re-sending a call is safe: track and exit are idempotent and a ping carries a
request id its script recognises. So a lost connection is retried once, a Redis that
forgot its scripts (restart, failover) gets them loaded again, and on a cluster a
call answered ``MOVED`` goes to the new owner of its slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from types import UnionType
from typing import Any, NamedTuple, Protocol

import hiredis
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.connection import Connection
from redis.commands.core import AsyncScript
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ConnectionError,
    MovedError,
    NoScriptError,
    RedisClusterException,
    ResponseError,
    TimeoutError,
)

from watchtime.client import REDIS_TIMEOUT_SECONDS, RedisClient
from watchtime.metrics import REDIS_BATCH_CALLS, REDIS_NOSCRIPT

DEFAULT_MAX_BATCH = 256
# Two keep Redis busy (it runs one batch while the next travels); more only shrink batches.
MAX_IN_FLIGHT = 2
# A connection, or on a cluster a node or the slot map, lost: worth one more look.
LOST = (ConnectionError, TimeoutError, RedisClusterException)


class _Call(NamedTuple):
    script: AsyncScript
    command: tuple[Any, ...]
    reply: asyncio.Future[Any]


class ScriptBatcher:
    def __init__(self, redis: RedisClient, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self.redis = redis
        self.max_batch = max_batch
        self.lanes: _Lanes = (
            _ClusterLanes(redis) if isinstance(redis, RedisCluster) else _Lane(redis)
        )
        self.queue: list[_Call] = []
        self.in_flight: set[asyncio.Task[None]] = set()

    async def __call__(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        loop = asyncio.get_running_loop()
        call = _Call(script, ("EVALSHA", script.sha, len(keys), *keys, *args), loop.create_future())
        self.queue.append(call)
        if len(self.queue) >= self.max_batch:
            self._flush()
        elif len(self.queue) == 1 and len(self.in_flight) < MAX_IN_FLIGHT:
            loop.call_soon(self._flush)
        return await call.reply

    async def aclose(self) -> None:
        await self.lanes.aclose()

    def _flush(self) -> None:
        if not self.queue:
            return
        batch, self.queue = self.queue, []
        task = asyncio.create_task(self._send(batch))
        self.in_flight.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._landed)

    def _landed(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self._flush()  # what queued up behind the in-flight limit

    async def _send(self, batch: list[_Call]) -> None:
        REDIS_BATCH_CALLS.observe(len(batch))
        try:
            replies = await self._deliver(batch)
        except Exception as e:  # handed to every caller, whose boundary reports it
            replies = [e] * len(batch)
        for call, reply in zip(batch, replies, strict=True):
            if call.reply.done():  # the caller went away
                continue
            if isinstance(reply, Exception):
                call.reply.set_exception(reply)
            else:
                call.reply.set_result(reply)

    async def _deliver(self, batch: list[_Call]) -> list[Any]:
        try:
            replies = await self.lanes.round_trips(batch)
        except LOST:  # the connection or, on a cluster, the node: look again, once
            await self.lanes.refresh(batch)
            replies = await self.lanes.round_trips(batch)
        await self._retry(batch, replies, NoScriptError, self._load_scripts)
        await self._retry(
            batch, replies, MovedError | AskError | ClusterDownError, self.lanes.refresh
        )
        return replies

    async def _retry(
        self,
        batch: list[_Call],
        replies: list[Any],
        error: type[Exception] | UnionType,
        repair: Callable[[list[_Call]], Awaitable[None]],
    ) -> None:
        """Repairs the cause of ``error`` replies, then sends those calls once more."""
        failed = [i for i, reply in enumerate(replies) if isinstance(reply, error)]
        if not failed:
            return
        await repair([batch[i] for i in failed])
        again = await self.lanes.round_trips([batch[i] for i in failed])
        for i, reply in zip(failed, again, strict=True):
            replies[i] = reply

    async def _load_scripts(self, calls: list[_Call]) -> None:
        """A restarted or failed-over Redis forgot the scripts (on a cluster: every primary)."""
        REDIS_NOSCRIPT.inc(len(calls))
        for script in {call.script for call in calls}:
            await self.redis.script_load(script.script)


class _Lanes(Protocol):
    async def round_trips(self, calls: list[_Call]) -> list[Any]: ...

    async def refresh(self, calls: list[_Call]) -> None: ...

    async def aclose(self) -> None: ...


class _Lane:
    """One Redis server: the whole batch in one write on one pooled connection.

    The lane's connections have no per-read timeout: one deadline covers the whole
    round trip, instead of a timer armed and cancelled for every reply."""

    def __init__(self, redis: Redis) -> None:
        shared = redis.connection_pool
        kwargs = shared.connection_kwargs | {"socket_timeout": None}
        self.pool = BlockingConnectionPool(
            connection_class=shared.connection_class, max_connections=MAX_IN_FLIGHT + 1,
            timeout=REDIS_TIMEOUT_SECONDS, **kwargs,
        )  # fmt: skip

    async def round_trips(self, calls: list[_Call]) -> list[Any]:
        conn: Connection = await self.pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                return await _round_trip(conn, [call.command for call in calls])
        finally:
            await self.pool.release(conn)

    async def refresh(self, calls: list[_Call]) -> None:
        """Nothing to learn: the next connection from the pool is a new one."""

    async def aclose(self) -> None:
        await self.pool.disconnect()


class _ClusterLanes:
    """A Redis Cluster: each call goes to the primary that owns its keys' slot, one
    write per node, the nodes in parallel."""

    def __init__(self, cluster: RedisCluster) -> None:
        self.cluster = cluster

    async def round_trips(self, calls: list[_Call]) -> list[Any]:
        by_node: dict[str, list[int]] = {}
        for i, call in enumerate(calls):
            by_node.setdefault(self._owner(call), []).append(i)
        answers = await asyncio.gather(
            *(self._node_trip(name, [calls[i] for i in idx]) for name, idx in by_node.items())
        )
        replies: list[Any] = [None] * len(calls)
        for idx, node_replies in zip(by_node.values(), answers, strict=True):
            for i, reply in zip(idx, node_replies, strict=True):
                replies[i] = reply
        return replies

    def _owner(self, call: _Call) -> str:
        node = self.cluster.get_node_from_key(call.command[3])  # the first key names the slot
        assert node is not None  # a primary always owns a covered slot
        return str(node.name)

    async def _node_trip(self, name: str, calls: list[_Call]) -> list[Any]:
        node = self.cluster.get_node(node_name=name)
        assert node is not None  # named by the slot map a moment ago
        conn = node.acquire_connection()
        try:
            return await _round_trip(conn, [call.command for call in calls])
        finally:
            node.release(conn)

    async def refresh(self, calls: list[_Call]) -> None:
        """A failover or a resharding moved slots: read the cluster's map again."""
        await self.cluster.nodes_manager.initialize()

    async def aclose(self) -> None:
        """The nodes' connections are the cluster client's, closed with it."""


async def _round_trip(conn: Connection, commands: list[tuple[Any, ...]]) -> list[Any]:
    try:
        # hiredis packs in C; redis-py's own packer would cost more than the request.
        await conn.send_packed_command(b"".join(map(hiredis.pack_command, commands)))
        return [await _reply(conn) for _ in commands]
    except BaseException:
        await conn.disconnect()  # its stream may hold replies nobody read
        raise


async def _reply(conn: Connection) -> Any:
    try:
        return await conn.read_response()
    except ResponseError as e:  # an error reply belongs to its caller alone
        return e
