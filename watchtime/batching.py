"""Coalesced script calls: the gateway's way to Redis.

Awaiting one EVALSHA per request costs the gateway more CPU than the rest of the
request. Instead, calls made during one event-loop turn leave together in the next
turn as one pipelined write on one connection, and each caller gets back its own
reply or its own error. While ``MAX_IN_FLIGHT`` batches are out, new calls wait for
one of them to return: under load the batches grow (fewer writes, fewer syscalls),
idle there is no wait at all, and no timer is involved. Re-sending a batch after a
lost connection is safe: track and exit are idempotent and a ping carries a request id
its script recognises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, NamedTuple

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError, NoScriptError, ResponseError, TimeoutError

from watchtime.metrics import REDIS_BATCH_CALLS, REDIS_NOSCRIPT

DEFAULT_MAX_BATCH = 256
# Two keep Redis busy (it runs one batch while the next travels); more only shrink batches.
MAX_IN_FLIGHT = 2


class _Call(NamedTuple):
    script: AsyncScript
    command: tuple[Any, ...]
    reply: asyncio.Future[Any]


class ScriptBatcher:
    def __init__(self, redis: Redis, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self.redis = redis
        self.max_batch = max_batch
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
            replies = await self._round_trip([call.command for call in batch])
            replies = await self._reload_missing_scripts(batch, replies)
        except Exception as e:  # handed to every caller, whose boundary reports it
            replies = [e] * len(batch)
        for call, reply in zip(batch, replies, strict=True):
            if call.reply.done():  # the caller went away
                continue
            if isinstance(reply, Exception):
                call.reply.set_exception(reply)
            else:
                call.reply.set_result(reply)

    async def _reload_missing_scripts(self, batch: list[_Call], replies: list[Any]) -> list[Any]:
        """A restarted or failed-over Redis forgot the scripts: load them, send those again."""
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if not missing:
            return replies
        REDIS_NOSCRIPT.inc(len(missing))
        for script in {batch[i].script for i in missing}:
            await self.redis.script_load(script.script)
        again = await self._round_trip([batch[i].command for i in missing])
        for i, reply in zip(missing, again, strict=True):
            replies[i] = reply
        return replies

    async def _round_trip(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """One write and its replies; a connection lost on the way is retried once."""
        try:
            return await self._on_connection(commands)
        except (ConnectionError, TimeoutError):
            return await self._on_connection(commands)

    async def _on_connection(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        pool = self.redis.connection_pool
        conn: Connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            # hiredis packs in C; redis-py's own packer would cost more than the request.
            await conn.send_packed_command(b"".join(map(hiredis.pack_command, commands)))
            return [await _reply(conn) for _ in commands]
        except BaseException:
            await conn.disconnect()  # its stream may hold replies nobody read
            raise
        finally:
            await pool.release(conn)


async def _reply(conn: Connection) -> Any:
    try:
        return await conn.read_response()
    except ResponseError as e:  # an error reply belongs to its caller alone
        return e
