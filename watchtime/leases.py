"""A replica's short claims on webinars for one job, so flushers (or sweepers) share
the webinars instead of repeating each other's work. Correctness never rests on them:
a claim expires if its holder dies, and an overlap after that only wastes work."""

from __future__ import annotations

import secrets
from uuid import UUID

from watchtime.sessions import SessionStore


class Claims:
    def __init__(self, store: SessionStore, job: str, ttl_ms: int) -> None:
        self.store = store
        self.job = job
        self.ttl_ms = ttl_ms
        self.owner = secrets.token_hex(8)  # this replica

    async def take(self, webinar_id: UUID) -> bool:
        """Takes or renews the claim; False while another replica holds it."""
        return await self.store.lease(webinar_id, self.job, self.owner, self.ttl_ms)

    async def release(self, webinar_id: UUID) -> None:
        await self.store.lease(webinar_id, self.job, self.owner, 0)
