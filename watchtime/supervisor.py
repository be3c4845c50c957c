"""``watchtime`` (``make run``): the whole service on one machine.

Starts an embedded Redis and PostgreSQL when ``REDIS_URL``/``DATABASE_URL`` are
unset, applies migrations, then runs gateway, flusher and sweeper as child
processes. Ctrl-C or SIGTERM stops the children first and the servers last, so
the flusher's final batch still reaches Postgres.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading

from watchtime import cli, logs
from watchtime.embedded import PostgresServer, RedisServer, started
from watchtime.migrate import MigrationChanged, migrate_url
from watchtime.settings import Settings, load_or_exit

log = logging.getLogger("watchtime")

PROCESSES = ("gateway", "flusher", "sweeper")
STOP_TIMEOUT_SECONDS = 30.0


def _embedded(settings: Settings, env: dict[str, str]) -> list[RedisServer | PostgresServer]:
    """The servers to start for the URLs that are not set; their URLs go into ``env``."""
    servers: list[RedisServer | PostgresServer] = []
    if not settings.redis_url:
        servers.append(RedisServer(settings.data_dir / "redis"))
        env["REDIS_URL"] = servers[-1].url
    if not settings.database_url:
        servers.append(PostgresServer(settings.data_dir / "postgres"))
        env["DATABASE_URL"] = servers[-1].url
    return servers


def _spawn(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Own session: a terminal's Ctrl-C reaches only us, and we stop children in order.
    return subprocess.Popen([sys.executable, "-m", name], env=env, start_new_session=True)


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning(
                "pid %d ignored SIGTERM for %.0fs: killing it", child.pid, STOP_TIMEOUT_SECONDS
            )
            child.kill()
            child.wait()


def _watch(children: dict[str, subprocess.Popen[bytes]], stop: threading.Event) -> int:
    """Blocks until a signal or a child's exit; returns the exit status to report."""
    while not stop.wait(0.5):
        for name, child in children.items():
            if child.poll() is not None:
                log.error("%s exited with status %s: stopping everything", name, child.returncode)
                return 1
    return 0


def main() -> None:
    cli.parse("watchtime", __doc__)
    settings = load_or_exit("watchtime")
    logs.configure(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    env = dict(os.environ)
    servers = _embedded(settings, env)
    with started(servers):
        for server in servers:
            log.info("embedded %s at %s (data in %s)", server.name, server.url, server.data_dir)
        status = _run(settings, env, stop)
    sys.exit(status)


def _run(settings: Settings, env: dict[str, str], stop: threading.Event) -> int:
    """Migrations, then the three processes until a signal or one of them exits."""
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        try:
            applied = asyncio.run(migrate_url(env["DATABASE_URL"]))
        except MigrationChanged as e:
            log.error("%s", e)
            return 1
        log.info("migrations: %d applied", len(applied))
        children = {name: _spawn(name, env) for name in PROCESSES}
        log.info("serving on http://%s:%d", settings.host, settings.port)
        return _watch(children, stop)
    finally:
        _stop(list(children.values()))


if __name__ == "__main__":
    main()
