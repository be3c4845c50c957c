"""Fault drills under a running load, on one Redis server and on a 3-primary cluster.

Simulated viewers ping a real gateway (two workers) while the flusher and the sweeper
run as their own processes; then, one after the other: the flusher and the sweeper
are killed -9 and restarted, a gateway worker is killed, Redis is killed -9 and
restarted from its append-only file, Postgres is restarted. Every viewer keeps a
ledger of what the gateway acknowledged; at the end each session's row in Postgres
must hold the seconds those acknowledgements allow.

Bounds: a request's server time lies between its sending and its answer, so the
ledger gives each session a lower and an upper bound. A request retried after a
failure may have landed at its first attempt: the retry window is added as slack.
Nothing else is allowed: with ``appendonly yes`` Redis writes each change to its
append-only file (the kernel's cache) before the reply leaves, so a killed Redis
process loses nothing it acknowledged; ``appendfsync everysec`` bounds only what a
crash of the whole machine can lose (the last second).

A second drill kills the primary that owns the webinar on a cluster with replicas: the
replica takes over, and what it had not yet received is allowed for (one capped
interval per viewer at most).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import httpx2
import pytest
from redis import Redis as SyncRedis
from redis.cluster import RedisCluster as SyncRedisCluster
from support import running

from watchtime import keys
from watchtime.embedded import PostgresServer, RedisClusterServer, RedisServer

pytestmark = pytest.mark.anyio

INTERVAL, CAP = 1.0, 3.0  # s: the heartbeat and the Δt cap (multiplier 3)
ADMIN = {"Authorization": "Bearer drill-admin-token"}
VIEWERS = 16
RECOVERY_SECONDS = 60  # a request still refused after this fails the drill


@dataclass
class Ack:
    sent: float  # first attempt, wall clock s
    answered: float
    visible: bool


@dataclass
class Viewer:
    session_id: str
    rng: random.Random
    acks: list[Ack] = field(default_factory=list)
    slack: float = 0.0
    visible: bool = True

    def bounds(self) -> tuple[float, float]:
        """Watched seconds the acknowledged requests allow, without slack."""
        low = high = 0.0
        for before, after in zip(self.acks, self.acks[1:], strict=False):
            if before.visible:
                low += min(max(after.sent - before.answered, 0.0), CAP)
                high += min(after.answered - before.sent, CAP)
        return low, high


async def send(
    client: httpx2.AsyncClient, viewer: Viewer, path: str, body: dict[str, object]
) -> None:
    """Until acknowledged: 2xx, or 429 (an earlier attempt of this very request landed)."""
    first = time.time()
    while True:
        try:
            answer = await client.post(path, json=body, timeout=2)
            if answer.status_code in (200, 204, 429):
                break
            assert answer.status_code == 503, answer.text
        except httpx2.TransportError:
            pass
        assert time.time() - first < RECOVERY_SECONDS, (
            f"{path} unanswered: the service never recovered"
        )
        await asyncio.sleep(0.1)
    done = time.time()
    if answer.status_code == 429 or done - first > 0.5:
        viewer.slack += done - first
    viewer.acks.append(Ack(first, done, viewer.visible))


async def watch(
    client: httpx2.AsyncClient, webinar: str, viewer: Viewer, stop: asyncio.Event
) -> None:
    base = f"/api/webinars/{webinar}"
    await send(client, viewer, f"{base}/access/track", {"session_id": viewer.session_id})
    while not stop.is_set():
        await asyncio.sleep(INTERVAL * viewer.rng.uniform(0.8, 1.0))
        if viewer.rng.random() < 0.2:
            viewer.visible = not viewer.visible
        body = {"session_id": viewer.session_id, "view_state": {"is_visible": viewer.visible}}
        await send(client, viewer, f"{base}/presence/ping", body)
    await send(client, viewer, f"{base}/access/exit", {"session_id": viewer.session_id})


class Backend:
    """The Redis of one drill: one server or a cluster, killed and restarted at will."""

    def __init__(self, folder: Path, cluster: bool) -> None:
        self.cluster = RedisClusterServer(folder) if cluster else None
        self.servers = self.cluster.nodes if self.cluster else [RedisServer(folder)]

    @property
    def env(self) -> dict[str, str]:
        return {"REDIS_URL": self.servers[0].url, "REDIS_CLUSTER": str(bool(self.cluster))}

    def start(self) -> None:
        (self.cluster or self.servers[0]).start()

    def crash_and_restart(self) -> None:
        """Comes back without the scripts, as Redis 7 does (6.2 replays SCRIPT LOAD from
        its AOF), so the gateway, which loaded them at its start, meets NOSCRIPT."""
        for server in self.servers:
            server.kill()
        self.start()
        for server in self.servers:
            with SyncRedis.from_url(server.url) as node:
                node.script_flush()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


class Fleet:
    """Flusher and sweeper as their own processes, to be killed -9 and started again."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.processes = {name: self._spawn(name) for name in ("flusher", "sweeper")}

    def _spawn(self, name: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", name], env=self.env)

    def crash_and_restart(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait()
        self.processes[name] = self._spawn(name)

    def stop(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0  # a graceful stop after all that


@pytest.fixture(params=["standalone", "cluster"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    backend = Backend(tmp_path / "redis", cluster=request.param == "cluster")
    backend.start()
    yield backend
    backend.stop()


async def test_faults_under_load_lose_no_acknowledged_second(
    backend: Backend, postgres_server: PostgresServer
):
    env = drill_env(backend.env, postgres_server)
    webinar = str(uuid4())
    with running("gateway", env) as (base, gateway):
        schedule(base, webinar)
        fleet = Fleet(env)
        faults = [
            lambda: fleet.crash_and_restart("flusher"),
            lambda: fleet.crash_and_restart("sweeper"),
            lambda: kill_a_worker(gateway),
            backend.crash_and_restart,
            lambda: (postgres_server.stop(), time.sleep(1), postgres_server.start()),
        ]
        viewers = await under_load(base, webinar, faults)
        await closed_in_postgres(postgres_server.url, webinar, len(viewers))
        fleet.stop()
        # The restarted Redis had forgotten the scripts: the gateway loaded them again.
        assert noscript_reloads(httpx2.get(f"{base}/metrics").text) >= 1
    await compare(postgres_server.url, webinar, viewers)


async def test_a_primary_failover_under_load(tmp_path: Path, postgres_server: PostgresServer):
    """The primary that owns the webinar is killed -9; its replica takes over. Redis
    replicates asynchronously, so what the primary acknowledged in its last moments may
    not have reached the replica: at most one request per viewer (each sends one a
    second), which moves that viewer's total by at most one capped interval. Nothing
    else: every session reaches Postgres once, every viewer within one cap of its ledger."""
    cluster = RedisClusterServer(tmp_path / "redis", replicas=1)
    cluster.start()
    try:
        env = drill_env({"REDIS_URL": cluster.url, "REDIS_CLUSTER": "true"}, postgres_server)
        webinar = str(uuid4())
        primary = owner(cluster, webinar)
        with running("gateway", env) as (base, _):
            schedule(base, webinar)
            fleet = Fleet(env)
            viewers = await under_load(base, webinar, [primary.kill])
            await closed_in_postgres(postgres_server.url, webinar, len(viewers))
            fleet.stop()
        survivor = next(node for node in cluster.nodes if node is not primary)
        assert owner(cluster, webinar, ask=survivor).port != primary.port  # a replica took over
        await compare(postgres_server.url, webinar, viewers, tolerance=CAP)
    finally:
        cluster.stop()


def drill_env(redis: dict[str, str], postgres_server: PostgresServer) -> dict[str, str]:
    return (
        os.environ
        | redis
        | {
            "DATABASE_URL": postgres_server.url,
            "ADMIN_TOKEN": "drill-admin-token",
            "SESSION_HEARTBEAT_INTERVAL_SECONDS": str(INTERVAL),
            "SESSION_DELTA_CAP_MULTIPLIER": "3",
            "SESSION_STALE_AFTER_SECONDS": "30",
            "SWEEPER_INTERVAL_SECONDS": "1",
            "MIN_PING_INTERVAL_SECONDS": "0.2",
            "FLUSH_INTERVAL_SECONDS": "0.2",
            "LEASE_TTL_SECONDS": "1",
            "SNAPSHOT_INTERVAL_SECONDS": "1",
            "GATEWAY_WORKERS": "2",
            "FLUSHER_METRICS_PORT": "0",
            "SWEEPER_METRICS_PORT": "0",
            "LOG_LEVEL": "ERROR",
        }
    )


def schedule(base: str, webinar: str) -> None:
    body = {"webinar_start_time": "2026-01-01T00:00:00Z"}
    assert httpx2.put(f"{base}/api/webinars/{webinar}", json=body, headers=ADMIN).status_code == 200


def owner(cluster: RedisClusterServer, webinar: str, ask: RedisServer | None = None) -> RedisServer:
    """The node that holds the webinar's slot now, as ``ask`` (a node alive) sees it."""
    client = SyncRedisCluster.from_url((ask or cluster.nodes[0]).url)
    try:
        node = client.get_node_from_key(keys.meta(UUID(webinar)))
    finally:
        client.close()
    return next(server for server in cluster.nodes if server.port == node.port)


def noscript_reloads(metrics: str) -> float:
    found = re.search(r"^watchtime_redis_noscript_total ([0-9.e+]+)$", metrics, re.M)
    return float(found.group(1)) if found else 0.0


def kill_a_worker(gateway: subprocess.Popen[bytes]) -> None:
    """uvicorn starts another; the other worker serves meanwhile."""
    workers = Path(f"/proc/{gateway.pid}/task/{gateway.pid}/children").read_text().split()
    os.kill(int(workers[0]), signal.SIGKILL)


async def under_load(base: str, webinar: str, faults: list[Callable[[], object]]) -> list[Viewer]:
    stop = asyncio.Event()
    viewers = [Viewer(f"drill-{i}", random.Random(i)) for i in range(VIEWERS)]
    async with httpx2.AsyncClient(base_url=base) as client:
        load = asyncio.gather(*(watch(client, webinar, v, stop) for v in viewers))
        for fault in faults:
            await asyncio.sleep(2.5)
            await asyncio.to_thread(fault)  # viewers go on pinging meanwhile
        await asyncio.sleep(2.5)
        stop.set()
        await load
    return viewers


async def closed_in_postgres(database_url: str, webinar: str, sessions: int) -> None:
    """Waits for the flusher to write every exit: an exit is a session's last change."""
    for _ in range(600):  # a loaded machine may take a while to catch up
        conn = await asyncpg.connect(database_url)
        try:
            closed = await conn.fetchval(
                "SELECT count(*) FROM webinar_user_sessions WHERE webinar_id = $1 "
                "AND closed_reason = 'exit'",
                UUID(webinar),
            )
        finally:
            await conn.close()
        if closed == sessions:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{closed} of {sessions} sessions closed in Postgres")


STORED = "SELECT session_id, watched_seconds_raw FROM webinar_user_sessions WHERE webinar_id = $1"


async def compare(
    database_url: str, webinar: str, viewers: list[Viewer], tolerance: float = 0.0
) -> None:
    """Every session in Postgres once, each within its ledger's bounds (and ``tolerance``)."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(STORED, UUID(webinar))
    finally:
        await conn.close()
    stored = {r["session_id"]: float(r["watched_seconds_raw"]) for r in rows}
    assert sorted(stored) == sorted(v.session_id for v in viewers)  # none lost, none doubled
    for viewer in viewers:
        low, high = viewer.bounds()
        watched = stored[viewer.session_id]
        slack = viewer.slack + tolerance
        assert low - slack <= watched <= high + slack, (viewer, low, high, watched)
    watching = sum(v.acks[-1].sent - v.acks[0].sent for v in viewers)
    assert sum(stored.values()) > watching / 3  # they did watch: the bounds are not vacuous
