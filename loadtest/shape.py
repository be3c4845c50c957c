"""When people arrive: a Locust load shape over the whole run.

Each Locust user is one person of the audience; once spawned they stay counted until
the end, whether they are still watching or have left (their plan says when), so the
user count is "people who have arrived so far". The shape only spreads arrivals:

- ``doors`` (default): the doors-open spike. Arrivals over the ramp follow
  ``1 - (1 - x)**3`` of the audience at ramp fraction ``x``: about a quarter of the
  people in the first tenth of the ramp, half by its first fifth, the last ones
  trickling in late;
- ``linear``: evenly over the ramp;
- ``instant``: everybody at once (as fast as Locust spawns them);
- ``spike``: a third of the people over the first tenth of the ramp, then the other two
  thirds at once at its middle: the load triples in a moment (size the third at the
  service's capacity for a 3x spike).

After the ramp the count holds; the shape ends the test when the run's time is up.
Parameters come from the environment (``loadtest.scenario``): ``LOADTEST_USERS``,
``LOADTEST_SPAWN_PROFILE``, ``LOADTEST_RAMP_SECONDS``, ``LOADTEST_MINUTES``.
"""

from __future__ import annotations

import math

from locust import LoadTestShape

from loadtest.arrivals import arrival_rate, arrived
from loadtest.scenario import Scenario


class DoorsOpen(LoadTestShape):
    def __init__(self) -> None:
        super().__init__()
        self.scenario = Scenario.from_env()

    def tick(self) -> tuple[int, float] | None:
        s = self.scenario
        run_time = self.get_run_time()
        if run_time > s.seconds:
            return None
        # Ask for the count one second ahead, so Locust's spawning keeps pace.
        fraction = (run_time + 1) / s.ramp_seconds
        target = math.ceil(s.users * arrived(s.profile, fraction))
        rate = arrival_rate(s.profile, run_time / s.ramp_seconds, s.users, s.ramp_seconds)
        return target, max(1.0, rate)
