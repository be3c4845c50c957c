"""Metrics that more than one process reports (gateway: exits; sweeper: timeouts)."""

from prometheus_client import Counter

SESSIONS_CLOSED = Counter(
    "watchtime_sessions_closed_total", "Sessions closed by reason", ["reason"]
)
