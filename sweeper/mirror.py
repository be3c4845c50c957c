"""Webinar schedules copied again from Postgres into a Redis that lost them, and webinars
with work put back in the working set."""

from __future__ import annotations

import logging

import asyncpg

from watchtime import registry, webinars
from watchtime.client import RedisClient
from watchtime.sessions import SessionStore

log = logging.getLogger("watchtime.sweeper")


async def remirror(redis: RedisClient, pg: asyncpg.Pool, store: SessionStore) -> None:
    """Heals a Redis that lost webinar schedules (e.g. restarted without its AOF), and a
    working set that lost a webinar with work (a crash while it was being rested, or
    between a session's creation and its wake)."""
    still_open = await webinars.still_open(pg)
    healed = await webinars.heal(redis, still_open)
    if healed:
        log.warning("mirrored %d webinar schedules Redis had lost", healed)
    stranded = await registry.stranded(redis, [webinar.id for webinar in still_open])
    for webinar_id in stranded:
        await store.wake(webinar_id)
    if stranded:
        log.warning("put back %d webinars with work the working set had lost", len(stranded))
