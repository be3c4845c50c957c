"""Settings: one line each (variable, default, bounds), read from the environment here
and nowhere else, validated at start."""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class SettingsError(ValueError):
    """A variable holds a value the service cannot run with; the message names it."""


def setting(
    variable: str,
    default: Any,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] = (),
) -> Any:
    """A field read from ``variable``; numbers are checked against ``low``..``high``, text
    against ``choices`` (case aside). Its type is the field's annotation."""
    bounds = {"variable": variable, "low": low, "high": high, "choices": choices}
    return dataclasses.field(default=default, metadata=bounds)


def seconds(variable: str, default: float, high: float | None = None) -> Any:
    """A duration: zero would make a loop spin or a wait end at once."""
    return setting(variable, default, low=0.001, high=high)


@dataclass(frozen=True, slots=True)
class Settings:
    # A table, one setting a line, reads better than the formatter's wrapping of long ones.
    # fmt: off
    redis_url: str | None = setting("REDIS_URL", None)
    redis_cluster: bool = setting("REDIS_CLUSTER", False)
    # A Redis silent this long fails the calls waiting on it (503 for a viewer): keep it
    # below clients' own timeouts, so that a stalled Redis is an answer, not a hang.
    redis_timeout_seconds: float = setting("REDIS_TIMEOUT_SECONDS", 5.0, low=0.1, high=60)
    database_url: str | None = setting("DATABASE_URL", None)
    data_dir: Path = setting("DATA_DIR", Path(".data"))
    host: str = setting("HOST", "127.0.0.1")
    port: int = setting("PORT", 8000, low=1, high=65535)
    gateway_workers: int = setting("GATEWAY_WORKERS", os.cpu_count() or 1, low=1)
    # prometheus_client's multiprocess folder
    metrics_dir: Path | None = setting("PROMETHEUS_MULTIPROC_DIR", None)
    heartbeat_interval_seconds: float = seconds("SESSION_HEARTBEAT_INTERVAL_SECONDS", 120.0)
    delta_cap_multiplier: float = setting("SESSION_DELTA_CAP_MULTIPLIER", 3.0, low=1)
    stale_after_seconds: float = seconds("SESSION_STALE_AFTER_SECONDS", 300.0)
    sweeper_interval_seconds: float = seconds("SWEEPER_INTERVAL_SECONDS", 600.0)
    retention_days: int = setting("SESSION_RETENTION_DAYS", 90, low=1)
    min_ping_interval_seconds: float = setting("MIN_PING_INTERVAL_SECONDS", 1.0, low=0)
    max_body_bytes: int = setting("MAX_BODY_BYTES", 4096, low=256)
    flush_interval_seconds: float = seconds("FLUSH_INTERVAL_SECONDS", 2.0)
    flush_batch_size: int = setting("FLUSH_BATCH_SIZE", 5000, low=1)
    snapshot_interval_seconds: float = seconds("SNAPSHOT_INTERVAL_SECONDS", 60.0)
    retention_interval_seconds: float = seconds("RETENTION_INTERVAL_SECONDS", 3600.0)
    # A replica's claim on one webinar's flush or sweep; if the holder dies, the webinar
    # waits this long for another replica. Overlap after expiry is harmless, only wasteful.
    lease_ttl_seconds: float = seconds("LEASE_TTL_SECONDS", 10.0)
    flusher_metrics_port: int = setting("FLUSHER_METRICS_PORT", 9101, low=0, high=65535)
    sweeper_metrics_port: int = setting("SWEEPER_METRICS_PORT", 9102, low=0, high=65535)
    # A closed session that is safe in Postgres shrinks to a tombstone (owner and close
    # reason) that keeps its id from being reused for this long.
    tombstone_ttl_seconds: int = setting("SESSION_TOMBSTONE_TTL_SECONDS", 7 * 86400, low=60)
    # Requests in flight per gateway worker past which it refuses at once (R-EXT-2): what one
    # worker serves in 25 ms at its measured saturation, 20,000 pings/s (BENCHMARKS.md).
    admission_max_in_flight: int = setting("ADMISSION_MAX_IN_FLIGHT", 500, low=1)
    admission_retry_after_seconds: int = setting("ADMISSION_RETRY_AFTER_SECONDS", 2, 1, 300)
    # A Postgres that is slow, not down: a command (flusher batch, admin call) that takes
    # longer fails, and the flusher backs off; a report that takes longer answers 503.
    postgres_command_timeout_seconds: float = setting(
        "POSTGRES_COMMAND_TIMEOUT_SECONDS", 30.0, low=0.1, high=3600)
    report_timeout_seconds: float = setting("REPORT_TIMEOUT_SECONDS", 30.0, low=0.1, high=3600)
    viewer_token_secret: str = setting("VIEWER_TOKEN_SECRET", "")
    viewer_token_require_exp: bool = setting("VIEWER_TOKEN_REQUIRE_EXP", True)
    # Clock skew tolerated on a viewer token's exp and nbf between its issuer and us (R-EXT-3).
    viewer_token_leeway_seconds: float = setting("VIEWER_TOKEN_LEEWAY_SECONDS", 30.0, 0, 300)
    allow_guests: bool = setting("ALLOW_GUESTS", True)
    admin_token: str = setting("ADMIN_TOKEN", "")
    cors_allow_origins: tuple[str, ...] = setting("CORS_ALLOW_ORIGINS", ())
    log_level: str = setting("LOG_LEVEL", "INFO", choices=LEVELS)
    # json: one object per line
    log_format: str = setting("LOG_FORMAT", "text", choices=("text", "json"))
    # a line per gateway request, pings included
    access_log: bool = setting("ACCESS_LOG", False)
    # the proxies whose X-Forwarded-For and X-Forwarded-Proto are believed
    forwarded_allow_ips: str = setting("FORWARDED_ALLOW_IPS", "127.0.0.1")
    # fmt: on

    def __post_init__(self) -> None:
        if self.stale_after_seconds < self.heartbeat_interval_seconds:
            raise SettingsError(
                f"SESSION_STALE_AFTER_SECONDS={self.stale_after_seconds:g}: expected at least "
                f"SESSION_HEARTBEAT_INTERVAL_SECONDS={self.heartbeat_interval_seconds:g}, "
                "or every session would time out between two heartbeats"
            )

    @property
    def delta_cap_ms(self) -> int:
        """No single heartbeat interval credits more than this (docs/architecture.md, glossary)."""
        return round(self.heartbeat_interval_seconds * self.delta_cap_multiplier * 1000)

    @property
    def stale_after_ms(self) -> int:
        return round(self.stale_after_seconds * 1000)

    @property
    def lease_ttl_ms(self) -> int:
        return round(self.lease_ttl_seconds * 1000)

    @property
    def min_ping_interval_ms(self) -> int:
        return round(self.min_ping_interval_seconds * 1000)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Every field whose variable is set and not blank, parsed and checked; the
        others keep their defaults."""
        env = os.environ if env is None else env
        types = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(field.metadata["variable"], "").strip()
            if raw:
                values[field.name] = _parse(raw, types[field.name], field.metadata)
        return cls(**values)


def _parse(raw: str, kind: Any, meta: Mapping[str, Any]) -> Any:
    name = meta["variable"]
    parse = PARSERS[_concrete(kind)]
    try:
        value = parse(raw)
    except ValueError as e:
        raise SettingsError(f"{name}={raw!r}: expected {e}") from None
    if meta["choices"]:
        return _choice(name, raw, meta["choices"])
    low, high = meta["low"], meta["high"]
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise SettingsError(f"{name}={raw!r}: expected a number {bounds}")
    return value


def _concrete(kind: Any) -> Any:
    """``X | None`` is read as ``X``: a blank variable is the default, None."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return args[0] if typing.get_origin(kind) is not tuple and args else kind


def _choice(name: str, raw: str, choices: tuple[str, ...]) -> str:
    for choice in choices:
        if raw.casefold() == choice.casefold():
            return choice
    allowed = ", ".join(choice.upper() for choice in choices)
    raise SettingsError(f"{name}={raw.upper()!r}: expected one of {allowed}")


def _number(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            return kind(raw)
        except ValueError:
            raise ValueError("a number") from None

    return parse


def _flag(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("true or false")


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


PARSERS: dict[Any, Callable[[str], Any]] = {
    str: str,
    Path: Path,
    bool: _flag,
    int: _number(int),
    float: _number(float),
    tuple[str, ...]: _csv,
}


def load_or_exit(program: str) -> Settings:
    """Settings for a console command: a bad value stops it with one line."""
    try:
        return Settings.from_env()
    except SettingsError as e:
        raise SystemExit(f"{program}: invalid setting {e}") from None
