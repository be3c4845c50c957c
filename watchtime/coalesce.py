"""Pings coalesced: the pings of one event-loop turn go to Redis as one script call.

Part of what Redis spends on a ping is the script call itself (parsing it, the Lua call,
reading TIME, replicating its effects to the AOF as one transaction): ping.lua takes
many pings in one call and answers each apart, which saved 12-30 % of the
ping's Redis time at four pings a call (BENCHMARKS.md). The first ping of a turn starts
the call's task; the pings that arrive before the task runs join it, up to
``MAX_PINGS``. Idle, a ping waits for nothing.

A call's keys share one webinar's hash tag (R-ARCH-3), so the pings are grouped by
webinar; pings with an explicit clock (tests) are grouped by it too, since a call has one
clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple
from uuid import UUID

from watchtime.metrics import PINGS_PER_CALL

# Redis runs a script to its end before anything else: 32 pings hold it about a
# millisecond, and larger calls save little more per ping.
MAX_PINGS = 32

Call = Callable[[list[Any], list[Any]], Awaitable[list[Any]]]


class Head(NamedTuple):
    """What a call carries once, before its pings' own keys and arguments: the webinar's
    keys, and the call's arguments (its clock first)."""

    keys: Sequence[Any]
    args: tuple[Any, ...]


class _Batch:
    """The pings of one call: their keys and arguments after the call's own, in order."""

    def __init__(self, head: Head) -> None:
        self.keys: list[Any] = list(head.keys)
        self.args: list[Any] = list(head.args)
        self.callers: list[asyncio.Future[Any]] = []


class Coalescer:
    """Called once per ping; sends the pings of a turn, by webinar, as calls of ``call``."""

    def __init__(self, call: Call) -> None:
        self.call = call  # (keys, args) -> one reply per ping, an error reply as a value
        self.open: dict[tuple[Any, ...], _Batch] = {}
        self.sending: set[asyncio.Task[None]] = set()  # held: the loop keeps weak references

    def __call__(
        self, webinar_id: UUID, head: Head, keys: Sequence[Any], args: Sequence[Any]
    ) -> asyncio.Future[Any]:
        """Queues one ping; ``head`` is the same for every ping that joins the call. The
        future gets the ping's reply."""
        group = (webinar_id, *head.args)
        batch = self.open.get(group)
        if batch is None:
            batch = self.open[group] = _Batch(head)
            self._start(group, batch)
        batch.keys += keys
        batch.args += args
        caller = asyncio.get_running_loop().create_future()
        batch.callers.append(caller)
        if len(batch.callers) >= MAX_PINGS:
            del self.open[group]
        return caller

    def _start(self, group: tuple[Any, ...], batch: _Batch) -> None:
        task = asyncio.ensure_future(self._send(group, batch))
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)

    async def _send(self, group: tuple[Any, ...], batch: _Batch) -> None:
        if self.open.get(group) is batch:
            del self.open[group]
        PINGS_PER_CALL.observe(len(batch.callers))
        try:
            replies = await self.call(batch.keys, batch.args)
        except Exception as e:  # every ping of the call met it
            replies = [e] * len(batch.callers)
        except BaseException:  # cancelled (shutdown): no caller waits for ever
            for caller in batch.callers:
                caller.cancel()
            raise
        for caller, reply in zip(batch.callers, replies, strict=True):
            _answer(caller, reply)


def _answer(caller: asyncio.Future[Any], reply: Any) -> None:
    if caller.done():  # the caller went away
        return
    if isinstance(reply, Exception):
        caller.set_exception(reply)
    else:
        caller.set_result(reply)
