"""Session operations: one Lua script call each (R-ARCH-1; the pings of one event-loop
turn share theirs), typed in and out.

Production passes no ``now``, so the scripts read Redis ``TIME``; tests pass an
explicit time in milliseconds to walk the worked examples of docs/semantics.md.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, NamedTuple, Protocol, cast
from uuid import UUID

import msgspec
from redis.commands.core import AsyncScript
from redis.exceptions import ExecAbortError, NoScriptError

from watchtime import fields, keys
from watchtime.coalesce import Coalescer, Head
from watchtime.errors import redis_boundary
from watchtime.fields import Details, Hot
from watchtime.limits import MAX_INTERVALS_PER_SESSION
from watchtime.metrics import REDIS_NOSCRIPT
from watchtime.scripts import Scripts
from watchtime.settings import Settings


class Status(StrEnum):
    """What a session script answered (its first reply element, these strings)."""

    OK = "ok"
    CREATED = "created"
    EXISTS = "exists"  # track of a session already open
    DUPLICATE = "duplicate"  # a resent ping: its request id was the last one
    RATE_LIMITED = "rate_limited"
    CLOSED = "closed"
    OTHER_USER = "other_user"
    NO_WEBINAR = "no_webinar"
    NO_SESSION = "no_session"


class Outcome(NamedTuple):
    """A session script's answer. The scripts reply {status, credited_ms, watched_ms,
    wait_ms, dormant}, trailing zeros left out. ``dormant``: the change woke a webinar that
    had left the working set (``SessionStore.wake``)."""

    status: Status
    credited_ms: int = 0  # credited by this call
    watched_ms: int = 0  # the session's total after it
    wait_ms: int = 0  # rate_limited: until the ping would be taken
    dormant: bool = False


class Pending(NamedTuple):
    """What the flusher owes Postgres for one webinar (pending.lua)."""

    watermark: int  # ms: every open session scored below it is in Postgres
    next_watermark: int  # ms: where the watermark moves once these sessions are written
    owed: int  # sessions owed, named here or not
    oldest_ms: int  # the oldest change owed, -1 if none
    open_sessions: int
    now_ms: int  # the Redis clock when it was asked
    open_ids: list[str]
    closed_ids: list[str]

    @property
    def lag_ms(self) -> int:
        """How long the oldest change owed has waited."""
        return self.now_ms - self.oldest_ms if self.oldest_ms >= 0 else 0


class Collected(NamedTuple):
    """A session as the flusher reads it: all fields None if it vanished from Redis, no
    details once its row is stored."""

    session_id: str
    hot: Hot
    details: Details
    log: bytes
    active_log: bytes

    @property
    def exists(self) -> bool:
        return self.hot.version is not None

    @property
    def intervals(self) -> list[tuple[int, int]]:
        """The credited intervals [from, to) in ms not yet in Postgres, the current run
        included: its row's intervals are their union with these."""
        return intervals(self.log, self.hot.run_from, self.hot.run_to)

    @property
    def active_intervals(self) -> list[tuple[int, int]]:
        """Likewise, the credited intervals during which the client was active."""
        return intervals(self.active_log, self.hot.active_run_from, self.hot.active_run_to)

    @property
    def marks(self) -> tuple[int, int] | None:
        """The bytes of both logs in Postgres once this snapshot is written, if that
        moves the session's marks (ack.lua); None if they stay."""
        if not self.exists or self.hot.exited_at is not None:  # retired instead
            return None
        if self.hot.stored and not self.log and not self.active_log:
            return None
        logged, active_logged = self.hot.logged or 0, self.hot.active_logged or 0
        return logged + len(self.log), active_logged + len(self.active_log)


def intervals(
    log: bytes, run_from: int | str | None, run_to: int | str | None
) -> list[tuple[int, int]]:
    """A session's credited intervals [from, to) in ms: its log of closed runs (big-endian
    int64 pairs) and its current run, kept in the session hash, unless that is empty."""
    pairs = list(struct.iter_unpack(">qq", log)) if log else []
    if run_from is not None and run_to is not None and int(run_to) > int(run_from):
        pairs.append((int(run_from), int(run_to)))
    return pairs


class LiveCounts(NamedTuple):
    viewers: int
    active_sessions: int


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _time(now_ms: int | None) -> str:
    return "" if now_ms is None else str(now_ms)


def _text(values: list[bytes]) -> list[str]:
    return [value.decode() for value in values]


def _texts(values: list[bytes | None]) -> list[str | None]:
    return [None if value is None else value.decode() for value in values]


def _details(extras: Mapping[str, str] | None) -> bytes:
    return msgspec.json.encode({field: value for field, value in (extras or {}).items() if value})


class Transport(Protocol):
    """How a store reaches Redis: ``Direct``, or coalesced with other requests' calls
    (``watchtime.batching.ScriptBatcher``, the gateway's and the flusher's)."""

    async def __call__(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """One script call's reply."""

    async def transaction(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Commands of one key each, sharing a hash tag, run at once: their replies."""


class Direct:
    """Calls through redis-py one at a time, for the processes that send few."""

    def __init__(self, scripts: Scripts) -> None:
        self.atomically = scripts.atomically

    async def __call__(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """One EVALSHA. A Redis that forgot the script (restart, failover) gets it again,
        counted as the gateway's batcher counts it."""
        client = script.registered_client
        try:
            return await client.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:
            REDIS_NOSCRIPT.inc()
            await client.script_load(script.script)  # on a cluster: every primary
            return await client.evalsha(script.sha, len(keys), *keys, *args)

    async def transaction(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """As one script: redis-py sends no MULTI to a cluster's node."""
        args = [a for name, _, *rest in commands for a in (name, len(rest), *rest)]
        replies = await self(self.atomically, [key for _, key, *_ in commands], args)
        return cast(list[Any], replies)


NO_DETAILS = Details()


def _snapshot(webinar_id: UUID, session_id: str) -> list[tuple[str, str]]:
    """The reads of one session that must see one version: its hash whole (it holds little
    beyond what the flusher needs, and a whole read beats naming each field) and its logs."""
    return [
        ("HGETALL", keys.session(webinar_id, session_id)),
        ("GET", keys.intervals(webinar_id, session_id)),
        ("GET", keys.active_intervals(webinar_id, session_id)),
    ]


def _values(replies: Sequence[Any]) -> Sequence[Any]:
    """Replies of a transaction, which carry a failed command's error as a value."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


def _outcome(reply: list[Any]) -> Outcome:
    status = Status(reply[0].decode() if isinstance(reply[0], bytes) else reply[0])
    credited, watched, wait, dormant = [int(n) for n in reply[1:]] + [0] * (5 - len(reply))
    return Outcome(status, credited, watched, wait, bool(dormant))


class SessionStore:
    def __init__(self, scripts: Scripts, settings: Settings, run: Transport | None = None) -> None:
        self.scripts = scripts
        self.direct = Direct(scripts)
        self.run = run or self.direct
        self.pings = Coalescer(functools.partial(self.run, scripts.ping))
        self.cap_ms = settings.delta_cap_ms
        self.min_interval_ms = settings.min_ping_interval_ms
        self.stale_ms = settings.stale_after_ms
        self.tombstone_ttl_seconds = settings.tombstone_ttl_seconds

    async def _call(self, script: AsyncScript, script_keys: list[str], args: list[Any]) -> Any:
        with redis_boundary():
            return await self.run(script, script_keys, args)

    async def _transaction(self, commands: Sequence[Sequence[Any]]) -> Sequence[Any]:
        if not commands:  # a transaction is routed by its first key
            return []
        with redis_boundary():
            try:
                replies = await self.run.transaction(commands)
            except ExecAbortError:  # a full Redis queues no command, not even a read,
                replies = await self.direct.transaction(commands)  # but a script may read
            return _values(replies)

    async def _change(
        self, webinar_id: UUID, script: AsyncScript, script_keys: list[str], args: list[Any]
    ) -> Outcome:
        """A script that changes sessions."""
        return await self._woken(webinar_id, await self._call(script, script_keys, args))

    async def _woken(self, webinar_id: UUID, reply: list[Any]) -> Outcome:
        """A change's outcome; a change to a resting webinar wakes it."""
        outcome = _outcome(reply)
        if outcome.dormant:
            await self.wake(webinar_id)
        return outcome

    async def wake(self, webinar_id: UUID) -> None:
        """Puts a webinar back in the working set, then clears its mark: a crash between
        the two leaves the mark, and the next change puts it back again."""
        client = self.scripts.client
        with redis_boundary():
            await client.zadd(keys.REGISTRY, {str(webinar_id): 0})
            await client.hdel(keys.meta(webinar_id), "dormant")

    async def rest(self, webinar_id: UUID, now_ms: int | None = None) -> bool:
        """Takes a webinar with nothing open, owed or present out of the working set;
        False (and it stays) if it has any. A crash between taking it out and the script
        leaves one that has work unmarked: the sweeper puts it back (``registry.stranded``)."""
        client = self.scripts.client
        script_keys = [
            keys.meta(webinar_id),
            keys.active(webinar_id),
            keys.closed(webinar_id),
            keys.presence(webinar_id),
            keys.guests(webinar_id),
        ]
        with redis_boundary():
            await client.zrem(keys.REGISTRY, str(webinar_id))
        if await self._call(self.scripts.rest, script_keys, [_time(now_ms), self.stale_ms]):
            return True
        await self.wake(webinar_id)  # marked by the script, so a crash before this is healed
        return False

    async def track(
        self,
        webinar_id: UUID,
        session_id: str,
        user_id: str,
        *,
        visible: bool = True,
        active: bool = True,
        extras: Mapping[str, str] | None = None,
        now_ms: int | None = None,
    ) -> Outcome:
        args = [_time(now_ms), session_id, user_id, _flag(visible), _flag(active), _details(extras)]
        script_keys = keys.session_keys(webinar_id, session_id)
        return await self._change(webinar_id, self.scripts.track, script_keys, args)

    async def ping(
        self,
        webinar_id: UUID,
        session_id: str,
        user_id: str,
        request_id: str,
        *,
        visible: bool = True,
        active: bool = True,
        extras: Mapping[str, str] | None = None,
        now_ms: int | None = None,
    ) -> Outcome:
        """Sent with the other pings of this event-loop turn, in one call (coalesce.py)."""
        head = Head(
            keys.webinar_keys(webinar_id),
            (_time(now_ms), self.cap_ms, self.min_interval_ms, MAX_INTERVALS_PER_SESSION),
        )
        args = [session_id, user_id, _flag(visible), _flag(active), request_id, _details(extras)]
        script_keys = keys.session_record(webinar_id, session_id)
        with redis_boundary():
            reply = await self.pings(webinar_id, head, script_keys, args)
        return await self._woken(webinar_id, reply)

    async def exit(
        self, webinar_id: UUID, session_id: str, user_id: str, *, now_ms: int | None = None
    ) -> Outcome:
        args = [_time(now_ms), session_id, user_id, self.cap_ms, MAX_INTERVALS_PER_SESSION]
        script_keys = keys.session_keys(webinar_id, session_id)
        return await self._change(webinar_id, self.scripts.exit, script_keys, args)

    async def presence(
        self, webinar_id: UUID, user_id: str, *, now_ms: int | None = None
    ) -> Outcome:
        script_keys = [keys.meta(webinar_id), keys.presence(webinar_id)]
        args = [_time(now_ms), keys.viewer(user_id, "")]
        return await self._change(webinar_id, self.scripts.presence, script_keys, args)

    async def live(self, webinar_id: UUID, now_ms: int | None = None) -> LiveCounts | None:
        script_keys = [
            keys.meta(webinar_id),
            keys.presence(webinar_id),
            keys.active(webinar_id),
            keys.guests(webinar_id),
        ]
        reply = await self._call(self.scripts.live, script_keys, [_time(now_ms), self.stale_ms])
        _status, *counts = reply  # 'no_webinar' alone, or 'ok' and the two counts
        return LiveCounts(*map(int, counts)) if counts else None

    async def pending(self, webinar_id: UUID, limit: int, now_ms: int | None = None) -> Pending:
        """What is owed to Postgres: up to ``limit`` sessions, closed ones first; 0 counts."""
        script_keys = [
            keys.active(webinar_id),
            keys.guests(webinar_id),
            keys.closed(webinar_id),
            keys.flushed(webinar_id),
        ]
        reply = await self._call(self.scripts.pending, script_keys, [_time(now_ms), limit])
        *numbers, open_ids, closed_ids = reply
        watermark, next_watermark, owed, oldest, open_sessions, now = map(int, numbers)
        ids = _text(open_ids), _text(closed_ids)
        return Pending(watermark, next_watermark, owed, oldest, open_sessions, now, *ids)

    async def collect(self, webinar_id: UUID, session_ids: Sequence[str]) -> list[Collected]:
        """One atomic snapshot of each session: hot fields and its interval logs, which
        hold what is not yet in Postgres, read only where they may hold something (a
        hash read alone is a snapshot when its logs are known empty); then the details of
        those whose row is not yet stored (written once, with the session: they need no
        snapshot)."""
        reads = [("HGETALL", keys.session(webinar_id, s)) for s in session_ids]
        replies = await self._transaction(reads)
        read = {s: (fields.hot(h), b"", b"") for s, h in zip(session_ids, replies, strict=True)}
        if unknown := [s for s, (hot, *_) in read.items() if not hot.logs_empty]:
            read |= await self._with_logs(webinar_id, unknown)
        unstored = [s for s, (hot, *_) in read.items() if not hot.stored]
        details = dict(zip(unstored, await self._details(webinar_id, unstored), strict=True))
        return [
            Collected(s, hot, details.get(s, NO_DETAILS), log, active_log)
            for s, (hot, log, active_log) in read.items()
        ]

    async def _with_logs(
        self, webinar_id: UUID, session_ids: list[str]
    ) -> dict[str, tuple[Hot, bytes, bytes]]:
        """Each session's hash and logs, read together: one version."""
        reads = [command for s in session_ids for command in _snapshot(webinar_id, s)]
        replies = iter(await self._transaction(reads))
        return {
            s: (fields.hot(h), log or b"", active_log or b"")
            for s, h, log, active_log in zip(session_ids, replies, replies, replies, strict=True)
        }

    async def _details(self, webinar_id: UUID, session_ids: list[str]) -> list[Details]:
        commands = [("HMGET", keys.extras(webinar_id, s), *Details._fields) for s in session_ids]
        return [Details(*_texts(d)) for d in await self._transaction(commands)]

    async def ack(
        self,
        webinar_id: UUID,
        watermark: int,
        closed_ids: Sequence[str] = (),
        written: Sequence[Collected] = (),
    ) -> int:
        """After a commit: moves the watermark to ``watermark``, retires the closed
        sessions written to tombstones and trims the logs of the sessions ``written`` to
        what is not yet in Postgres (``Collected.marks``). Returns the sessions retired."""
        script_keys = [keys.flushed(webinar_id), keys.closed(webinar_id)]
        for session_id in closed_ids:
            script_keys += keys.session_record(webinar_id, session_id)
        args = [watermark, self.tombstone_ttl_seconds, len(closed_ids), *closed_ids]
        for session in written:
            if (marks := session.marks) is not None:
                session_key, _, log, active_log = keys.session_record(
                    webinar_id, session.session_id
                )
                script_keys += [session_key, log, active_log]
                args += marks
        return int(await self._call(self.scripts.ack, script_keys, args))

    async def sweep(
        self, webinar_id: UUID, session_ids: Sequence[str], now_ms: int | None = None
    ) -> int:
        """Closes those of the sessions that are still stale; returns how many it closed."""
        script_keys = [
            keys.active(webinar_id),
            keys.presence(webinar_id),
            keys.closed(webinar_id),
            keys.tabs(webinar_id),
            keys.guests(webinar_id),
        ]
        script_keys += [keys.session(webinar_id, session_id) for session_id in session_ids]
        args = [_time(now_ms), self.stale_ms, *session_ids]
        return int(await self._call(self.scripts.sweep, script_keys, args))

    async def lease(self, webinar_id: UUID, job: str, owner: str, ttl_ms: int) -> bool:
        """Takes or renews this webinar's lease for ``job``; ``ttl_ms=0`` releases it."""
        reply = await self._call(self.scripts.lease, [keys.lease(webinar_id, job)], [owner, ttl_ms])
        return bool(reply)
