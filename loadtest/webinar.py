"""The webinar a load test watches, created through the organiser's API."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

from loadtest import organiser
from loadtest.scenario import ENDS_AT
from watchtime.webinars import Schedule


def create(base_url: str, admin_token: str, run_seconds: float) -> str:
    """A new webinar starting now, before anybody arrives, with its scheduled end where
    the viewers' exodus begins (so the report clips the stragglers), and a post window
    long enough that every session of the run is collected. Returns its id."""
    webinar_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    schedule = Schedule(
        title="load test",
        webinar_start_time=now,
        webinar_scheduled_end_time=now + timedelta(seconds=ENDS_AT * run_seconds),
        post_window_minutes=math.ceil(run_seconds / 60) + 1,
    )
    organiser.call("PUT", f"{base_url}/api/webinars/{webinar_id}", admin_token, schedule)
    return webinar_id
