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
It reads Locust's own ``--users`` and ``--run-time`` (``use_common_options``) and the
scenario's ``--spawn-profile`` and ``--ramp-seconds`` (``loadtest.scenario``).
"""

from __future__ import annotations

import math

from locust import LoadTestShape

from loadtest.arrivals import arrival_rate, arrived
from loadtest.scenario import Scenario


class DoorsOpen(LoadTestShape):
    use_common_options = True  # --users and --run-time are the audience and its length

    def __init__(self) -> None:
        super().__init__()
        self.scenario = Scenario()

    def reset_time(self) -> None:
        """At every start: the options as the command line or the web UI left them."""
        super().reset_time()
        assert self.runner is not None  # Locust sets it before starting a shape
        self.scenario = Scenario.from_options(self.runner.environment.parsed_options)

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
