"""Where redis-py would send a command: the one module that reads redis-py's internals.

The batcher (``watchtime.batching``) writes to Redis on connections of its own, so it
must learn what redis-py learnt from REDIS_URL (host, port or socket, TLS, login,
database) and, on a cluster, which primary owns a key and how to read the slot map
again. redis-py has no public API for these; pyproject.toml bounds redis below its next
major version, and tests/test_redis_routes.py fails if an upgrade moved them.
"""

from __future__ import annotations

from typing import Any, Protocol

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.connection import SSLConnection

from watchtime.client import RedisClient
from watchtime.pipe import Address


class Routes(Protocol):
    def node(self, key: Any) -> str:
        """The name of the node that owns ``key``."""

    def address(self, name: str) -> Address:
        """Where the named node listens, and how to log in."""

    async def refresh(self) -> None:
        """Learns the topology again after a call met a moved slot or a lost node."""

    def primaries(self) -> list[str]:
        """The names of every node that owns keys."""


def routes(redis: RedisClient) -> Routes:
    return ClusterRoutes(redis) if isinstance(redis, RedisCluster) else ServerRoute(redis)


class ServerRoute:
    """One Redis server: every call to the same node."""

    def __init__(self, redis: Redis) -> None:
        pool = redis.connection_pool
        self.server = _address(pool.connection_class, pool.connection_kwargs)

    def node(self, key: Any) -> str:
        return ""

    def address(self, name: str) -> Address:
        return self.server

    async def refresh(self) -> None:
        """Nothing to learn: a lost connection is replaced by the next call."""

    def primaries(self) -> list[str]:
        return [""]


class ClusterRoutes:
    """A Redis Cluster: each call to the primary that owns its keys' slot."""

    def __init__(self, cluster: RedisCluster) -> None:
        self.cluster = cluster

    def node(self, key: Any) -> str:
        node = self.cluster.get_node_from_key(key)  # the first key names the slot
        assert node is not None  # a primary always owns a covered slot
        return str(node.name)

    def address(self, name: str) -> Address:
        node = self.cluster.get_node(node_name=name)
        assert node is not None  # named by the slot map a moment ago
        return _address(
            node.connection_class, node.connection_kwargs | {"host": node.host, "port": node.port}
        )

    async def refresh(self) -> None:
        """A failover or a resharding moved slots: read the cluster's map again."""
        await self.cluster.nodes_manager.initialize()

    def primaries(self) -> list[str]:
        return [str(node.name) for node in self.cluster.get_primaries()]


def server_name(redis: Redis) -> str:
    """One server's name in metrics labels: its socket, or host:port."""
    where = redis.connection_pool.connection_kwargs
    return str(where.get("path") or f"{where.get('host')}:{where.get('port')}")


def _address(connection_class: type, kwargs: dict[str, Any]) -> Address:
    """Where redis-py would connect, TLS settings (``rediss://``) included: a connection
    object is built, not opened, for the SSL context redis-py would use."""
    tls = None
    if issubclass(connection_class, SSLConnection):
        tls = connection_class(**kwargs).ssl_context.get()
    get = kwargs.get
    return Address(
        get("host", ""),
        get("port", 0),
        get("path"),
        tls,
        get("username"),
        get("password"),
        get("db") or 0,
    )
