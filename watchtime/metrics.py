"""Metrics that more than one process reports (gateway: exits; sweeper: timeouts)."""

from prometheus_client import Counter, Gauge, Histogram

from watchtime import __version__

SESSIONS_CLOSED = Counter(
    "watchtime_sessions_closed_total", "Sessions closed by reason", ["reason"]
)
REDIS_BATCH_CALLS = Histogram(
    "watchtime_redis_batch_calls",
    "Script calls sent together in one pipelined round trip",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
PINGS_PER_CALL = Histogram(
    "watchtime_pings_per_call",
    "Pings sent together in one call of the ping script",
    buckets=(1, 2, 4, 8, 16, 32),
)
REDIS_NOSCRIPT = Counter(
    "watchtime_redis_noscript_total", "Script calls re-sent because Redis had lost the script"
)
BUILD_INFO = Gauge(
    "watchtime_build_info",
    "Always 1: the version this process runs, as a label",
    ["version"],
    multiprocess_mode="max",  # the same 1 from every gateway worker
)
BUILD_INFO.labels(__version__).set(1)
