"""Webinar schedules: stored in Postgres (R-PG-1), mirrored into Redis so the ping
path can tell a known webinar without touching Postgres (R-ARCH-1)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec
from redis.typing import EncodableT, FieldT

from watchtime import keys
from watchtime.client import RedisClient
from watchtime.clock import epoch_ms
from watchtime.errors import postgres_boundary, redis_boundary

TzDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class Schedule(msgspec.Struct, forbid_unknown_fields=True):
    """What an organiser sets with ``PUT /api/webinars/{id}``."""

    webinar_start_time: TzDatetime
    title: Annotated[str, msgspec.Meta(max_length=500)] = ""
    webinar_scheduled_end_time: TzDatetime | None = None
    webinar_actual_end_time: TzDatetime | None = None
    post_window_minutes: Annotated[int, msgspec.Meta(ge=0, le=7 * 24 * 60)] = 0

    def problem(self) -> str | None:
        """Why the schedule is inconsistent, or None."""
        for name in ("webinar_scheduled_end_time", "webinar_actual_end_time"):
            end = getattr(self, name)
            if end is not None and end <= self.webinar_start_time:
                return f"{name} must be after webinar_start_time"
        return None


class Webinar(msgspec.Struct, frozen=True):
    id: UUID
    title: str
    webinar_start_time: datetime
    webinar_scheduled_end_time: datetime | None
    webinar_actual_end_time: datetime | None
    post_window_minutes: int
    created_at: datetime
    updated_at: datetime

    @property
    def content_end(self) -> datetime | None:
        return self.webinar_actual_end_time or self.webinar_scheduled_end_time


UPSERT = """
INSERT INTO webinars (id, title, webinar_start_time, webinar_scheduled_end_time,
                      webinar_actual_end_time, post_window_minutes)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET
    (title, webinar_start_time, webinar_scheduled_end_time, webinar_actual_end_time,
     post_window_minutes, updated_at)
    = (excluded.title, excluded.webinar_start_time, excluded.webinar_scheduled_end_time,
       excluded.webinar_actual_end_time, excluded.post_window_minutes, now())
RETURNING *"""

# The first press of "end" wins; a correction goes through PUT.
END = """
UPDATE webinars SET webinar_actual_end_time = COALESCE(webinar_actual_end_time, $2),
                    updated_at = now()
WHERE id = $1 AND webinar_start_time < $2
RETURNING *"""


# Webinars whose collect window ended more than a day ago are final: no re-mirroring.
OPEN = """
SELECT * FROM webinars
WHERE COALESCE(webinar_actual_end_time, webinar_scheduled_end_time) IS NULL
   OR COALESCE(webinar_actual_end_time, webinar_scheduled_end_time)
      + make_interval(mins => post_window_minutes) > now() - interval '1 day'"""


async def _fetchrow(pool: asyncpg.Pool, query: str, *args: Any) -> Webinar | None:
    with postgres_boundary():
        row = await pool.fetchrow(query, *args)
    return None if row is None else Webinar(**dict(row))


async def save(pool: asyncpg.Pool, webinar_id: UUID, s: Schedule) -> Webinar:
    webinar = await _fetchrow(
        pool,
        UPSERT,
        webinar_id,
        s.title,
        s.webinar_start_time,
        s.webinar_scheduled_end_time,
        s.webinar_actual_end_time,
        s.post_window_minutes,
    )
    assert webinar is not None  # an upsert always returns its row
    return webinar


async def fetch(pool: asyncpg.Pool, webinar_id: UUID) -> Webinar | None:
    return await _fetchrow(pool, "SELECT * FROM webinars WHERE id = $1", webinar_id)


async def still_open(pool: asyncpg.Pool) -> list[Webinar]:
    """The webinars still collecting, or finished less than a day ago."""
    with postgres_boundary():
        rows = await pool.fetch(OPEN)
    return [Webinar(**dict(row)) for row in rows]


async def end(pool: asyncpg.Pool, webinar_id: UUID, at: datetime) -> Webinar | None:
    """Sets the actual end once; None if the webinar is unknown or not yet started."""
    return await _fetchrow(pool, END, webinar_id, at)


def _ms(at: datetime | None) -> int | str:
    return "" if at is None else epoch_ms(at)


async def mirror(redis: RedisClient, webinar: Webinar) -> None:
    """Copies the schedule into Redis and puts the webinar in the working set of flusher
    and sweeper (where it stays until it rests with nothing to do)."""
    fields: dict[FieldT, EncodableT] = {
        "start": _ms(webinar.webinar_start_time),
        "scheduled_end": _ms(webinar.webinar_scheduled_end_time),
        "actual_end": _ms(webinar.webinar_actual_end_time),
        "post_window_minutes": webinar.post_window_minutes,
    }
    with redis_boundary():
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hset(keys.meta(webinar.id), mapping=fields)
            pipe.zadd(keys.REGISTRY, {str(webinar.id): 0})
            await pipe.execute()


async def heal(redis: RedisClient, open_webinars: list[Webinar]) -> int:
    """Mirrors those of the webinars whose schedule Redis lost (e.g. restarted without its
    append-only file); returns how many. A webinar Redis still knows is left alone, so a
    resting one stays out of the working set."""
    with redis_boundary():
        async with redis.pipeline(transaction=False) as pipe:  # split per node on a cluster
            for webinar in open_webinars:
                pipe.exists(keys.meta(webinar.id))
            known = await pipe.execute()
    lost = [webinar for webinar, exists in zip(open_webinars, known, strict=True) if not exists]
    for webinar in lost:
        await mirror(redis, webinar)
    return len(lost)
