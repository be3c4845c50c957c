"""The audience model: what one person does during the webinar, drawn at random.

A person arrives when Locust spawns them (the load shape staggers arrivals), then:

- is signed in (a JWT) or a guest; a guest's every session is a person of its own;
- stays to the end of the webinar, or leaves early, and some of those come back later
  with a new session (a rejoin);
- a signed-in person sometimes opens a second tab for part of the stay;
- every tab closes with the exit beacon, or without it (crash, killed app, lost
  network), and some tabs sleep: a locked phone that hides the page and goes silent
  for longer than the stale limit, then wakes up visible.

Visibility flips (switching to another window and back) are drawn while a tab runs, in
heartbeat intervals, because only the track answer tells the interval (``loadtest.tab``).
Times here are ``time.monotonic()`` seconds.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

SIGNED_IN = 0.7  # share of people with an account; the others are guests
LEAVES_EARLY = 0.3  # share of stays that end before the webinar does
REJOINS = 0.5  # share of early leavers who come back with a new session
SECOND_TAB = 0.3  # share of signed-in stays with a second tab for a while
BEACON = 0.75  # share of tabs whose close sends the exit beacon
STARTS_HIDDEN = 0.1  # tabs opened in the background
SLEEPS = 0.05  # tabs that sleep once (a locked phone)
VISIBLE_MEAN_INTERVALS = 12.0  # mean visible stretch, in heartbeat intervals
HIDDEN_MEAN_INTERVALS = 3.0  # mean hidden stretch, in heartbeat intervals
PING_JITTER = 0.05  # each ping comes interval * (1 +- this) after the previous one


@dataclass(frozen=True)
class Timeline:
    """The webinar as the viewers see it: everybody still there leaves between
    ``ends_at`` and ``empties_at`` (the exodus at the end)."""

    starts_at: float
    ends_at: float
    empties_at: float


@dataclass(frozen=True)
class TabPlan:
    opens_at: float
    closes_at: float
    beacon: bool
    starts_visible: bool
    sleeps_at: float | None  # when the phone is locked, if it is


@dataclass(frozen=True)
class PersonPlan:
    user_id: str | None  # None: a guest
    tabs: list[TabPlan]


def person(
    rng: random.Random, arrives_at: float, timeline: Timeline, sleep: float, accounts: bool
) -> PersonPlan:
    """One person's plan; ``sleep`` is how long a locked phone stays silent, and without
    ``accounts`` (no token secret) everybody is a guest."""
    user_id = None
    if accounts and rng.random() < SIGNED_IN:
        user_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    tabs: list[TabPlan] = []
    for start, end in _stays(rng, arrives_at, timeline):
        tabs.append(_tab(rng, start, end, sleep))
        if user_id and rng.random() < SECOND_TAB:
            opens = rng.uniform(start, end)
            tabs.append(_tab(rng, opens, rng.uniform(opens, end), sleep))
    return PersonPlan(user_id, tabs)


def _leaves_at(rng: random.Random, arrived: float, timeline: Timeline) -> tuple[float, bool]:
    """When a stay that began at ``arrived`` ends, and whether that is early."""
    if rng.random() < LEAVES_EARLY and arrived < timeline.ends_at:
        return rng.uniform(arrived, timeline.ends_at), True
    return rng.uniform(max(arrived, timeline.ends_at), timeline.empties_at), False


def _stays(rng: random.Random, arrives_at: float, timeline: Timeline) -> list[tuple[float, float]]:
    """The person's stays: one, or two when they leave early and come back."""
    leaves, early = _leaves_at(rng, arrives_at, timeline)
    stays = [(arrives_at, leaves)]
    if early and rng.random() < REJOINS:
        length = timeline.ends_at - timeline.starts_at
        back = leaves + rng.uniform(0.02, 0.1) * length
        if back < timeline.ends_at:
            stays.append((back, _leaves_at(rng, back, timeline)[0]))
    return stays


def _tab(rng: random.Random, opens: float, closes: float, sleep: float) -> TabPlan:
    sleeps_at = None
    # Room to lock, sleep, wake and go on for a while before the tab closes.
    latest = closes - 1.5 * sleep
    if rng.random() < SLEEPS and latest > opens:
        sleeps_at = rng.uniform(opens, latest)
    return TabPlan(opens, closes, rng.random() < BEACON, rng.random() >= STARTS_HIDDEN, sleeps_at)


def ping_delay(rng: random.Random, interval: float) -> float:
    return interval * rng.uniform(1 - PING_JITTER, 1 + PING_JITTER)


def stretch(rng: random.Random, interval: float, visible: bool) -> float:
    """How long the tab keeps its current visibility."""
    mean = VISIBLE_MEAN_INTERVALS if visible else HIDDEN_MEAN_INTERVALS
    return rng.expovariate(1 / (mean * interval))
