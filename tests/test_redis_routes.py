"""The adapter over redis-py's internals: what it learns from a client must match where
redis-py itself connects, so that an upgrade that moved them fails here."""

from __future__ import annotations

import ssl
from uuid import uuid4

import pytest
from redis.asyncio import Redis, RedisCluster
from support import both_topologies

from watchtime import keys
from watchtime.client import RedisClient
from watchtime.pipe import Address
from watchtime.redis_routes import ClusterRoutes, ServerRoute, routes, server_name

pytestmark = pytest.mark.anyio


def test_a_server_url_gives_its_host_login_database_and_tls() -> None:
    route = routes(Redis.from_url("rediss://ann:secret@cache.example:6380/2"))
    assert isinstance(route, ServerRoute)
    address = route.address(route.node(b"any"))
    expected = Address("cache.example", 6380, None, None, "ann", "secret", 2)
    assert address._replace(tls=None) == expected
    assert isinstance(address.tls, ssl.SSLContext)


def test_a_socket_url_gives_its_path_and_no_tls() -> None:
    redis = Redis.from_url("unix:///run/redis.sock?db=1")
    address = routes(redis).address("")
    assert (address.path, address.tls, address.db) == ("/run/redis.sock", None, 1)
    assert server_name(redis) == "/run/redis.sock"
    assert server_name(Redis.from_url("redis://cache.example:6380")) == "cache.example:6380"


@both_topologies
async def test_each_key_routes_to_the_node_redis_py_sends_it_to(redis: RedisClient) -> None:
    route = routes(redis)
    assert isinstance(route, ClusterRoutes) == isinstance(redis, RedisCluster)
    await route.refresh()  # the slot map read again, the routes the same
    for _ in range(8):
        key = keys.meta(uuid4())
        address = route.address(route.node(key))
        if isinstance(redis, RedisCluster):
            owner = redis.get_node_from_key(key)
            assert owner is not None
            assert (address.host, address.port) == (owner.host, owner.port)
        else:
            where = redis.connection_pool.connection_kwargs
            assert (address.host, address.port) == (where["host"], where["port"])
