"""Checks a service's watch-time report against a load test's ledger.

    python -m loadtest.verify --ledger loadtest-ledger.json --base-url http://127.0.0.1:8000 \\
        --webinar <id>

Waits until every session is closed (tabs closed without a beacon are closed by the
sweeper: run the service with a short ``SWEEPER_INTERVAL_SECONDS`` and
``SESSION_STALE_AFTER_SECONDS``) and the report has stopped changing for ``--settle``
seconds (the flusher has written everything), fetches the whole report page by page
with the admin token, compares it with the ledger (``loadtest.compare``) and prints the
verdict. Exits 1 if an acceptance limit is broken, 2 if the service never settled.

The heartbeat interval is the one the track answers told the viewers (in the ledger);
``SESSION_DELTA_CAP_MULTIPLIER``, ``FLUSH_INTERVAL_SECONDS`` and ``ADMIN_TOKEN`` are read
from the environment as the service reads them: run it with the service's settings.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.parse
from pathlib import Path

import msgspec

from loadtest import organiser
from loadtest.compare import Report, Verdict, compare, summary
from loadtest.ledger import Ledger
from watchtime.settings import Settings

PAGE = 10_000  # the report's largest page
POLL_SECONDS = 1.0


class NotSettled(RuntimeError):
    pass


def fetch_report(base_url: str, webinar_id: str, admin_token: str) -> Report:
    """The whole report, all pages merged."""
    url = f"{base_url}/api/webinars/{webinar_id}/stats/watch-time?limit={PAGE}"
    page = organiser.call("GET", url, admin_token)
    report = msgspec.convert(page, Report)
    while page["next_cursor"]:
        cursor = urllib.parse.quote(page["next_cursor"])
        page = organiser.call("GET", f"{url}&cursor={cursor}", admin_token)
        report.viewers += msgspec.convert(page, Report).viewers
    return report


def wait_closed(base_url: str, webinar_id: str, admin_token: str, deadline: float) -> None:
    """Until Redis holds no open session of the webinar."""
    url = f"{base_url}/api/webinars/{webinar_id}/live"
    while (open_sessions := organiser.call("GET", url, admin_token)["active_sessions"]) > 0:
        if time.monotonic() > deadline:
            raise NotSettled(f"{open_sessions} sessions still open: is the sweeper running?")
        time.sleep(POLL_SECONDS)


def settled_report(
    base_url: str, webinar_id: str, admin_token: str, timeout: float, settle: float
) -> Report:
    """The report once every session is closed and it has not changed for ``settle`` s."""
    deadline = time.monotonic() + timeout
    wait_closed(base_url, webinar_id, admin_token, deadline)
    report = fetch_report(base_url, webinar_id, admin_token)
    unchanged_since = time.monotonic()
    while time.monotonic() - unchanged_since < settle:
        if time.monotonic() > deadline:
            raise NotSettled("the report kept changing: is the flusher keeping up?")
        time.sleep(POLL_SECONDS)
        latest = fetch_report(base_url, webinar_id, admin_token)
        if latest.viewers != report.viewers:
            report, unchanged_since = latest, time.monotonic()
    return report


def verify(
    ledger: Ledger,
    base_url: str,
    webinar_id: str,
    admin_token: str,
    settings: Settings,
    timeout: float = 300.0,
    save_report: Path | None = None,
) -> Verdict:
    settle = 2 * settings.flush_interval_seconds + 2
    report = settled_report(base_url, webinar_id, admin_token, timeout, settle)
    if save_report:
        save_report.write_bytes(msgspec.json.encode(report))
    interval = ledger.heartbeat_interval_seconds or settings.heartbeat_interval_seconds
    cap_ms = round(interval * settings.delta_cap_multiplier * 1000)
    return compare(ledger, report, interval, cap_ms)


def arguments(argv: list[str] | None, settings: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add(
        "--ledger",
        type=Path,
        nargs="+",
        required=True,
        help="the ledger files of every Locust process of the run",
    )
    add("--base-url", required=True, help="the gateway, e.g. http://127.0.0.1:8000")
    add("--webinar", help="the webinar id (default: the ledger's)")
    add("--admin-token", default=settings.admin_token, help="default: $ADMIN_TOKEN")
    add("--timeout", type=float, default=300.0, help="seconds to wait for the service to settle")
    add("--save-report", type=Path, help="write the report it compared to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    settings = Settings.from_env()
    options = arguments(argv, settings)
    ledger = Ledger.read(options.ledger)
    try:
        verdict = verify(
            ledger,
            options.base_url.rstrip("/"),
            options.webinar or ledger.webinar_id,
            options.admin_token,
            settings,
            options.timeout,
            options.save_report,
        )
    except NotSettled as e:
        print(f"verifier: {e}", file=sys.stderr)
        sys.exit(2)
    print("\n".join(summary(verdict)))
    sys.exit(0 if verdict.passed else 1)


if __name__ == "__main__":
    main()
