"""Settings: read from the environment here and nowhere else, validated at start."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from watchtime import keys

T = TypeVar("T")

# Requests in flight per gateway worker past which it refuses at once (R-EXT-2): what one
# worker serves in 25 ms at its measured saturation, 20,000 pings/s (BENCHMARKS.md).
ADMISSION_MAX_IN_FLIGHT = 500
ADMISSION_RETRY_AFTER_SECONDS = 2
# A Postgres that is slow, not down: a command (flusher batch, admin call) that takes
# longer fails, and the flusher backs off; a report that takes longer answers 503.
POSTGRES_COMMAND_TIMEOUT_SECONDS = 30.0
REPORT_TIMEOUT_SECONDS = 30.0
# Clock skew tolerated on a viewer token's exp and nbf between its issuer and us (R-EXT-3).
TOKEN_LEEWAY_SECONDS = 30.0


class SettingsError(ValueError):
    """A variable holds a value the service cannot run with; the message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    redis_url: str | None = None
    redis_cluster: bool = False
    database_url: str | None = None
    data_dir: Path = Path(keys.DATA_DIR)
    host: str = keys.HOST
    port: int = keys.PORT
    gateway_workers: int = 1
    metrics_dir: Path | None = None  # prometheus_client's multiprocess folder
    heartbeat_interval_seconds: float = keys.HEARTBEAT_INTERVAL_SECONDS
    delta_cap_multiplier: float = keys.DELTA_CAP_MULTIPLIER
    stale_after_seconds: float = keys.STALE_AFTER_SECONDS
    sweeper_interval_seconds: float = keys.SWEEPER_INTERVAL_SECONDS
    retention_days: int = keys.RETENTION_DAYS
    min_ping_interval_seconds: float = keys.MIN_PING_INTERVAL_SECONDS
    max_body_bytes: int = keys.MAX_BODY_BYTES
    flush_interval_seconds: float = keys.FLUSH_INTERVAL_SECONDS
    flush_batch_size: int = keys.FLUSH_BATCH_SIZE
    snapshot_interval_seconds: float = keys.SNAPSHOT_INTERVAL_SECONDS
    retention_interval_seconds: float = keys.RETENTION_INTERVAL_SECONDS
    lease_ttl_seconds: float = keys.LEASE_TTL_SECONDS
    flusher_metrics_port: int = keys.FLUSHER_METRICS_PORT
    sweeper_metrics_port: int = keys.SWEEPER_METRICS_PORT
    tombstone_ttl_seconds: int = keys.TOMBSTONE_TTL_SECONDS
    admission_max_in_flight: int = ADMISSION_MAX_IN_FLIGHT
    admission_retry_after_seconds: int = ADMISSION_RETRY_AFTER_SECONDS
    postgres_command_timeout_seconds: float = POSTGRES_COMMAND_TIMEOUT_SECONDS
    report_timeout_seconds: float = REPORT_TIMEOUT_SECONDS
    viewer_token_secret: str = ""
    viewer_token_require_exp: bool = True
    viewer_token_leeway_seconds: float = TOKEN_LEEWAY_SECONDS
    allow_guests: bool = True
    admin_token: str = ""
    cors_allow_origins: tuple[str, ...] = ()
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one object per line
    access_log: bool = False  # a line per gateway request, pings included
    forwarded_allow_ips: str = "127.0.0.1"  # proxies whose X-Forwarded-For/-Proto are believed

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
        reader = _Reader(os.environ if env is None else env)
        return cls(
            redis_url=reader.text("REDIS_URL") or None,
            redis_cluster=reader.flag("REDIS_CLUSTER", False),
            database_url=reader.text("DATABASE_URL") or None,
            data_dir=Path(reader.text("DATA_DIR", keys.DATA_DIR)),
            host=reader.text("HOST", keys.HOST),
            port=reader.number("PORT", int, keys.PORT, low=1, high=65535),
            gateway_workers=reader.number("GATEWAY_WORKERS", int, os.cpu_count() or 1, low=1),
            metrics_dir=Path(reader.text("PROMETHEUS_MULTIPROC_DIR"))
            if reader.text("PROMETHEUS_MULTIPROC_DIR")
            else None,
            heartbeat_interval_seconds=reader.seconds(
                "SESSION_HEARTBEAT_INTERVAL_SECONDS", keys.HEARTBEAT_INTERVAL_SECONDS
            ),
            delta_cap_multiplier=reader.number(
                "SESSION_DELTA_CAP_MULTIPLIER", float, keys.DELTA_CAP_MULTIPLIER, low=1
            ),
            stale_after_seconds=reader.seconds(
                "SESSION_STALE_AFTER_SECONDS", keys.STALE_AFTER_SECONDS
            ),
            sweeper_interval_seconds=reader.seconds(
                "SWEEPER_INTERVAL_SECONDS", keys.SWEEPER_INTERVAL_SECONDS
            ),
            retention_days=reader.number("SESSION_RETENTION_DAYS", int, keys.RETENTION_DAYS, low=1),
            min_ping_interval_seconds=reader.number(
                "MIN_PING_INTERVAL_SECONDS", float, keys.MIN_PING_INTERVAL_SECONDS, low=0
            ),
            max_body_bytes=reader.number("MAX_BODY_BYTES", int, keys.MAX_BODY_BYTES, low=256),
            flush_interval_seconds=reader.seconds(
                "FLUSH_INTERVAL_SECONDS", keys.FLUSH_INTERVAL_SECONDS
            ),
            flush_batch_size=reader.number("FLUSH_BATCH_SIZE", int, keys.FLUSH_BATCH_SIZE, low=1),
            snapshot_interval_seconds=reader.seconds(
                "SNAPSHOT_INTERVAL_SECONDS", keys.SNAPSHOT_INTERVAL_SECONDS
            ),
            retention_interval_seconds=reader.seconds(
                "RETENTION_INTERVAL_SECONDS", keys.RETENTION_INTERVAL_SECONDS
            ),
            lease_ttl_seconds=reader.seconds("LEASE_TTL_SECONDS", keys.LEASE_TTL_SECONDS),
            flusher_metrics_port=reader.number(
                "FLUSHER_METRICS_PORT", int, keys.FLUSHER_METRICS_PORT, low=0, high=65535
            ),
            sweeper_metrics_port=reader.number(
                "SWEEPER_METRICS_PORT", int, keys.SWEEPER_METRICS_PORT, low=0, high=65535
            ),
            tombstone_ttl_seconds=reader.number(
                "SESSION_TOMBSTONE_TTL_SECONDS", int, keys.TOMBSTONE_TTL_SECONDS, low=60
            ),
            admission_max_in_flight=reader.number(
                "ADMISSION_MAX_IN_FLIGHT", int, ADMISSION_MAX_IN_FLIGHT, low=1
            ),
            admission_retry_after_seconds=reader.number(
                "ADMISSION_RETRY_AFTER_SECONDS", int, ADMISSION_RETRY_AFTER_SECONDS, low=1, high=300
            ),
            postgres_command_timeout_seconds=reader.number(
                "POSTGRES_COMMAND_TIMEOUT_SECONDS",
                float,
                POSTGRES_COMMAND_TIMEOUT_SECONDS,
                low=0.1,
                high=3600,
            ),
            report_timeout_seconds=reader.number(
                "REPORT_TIMEOUT_SECONDS", float, REPORT_TIMEOUT_SECONDS, low=0.1, high=3600
            ),
            viewer_token_secret=reader.text("VIEWER_TOKEN_SECRET"),
            viewer_token_require_exp=reader.flag("VIEWER_TOKEN_REQUIRE_EXP", True),
            viewer_token_leeway_seconds=reader.number(
                "VIEWER_TOKEN_LEEWAY_SECONDS", float, TOKEN_LEEWAY_SECONDS, low=0, high=300
            ),
            allow_guests=reader.flag("ALLOW_GUESTS", True),
            admin_token=reader.text("ADMIN_TOKEN"),
            cors_allow_origins=reader.csv("CORS_ALLOW_ORIGINS"),
            log_level=reader.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            log_format=reader.choice("LOG_FORMAT", "TEXT", ("TEXT", "JSON")).lower(),
            access_log=reader.flag("ACCESS_LOG", False),
            forwarded_allow_ips=reader.text("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        )


class _Reader:
    """Parses one variable at a time; every failure names the variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str, default: str = "") -> str:
        return self.env.get(name, "").strip() or default

    def csv(self, name: str) -> tuple[str, ...]:
        return tuple(item.strip() for item in self.text(name).split(",") if item.strip())

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name).lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name}={raw!r}: expected true or false")

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        raw = self.text(name, default).upper()
        if raw not in allowed:
            raise SettingsError(f"{name}={raw!r}: expected one of {', '.join(allowed)}")
        return raw

    def seconds(self, name: str, default: float) -> float:
        return self.number(name, float, default, low=0.001)

    def number(
        self,
        name: str,
        kind: Callable[[str], T],
        default: T,
        low: float | None = None,
        high: float | None = None,
    ) -> T:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = kind(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r}: expected a number") from None
        if (low is not None and value < low) or (high is not None and value > high):  # type: ignore[operator]
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise SettingsError(f"{name}={raw!r}: expected a number {bounds}")
        return value


def load_or_exit(program: str) -> Settings:
    """Settings for a console command: a bad value stops it with one line."""
    try:
        return Settings.from_env()
    except SettingsError as e:
        raise SystemExit(f"{program}: invalid setting {e}") from None
