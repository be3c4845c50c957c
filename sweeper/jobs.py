"""The sweeper's one schedule: its jobs, each in a module of its own, and their intervals."""

from __future__ import annotations

from sweeper.retention import Retention
from sweeper.snapshots import Snapshots
from sweeper.stale import StaleSessions
from watchtime import scheduler
from watchtime.backends import Backends
from watchtime.settings import Settings


def jobs(b: Backends, settings: Settings) -> list[tuple[str, float, scheduler.Job]]:
    """The sweeper's one schedule: each job's name (as liveness reports it), interval and
    job."""
    return [
        ("sweeper", settings.sweeper_interval_seconds, StaleSessions(b, settings).sweep),
        ("snapshots", settings.snapshot_interval_seconds, Snapshots(b).take),
        ("retention", settings.retention_interval_seconds, Retention(b, settings).apply),
    ]
