"""``make loadtest USERS=… MINUTES=…``: one verified load test, start to finish.

    python -m loadtest.run --users 2000 --minutes 10 [--interval 2] [--workers 1]
                           [--spawn-profile doors]

1. starts the whole service (``python -m watchtime.supervisor``) with embedded Redis and
   PostgreSQL in a temporary DATA_DIR, on a free port of 127.0.0.1, with time compressed:
   heartbeat interval ``--interval`` s, stale limit 3 intervals, a sweep every interval;
2. creates the webinar through the admin API;
3. runs Locust headless (``loadtest/locustfile.py``) for ``--minutes``, printing its
   progress; Locust's HTML report and JSON statistics, the ledger, the report compared
   and the service's log in ``--out``, watching CPU by role;
4. runs the verifier (``loadtest.verify``) against the ledger, prints the figures and
   the verdict, and stops the service.

Exits 0 only if the verifier passes and Locust counted no failure. ``--record FILE``
appends the figures to FILE (BENCHMARKS.md) as a section.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from loadtest import processes, results, service_counts, verify, webinar
from loadtest.compare import Verdict
from loadtest.cpu import CpuMonitor
from loadtest.ledger import Ledger
from loadtest.scenario import PROFILES
from watchtime.embedded import free_port
from watchtime.settings import Settings

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
LOCUST_GRACE_SECONDS = 120.0  # past the run's length before Locust is stopped by force


@dataclass(frozen=True)
class Options:
    users: int
    minutes: float
    interval: float
    workers: int
    processes: int
    out: Path
    record: Path | None
    seed: int | None
    profile: str = "doors"  # --spawn-profile (loadtest.scenario.PROFILES)


def service_env(o: Options, data_dir: Path, port: int) -> dict[str, str]:
    """The service's settings, shared with Locust and the verifier: compressed time."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    return env | {
        "DATA_DIR": str(data_dir),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "GATEWAY_WORKERS": str(o.workers),
        "ADMIN_TOKEN": secrets.token_urlsafe(16),
        "VIEWER_TOKEN_SECRET": secrets.token_urlsafe(16),
        "SESSION_HEARTBEAT_INTERVAL_SECONDS": f"{o.interval:g}",
        "SESSION_STALE_AFTER_SECONDS": f"{3 * o.interval:g}",
        "SWEEPER_INTERVAL_SECONDS": f"{o.interval:g}",
        # The default's 1 s still leaves regular pings alone at a 2 s interval; shorter
        # intervals get half of theirs, so only pings right after a flip meet a 429.
        "MIN_PING_INTERVAL_SECONDS": f"{min(1.0, o.interval / 2):g}",
        "FLUSH_INTERVAL_SECONDS": f"{min(2.0, o.interval):g}",
        "FLUSHER_METRICS_PORT": "0",
        "SWEEPER_METRICS_PORT": "0",
        "LOG_LEVEL": "WARNING",
    }


@contextlib.contextmanager
def service(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The supervisor, ready to serve; stopped as Ctrl-C stops it."""
    log.unlink(missing_ok=True)
    command = [sys.executable, "-m", "watchtime.supervisor"]
    with processes.serving(command, env, log, f"http://127.0.0.1:{env['PORT']}/readyz") as p:
        yield p


def locust_command(o: Options, base: str, webinar_id: str) -> list[str]:
    """Locust headless: its own options, then the scenario's (``loadtest.scenario``)."""
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        base,
        "--users",
        str(o.users),
        "--run-time",
        f"{o.minutes * 60:.0f}s",
        "--only-summary",
        "--json-file",
        str(o.out / "locust"),
        "--html",
        str(o.out / "locust.html"),
        "--webinar-id",
        webinar_id,
        "--ledger",
        str(o.out / "ledger.json"),
        "--spawn-profile",
        o.profile,
    ]
    if o.seed is not None:
        command += ["--seed", str(o.seed)]
    if o.processes > 1:
        command += ["--processes", str(o.processes)]
    return command


def run_locust(
    o: Options, env: dict[str, str], command: list[str], supervisor: int
) -> dict[str, float]:
    """Runs the load to its end (the load shape stops it); returns CPU by role."""
    locust = subprocess.Popen(command, env=env)
    monitor = CpuMonitor(locust.pid, supervisor)
    monitor.start()
    try:
        locust.wait(o.minutes * 60 + LOCUST_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        print("loadtest: Locust overran the run: stopping it", file=sys.stderr)
        locust.send_signal(signal.SIGINT)
        locust.wait(60)
    return monitor.stop()


# Something to run alongside the load, given the supervisor's pid (the soak's sampler).
Watcher = Callable[[int], contextlib.AbstractContextManager[object]]


def execute(o: Options, command: str, watch: Watcher | None = None) -> results.Run:
    o.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="watchtime-loadtest-") as folder:
        env = service_env(o, Path(folder) / "data", free_port())
        base = f"http://127.0.0.1:{env['PORT']}"
        with service(env, o.out / "service.log") as supervisor:
            webinar_id = webinar.create(base, env["ADMIN_TOKEN"], o.minutes * 60)
            locust = locust_command(o, base, webinar_id)
            with (watch or _nothing)(supervisor.pid):
                cpu = run_locust(o, env, locust, supervisor.pid)
            counted = service_counts.read(base)
            ledger = Ledger.read(sorted(o.out.glob("ledger*.json")))
            verdict: Verdict | None = None
            with contextlib.suppress(verify.NotSettled):
                verdict = verify.verify(
                    ledger,
                    base,
                    webinar_id,
                    env["ADMIN_TOKEN"],
                    Settings.from_env(env),
                    save_report=o.out / "report.json",
                )
    rows, failures = results.read_locust_json(o.out / "locust")
    return results.Run(
        command,
        o.users,
        o.minutes,
        o.interval,
        o.workers,
        o.processes,
        rows,
        failures,
        ledger.answers,
        counted,
        cpu,
        verdict,
    )


@contextlib.contextmanager
def _nothing(pid: int) -> Iterator[None]:
    yield


def parse(argv: list[str] | None) -> Options:
    return options(parser(__doc__).parse_args(argv))


def parser(doc: str | None, users: int = 100, minutes: float = 2.0) -> argparse.ArgumentParser:
    """A verified Locust run's command line (also the soak's, with more options)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=users, help="people in the audience")
    parser.add_argument("--minutes", type=float, default=minutes, help="length of the run")
    parser.add_argument("--interval", type=float, default=2.0, help="heartbeat interval, s")
    parser.add_argument("--workers", type=int, default=1, help="GATEWAY_WORKERS")
    parser.add_argument("--processes", type=int, default=1, help="Locust processes")
    parser.add_argument(
        "--out",
        type=Path,
        help="Locust's report and statistics, ledger and logs (default: in loadtest-results/)",
    )
    parser.add_argument("--record", type=Path, help="append the figures to this file")
    parser.add_argument("--seed", type=int, help="a repeatable audience")
    parser.add_argument(
        "--spawn-profile",
        choices=PROFILES,
        default="doors",
        help="how arrivals spread (loadtest.shape)",
    )
    return parser


def options(a: argparse.Namespace, kind: str = "") -> Options:
    out = results_folder(a.out, kind)
    return Options(
        a.users,
        a.minutes,
        a.interval,
        a.workers,
        a.processes,
        out,
        a.record,
        a.seed,
        a.spawn_profile,
    )


def results_folder(given: Path | None, kind: str) -> Path:
    """``--out``, by default a new folder of loadtest-results/ named for the time."""
    return given or Path("loadtest-results") / f"{kind}{datetime.now(UTC):%Y%m%d-%H%M%S}"


def main(argv: list[str] | None = None) -> None:
    options = parse(argv)
    command = "python -m loadtest.run " + shlex.join(sys.argv[1:] if argv is None else argv)
    run = execute(options, command)
    print(results.text(run))
    if options.record:
        with options.record.open("a") as out:
            out.write(results.markdown(run))
    passed = run.verdict is not None and run.verdict.passed and run.total.failures == 0
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
