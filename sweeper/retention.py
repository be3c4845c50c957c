"""Postgres kept within its retention, and its next months' partitions ready (R-PG-5)."""

from __future__ import annotations

from prometheus_client import Counter

from watchtime.backends import Backends
from watchtime.errors import postgres_boundary
from watchtime.postgres import rows_changed
from watchtime.settings import Settings

RETENTION_DROPPED_MONTHS = Counter(
    "watchtime_sweeper_retention_dropped_partitions_total",
    "Monthly partitions of webinar_user_sessions dropped by retention",
)
RETENTION_DELETED = Counter(
    "watchtime_sweeper_retention_deleted_rows_total", "Rows deleted by retention", ["table"]
)

# Rows deleted per statement.
RETENTION_BATCH_SIZE = 5000
# Monthly partitions of webinar_user_sessions kept created ahead of the current month.
PARTITION_MONTHS_AHEAD = 3

ENSURE_MONTHS = """
SELECT watchtime_ensure_month(now() + n * interval '1 month') FROM generate_series(0, $1) AS n"""

# SKIP LOCKED: two replicas delete different rows instead of waiting on each other.
DELETE_OLD = {
    "webinar_user_sessions": """
        DELETE FROM webinar_user_sessions WHERE id IN (
            SELECT id FROM webinar_user_sessions
            WHERE entered_at < now() - make_interval(days => $1)
            LIMIT $2 FOR UPDATE SKIP LOCKED)""",
    "webinar_viewer_snapshots": """
        DELETE FROM webinar_viewer_snapshots WHERE (webinar_id, bucket_at) IN (
            SELECT webinar_id, bucket_at FROM webinar_viewer_snapshots
            WHERE bucket_at < now() - make_interval(days => $1)
            LIMIT $2 FOR UPDATE SKIP LOCKED)""",
}


class Retention:
    def __init__(self, backends: Backends, settings: Settings) -> None:
        self.pg = backends.pg
        self.retention_days = settings.retention_days

    async def apply(self) -> bool:
        """Keeps the next months' partitions ready, drops the months past the retention,
        then deletes what is left of older rows in bounded batches (the month that
        straddles the limit, rows in the default partition, old snapshots); a scheduled
        job."""
        with postgres_boundary():
            await self.pg.execute(ENSURE_MONTHS, PARTITION_MONTHS_AHEAD)
            dropped = await self.pg.fetchval(
                "SELECT watchtime_drop_months($1)", self.retention_days
            )
        RETENTION_DROPPED_MONTHS.inc(dropped)
        for table, statement in DELETE_OLD.items():
            while await self._delete_old(table, statement) == RETENTION_BATCH_SIZE:
                pass  # a full batch: there may be more
        return False

    async def _delete_old(self, table: str, statement: str) -> int:
        with postgres_boundary():
            status = await self.pg.execute(statement, self.retention_days, RETENTION_BATCH_SIZE)
        deleted = rows_changed(status)
        RETENTION_DELETED.labels(table).inc(deleted)
        return deleted
