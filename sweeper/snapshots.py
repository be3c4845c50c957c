"""Per-minute concurrency: one row per webinar with viewers (R-PG-5)."""

from __future__ import annotations

from prometheus_client import Counter

from watchtime import clock, registry
from watchtime.backends import Backends
from watchtime.errors import postgres_boundary
from watchtime.postgres import rows_changed

SNAPSHOTS = Counter("watchtime_sweeper_snapshots_total", "Per-minute viewer snapshots written")

INSERT_SNAPSHOTS = """
INSERT INTO webinar_viewer_snapshots (webinar_id, bucket_at, viewers, active_sessions)
SELECT w, to_timestamp($2 / 1000.0), v, a
FROM unnest($1::uuid[], $3::int4[], $4::int4[]) AS t(w, v, a)
ON CONFLICT (webinar_id, bucket_at) DO NOTHING"""


class Snapshots:
    def __init__(self, backends: Backends) -> None:
        self.redis, self.pg, self.store = backends

    async def take(self) -> bool:
        """One row per webinar with viewers for the current minute; a scheduled job."""
        now_ms = await clock.server_ms(self.redis)
        counts = [(w, await self.store.live(w)) for w in await registry.webinars(self.redis)]
        seen = [(w, c) for w, c in counts if c is not None and (c.viewers or c.active_sessions)]
        if seen:
            args = (
                [w for w, _ in seen],
                now_ms - now_ms % 60_000,
                [c.viewers for _, c in seen],
                [c.active_sessions for _, c in seen],
            )
            with postgres_boundary():
                status = await self.pg.execute(INSERT_SNAPSHOTS, *args)
            SNAPSHOTS.inc(rows_changed(status))
        return False
