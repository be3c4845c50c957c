"""Session operations: one Lua script call each (R-ARCH-1), typed in and out.

Production passes no ``now``, so the scripts read Redis ``TIME``; tests pass an
explicit time in milliseconds to walk the worked examples of the SPEC.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple
from uuid import UUID

import msgspec
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from watchtime import keys
from watchtime.errors import redis_boundary
from watchtime.metrics import REDIS_NOSCRIPT
from watchtime.scripts import Scripts
from watchtime.settings import Settings


class Outcome(NamedTuple):
    """A script's answer: status, then two numbers whose meaning depends on it
    (credited and watched ms for ``ok``; wait ms for ``rate_limited``)."""

    status: str
    first: int = 0
    second: int = 0


class Collected(NamedTuple):
    """A session as the flusher reads it; empty fields if it vanished from Redis."""

    session_id: str
    fields: dict[str, str]
    extras: dict[str, str]
    log: bytes


class LiveCounts(NamedTuple):
    viewers: int
    active_sessions: int


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _time(now_ms: int | None) -> str:
    return "" if now_ms is None else str(now_ms)


def _pairs_to_dict(flat: list[bytes]) -> dict[str, str]:
    items = iter(flat)
    return {field.decode(): value.decode() for field, value in zip(items, items, strict=True)}


def _details(extras: Mapping[str, str] | None) -> bytes:
    return msgspec.json.encode({field: value for field, value in (extras or {}).items() if value})


# How scripts reach Redis: directly, or coalesced with other requests' calls.
ScriptRunner = Callable[[AsyncScript, Sequence[Any], Sequence[Any]], Awaitable[Any]]


async def run_directly(script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
    """One EVALSHA through redis-py. A Redis that forgot the script (restart, failover)
    gets it again, counted as the gateway's batcher counts it."""
    client = script.registered_client
    try:
        return await client.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        REDIS_NOSCRIPT.inc()
        await client.script_load(script.script)  # on a cluster: every primary
        return await client.evalsha(script.sha, len(keys), *keys, *args)


def _outcome(reply: list[Any]) -> Outcome:
    status = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
    return Outcome(status, *(int(n) for n in reply[1:]))


class SessionStore:
    def __init__(
        self, scripts: Scripts, settings: Settings, run: ScriptRunner = run_directly
    ) -> None:
        self.scripts = scripts
        self.run = run
        self.cap_ms = settings.delta_cap_ms
        self.min_interval_ms = settings.min_ping_interval_ms
        self.stale_ms = settings.stale_after_ms
        self.tombstone_ttl_seconds = settings.tombstone_ttl_seconds

    async def _call(self, script: AsyncScript, script_keys: list[str], args: list[Any]) -> Any:
        with redis_boundary():
            return await self.run(script, script_keys, args)

    async def track(
        self,
        webinar_id: UUID,
        session_id: str,
        user_id: str,
        visible: bool = True,
        active: bool = True,
        extras: Mapping[str, str] | None = None,
        now_ms: int | None = None,
    ) -> Outcome:
        args = [_time(now_ms), session_id, user_id, _flag(visible), _flag(active), _details(extras)]
        reply = await self._call(
            self.scripts.track, keys.session_keys(webinar_id, session_id), args
        )
        return _outcome(reply)

    async def ping(
        self,
        webinar_id: UUID,
        session_id: str,
        user_id: str,
        request_id: str,
        visible: bool = True,
        active: bool = True,
        extras: Mapping[str, str] | None = None,
        now_ms: int | None = None,
    ) -> Outcome:
        args: list[Any] = [_time(now_ms), session_id, user_id, _flag(visible), _flag(active)]
        args += [self.cap_ms, self.min_interval_ms, request_id, keys.MAX_INTERVALS_PER_SESSION]
        args.append(_details(extras))
        reply = await self._call(self.scripts.ping, keys.session_keys(webinar_id, session_id), args)
        return _outcome(reply)

    async def exit(
        self, webinar_id: UUID, session_id: str, user_id: str, now_ms: int | None = None
    ) -> Outcome:
        args = [_time(now_ms), session_id, user_id, self.cap_ms, keys.MAX_INTERVALS_PER_SESSION]
        reply = await self._call(self.scripts.exit, keys.session_keys(webinar_id, session_id), args)
        return _outcome(reply)

    async def presence(self, webinar_id: UUID, user_id: str, now_ms: int | None = None) -> Outcome:
        script_keys = [keys.meta(webinar_id), keys.presence(webinar_id)]
        args = [_time(now_ms), keys.viewer(user_id, "")]
        return _outcome(await self._call(self.scripts.presence, script_keys, args))

    async def live(self, webinar_id: UUID, now_ms: int | None = None) -> LiveCounts | None:
        script_keys = [keys.meta(webinar_id), keys.presence(webinar_id), keys.active(webinar_id)]
        outcome = _outcome(
            await self._call(self.scripts.live, script_keys, [_time(now_ms), self.stale_ms])
        )
        return LiveCounts(outcome.first, outcome.second) if outcome.status == "ok" else None

    async def ack(self, webinar_id: UUID, written: Sequence[tuple[str, int]]) -> int:
        """After a commit: clears the dirty marks of the versions written (and only
        those) and retires closed sessions to tombstones. Returns marks cleared."""
        script_keys = [keys.dirty(webinar_id)]
        args: list[Any] = [self.tombstone_ttl_seconds]
        for session_id, version in written:
            script_keys += keys.session_record(webinar_id, session_id)
            args += [session_id, version]
        return int(await self._call(self.scripts.ack, script_keys, args))

    async def collect(self, webinar_id: UUID, session_ids: Sequence[str]) -> list[Collected]:
        """One atomic snapshot of each session: hot fields, details and interval log."""
        script_keys = [k for s in session_ids for k in keys.session_record(webinar_id, s)]
        replies = await self._call(self.scripts.collect, script_keys, [])
        return [
            Collected(session_id, _pairs_to_dict(fields), _pairs_to_dict(extras), log)
            for session_id, (fields, extras, log) in zip(session_ids, replies, strict=True)
        ]

    async def sweep(
        self, webinar_id: UUID, session_ids: Sequence[str], now_ms: int | None = None
    ) -> int:
        """Closes those of the sessions that are still stale; returns how many it closed."""
        script_keys = [
            keys.active(webinar_id),
            keys.presence(webinar_id),
            keys.dirty(webinar_id),
            keys.tabs(webinar_id),
        ]
        script_keys += [keys.session(webinar_id, session_id) for session_id in session_ids]
        args = [_time(now_ms), self.stale_ms, *session_ids]
        return int(await self._call(self.scripts.sweep, script_keys, args))

    async def lease(self, webinar_id: UUID, job: str, owner: str, ttl_ms: int) -> bool:
        """Takes or renews this webinar's lease for ``job``; ``ttl_ms=0`` releases it."""
        reply = await self._call(self.scripts.lease, [keys.lease(webinar_id, job)], [owner, ttl_ms])
        return bool(reply)
