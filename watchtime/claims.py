"""A replica's short claims on webinars for one job, so flushers (or sweepers) share
the webinars instead of repeating each other's work. Correctness never rests on them:
a claim expires if its holder dies, and an overlap after that only wastes work."""

from __future__ import annotations

import logging
import secrets
from uuid import UUID

from watchtime.errors import BackendUnavailable
from watchtime.sessions import SessionStore

log = logging.getLogger("watchtime.leases")  # the name logs have always carried


class Claims:
    def __init__(self, store: SessionStore, job: str, ttl_ms: int) -> None:
        self.store = store
        self.job = job
        self.ttl_ms = ttl_ms
        self.owner = secrets.token_hex(8)  # this replica

    async def take(self, webinar_id: UUID) -> bool:
        """Takes or renews the claim; False while another replica holds it. A Redis at
        maxmemory refuses the claim's write: the work goes on unclaimed, since the
        flusher's retiring of written sessions is what frees memory."""
        try:
            return await self.store.lease(webinar_id, self.job, self.owner, self.ttl_ms)
        except BackendUnavailable as e:
            if e.reason != "full":
                raise
            log.warning("%s of %s unclaimed: Redis is full", self.job, webinar_id)
            return True

    async def release(self, webinar_id: UUID) -> None:
        await self.store.lease(webinar_id, self.job, self.owner, 0)
