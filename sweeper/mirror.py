"""Webinar schedules copied again from Postgres into a Redis that lost them, and webinars
with work put back in the working set."""

from __future__ import annotations

import logging

import asyncpg

from watchtime import webinars
from watchtime.client import RedisClient

log = logging.getLogger("watchtime.sweeper")


async def remirror(redis: RedisClient, pg: asyncpg.Pool) -> None:
    """Heals a Redis that lost webinar schedules (e.g. restarted without its AOF), or a
    working set that lost a webinar with work (a crash while it was being rested)."""
    healed = await webinars.heal(redis, await webinars.still_open(pg))
    if healed:
        log.warning("mirrored %d webinars Redis had lost or left out of its working set", healed)
