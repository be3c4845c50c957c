"""The scenario's parameters, as Locust options: on the command line, in ``LOCUST_*``
environment variables, in ``locust.conf`` and in the web UI alike; and the service
settings a viewer must share.

Each option is also a variable (``--spawn-profile``: ``LOCUST_SPAWN_PROFILE``):

- ``-u``/``--users`` (Locust's; default 1): people in the audience;
- ``-t``/``--run-time`` (Locust's; default 10m): the run; the webinar ends at 90 % of it;
- ``--spawn-profile`` (``doors``): how arrivals spread: ``doors``, ``linear``, ``instant``,
  ``spike`` (``loadtest.shape``);
- ``--ramp-seconds`` (a fifth of the run, at most 180): arrivals happen within this;
- ``--webinar-id`` (unset: the test creates one through the admin API): the webinar;
- ``--ledger`` (``loadtest-ledger.json``): where the ledger is written at test stop;
- ``--seed`` (unset): seeds the audience model (each Locust process alike).

``-r``/``--spawn-rate`` is not used: the load shape (``loadtest.shape``) spreads the
arrivals by the profile.

From the service's own settings (``watchtime.settings``, environment variables, shared
with the service): ``SESSION_STALE_AFTER_SECONDS`` and ``SWEEPER_INTERVAL_SECONDS`` (how
long a locked phone must stay silent to be closed), ``SESSION_HEARTBEAT_INTERVAL_SECONDS``
(until a track answer tells it), ``VIEWER_TOKEN_SECRET`` (signed-in viewers; without it
everybody is a guest) and ``ADMIN_TOKEN`` (to create the webinar).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchtime.settings import Settings

PROFILES = ("doors", "linear", "instant", "spike")
ENDS_AT = 0.9  # the webinar's end, as a share of the run: then the exodus
EMPTIES_AT = 0.97  # everybody has left by then; the rest of the run is slack
MAX_RAMP_SECONDS = 180.0
DEFAULT_SECONDS = 600.0
DEFAULT_LEDGER = "loadtest-ledger.json"


class ScenarioError(ValueError):
    pass


def add_arguments(parser: Any) -> None:
    """The scenario's own options, for ``events.init_command_line_parser``."""
    group = parser.add_argument_group("Watchtime audience (loadtest/scenario.py)")
    group.add_argument(
        "--spawn-profile",
        choices=PROFILES,
        default="doors",
        env_var="LOCUST_SPAWN_PROFILE",
        help="how arrivals spread over the ramp",
    )
    group.add_argument(
        "--ramp-seconds",
        default="",
        env_var="LOCUST_RAMP_SECONDS",
        help="arrivals happen within this (default: a fifth of the run, at most 180)",
    )
    group.add_argument(
        "--webinar-id",
        default="",
        env_var="LOCUST_WEBINAR_ID",
        help="the webinar (default: the test creates one with ADMIN_TOKEN)",
    )
    group.add_argument(
        "--ledger",
        default=DEFAULT_LEDGER,
        env_var="LOCUST_LEDGER",
        help="where the ledger of what each viewer watched is written",
    )
    group.add_argument(
        "--seed",
        default="",
        env_var="LOCUST_SEED",
        help="seeds the audience model: a repeatable audience",
    )


@dataclass(frozen=True)
class Scenario:
    users: int = 100
    seconds: float = DEFAULT_SECONDS
    profile: str = "doors"
    ramp_seconds: float = 120.0
    webinar_id: str | None = None
    ledger: Path = Path(DEFAULT_LEDGER)
    seed: int | None = None

    @classmethod
    def from_options(cls, options: Any) -> Scenario:
        """From Locust's parsed options (the web UI hands every value over as text)."""
        seconds = float(options.run_time or DEFAULT_SECONDS)
        profile = str(options.spawn_profile).strip() or "doors"
        if profile not in PROFILES:
            raise ScenarioError(f"--spawn-profile={profile!r}: expected one of {PROFILES}")
        seed = str(options.seed or "").strip()
        return cls(
            users=int(options.num_users or 1),
            seconds=seconds,
            profile=profile,
            ramp_seconds=_seconds(options.ramp_seconds, min(MAX_RAMP_SECONDS, seconds / 5)),
            webinar_id=str(options.webinar_id or "").strip() or None,
            ledger=Path(str(options.ledger or "").strip() or DEFAULT_LEDGER),
            seed=int(seed) if seed else None,
        )


def _seconds(raw: object, default: float) -> float:
    text = str(raw or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ScenarioError(f"--ramp-seconds={text!r}: expected a number") from None
    if value <= 0:
        raise ScenarioError(f"--ramp-seconds={text!r}: expected a positive number")
    return value


def locked_phone_seconds(settings: Settings) -> float:
    """Silent long enough that the sweeper has closed the session: past the stale
    limit by two sweeps."""
    return settings.stale_after_seconds + 2 * settings.sweeper_interval_seconds
