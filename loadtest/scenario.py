"""The scenario's parameters, from the environment (so ``locust -f`` and
``make loadtest`` read the same ones), and the service settings a viewer must share.

| variable | default | meaning |
|---|---|---|
| ``LOADTEST_USERS`` | 100 | people in the audience (Locust users) |
| ``LOADTEST_MINUTES`` | 10 | length of the run; the webinar ends at 90 % of it |
| ``LOADTEST_SPAWN_PROFILE`` | ``doors`` | ``doors``, ``linear``, ``instant``, ``spike`` |
| ``LOADTEST_RAMP_SECONDS`` | a fifth of the run, at most 180 | arrivals happen within this |
| ``LOADTEST_WEBINAR_ID`` | unset | the webinar; unset: the test creates one (admin API) |
| ``LOADTEST_LEDGER`` | ``loadtest-ledger.json`` | where the ledger is written at test stop |
| ``LOADTEST_SEED`` | unset | seeds the audience model (each Locust process alike) |

From the service's own settings (``watchtime.settings``): ``SESSION_STALE_AFTER_SECONDS``
and ``SWEEPER_INTERVAL_SECONDS`` (how long a locked phone must stay silent to be closed),
``SESSION_HEARTBEAT_INTERVAL_SECONDS`` (until a track answer tells it),
``VIEWER_TOKEN_SECRET`` (signed-in viewers; without it everybody is a guest) and
``ADMIN_TOKEN`` (to create the webinar).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from watchtime.settings import Settings

PROFILES = ("doors", "linear", "instant", "spike")
ENDS_AT = 0.9  # the webinar's end, as a share of the run: then the exodus
EMPTIES_AT = 0.97  # everybody has left by then; the rest of the run is slack
MAX_RAMP_SECONDS = 180.0


class ScenarioError(ValueError):
    pass


@dataclass(frozen=True)
class Scenario:
    users: int = 100
    seconds: float = 600.0
    profile: str = "doors"
    ramp_seconds: float = 120.0
    webinar_id: str | None = None
    ledger: Path = Path("loadtest-ledger.json")
    seed: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Scenario:
        env = os.environ if env is None else env
        seconds = _number(env, "LOADTEST_MINUTES", 10.0) * 60
        profile = env.get("LOADTEST_SPAWN_PROFILE", "doors").strip() or "doors"
        if profile not in PROFILES:
            raise ScenarioError(f"LOADTEST_SPAWN_PROFILE={profile!r}: expected one of {PROFILES}")
        seed = env.get("LOADTEST_SEED", "").strip()
        return cls(
            users=int(_number(env, "LOADTEST_USERS", 100)),
            seconds=seconds,
            profile=profile,
            ramp_seconds=_number(env, "LOADTEST_RAMP_SECONDS", min(MAX_RAMP_SECONDS, seconds / 5)),
            webinar_id=env.get("LOADTEST_WEBINAR_ID", "").strip() or None,
            ledger=Path(env.get("LOADTEST_LEDGER", "").strip() or "loadtest-ledger.json"),
            seed=int(seed) if seed else None,
        )


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ScenarioError(f"{name}={raw!r}: expected a number") from None
    if value <= 0:
        raise ScenarioError(f"{name}={raw!r}: expected a positive number")
    return value


def locked_phone_seconds(settings: Settings) -> float:
    """Silent long enough that the sweeper has closed the session: past the stale
    limit by two sweeps."""
    return settings.stale_after_seconds + 2 * settings.sweeper_interval_seconds
