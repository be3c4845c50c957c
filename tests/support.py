"""Helpers shared by the tests."""

from __future__ import annotations

from redis import Redis

from loadtest.tokens import viewer_token

__all__ = ["snapshot", "viewer_token"]


def snapshot(redis: Redis) -> dict[bytes, bytes | None]:
    """Every key with its serialized value: equal snapshots mean nothing changed."""
    return {key: redis.dump(key) for key in sorted(redis.scan_iter(count=1000))}
