"""Arrival curves of the load shape (``loadtest.shape``), kept free of Locust so they
can be imported anywhere: Locust's import monkey-patches the process for gevent."""

from __future__ import annotations

# ``spike``: a third of the audience arrives over the first tenth of the ramp, then the
# other two thirds at once at its middle: the load triples in a moment.
SPIKE_BASE, SPIKE_BASE_UNTIL, SPIKE_AT = 1 / 3, 0.1, 0.5


def arrived(profile: str, fraction: float) -> float:
    """Share of the audience arrived at ``fraction`` (0..1) of the ramp."""
    x = min(1.0, max(0.0, fraction))
    if profile == "doors":
        return 1 - (1 - x) ** 3
    if profile == "linear":
        return x
    if profile == "spike":
        return SPIKE_BASE * min(1.0, x / SPIKE_BASE_UNTIL) if x < SPIKE_AT else 1.0
    return 1.0


def arrival_rate(profile: str, fraction: float, users: int, ramp_seconds: float) -> float:
    """People per second at ``fraction`` of the ramp: the slope of ``arrived``."""
    x = min(1.0, max(0.0, fraction))
    if profile == "doors":
        slope = 3 * (1 - x) ** 2
    elif profile == "linear":
        slope = 1.0
    elif profile == "spike" and x < SPIKE_AT:
        slope = SPIKE_BASE / SPIKE_BASE_UNTIL if x < SPIKE_BASE_UNTIL else 0.0
    else:
        return float(users)
    return users * slope / ramp_seconds
