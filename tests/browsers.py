"""Browser tests' fixtures (a pytest plugin, loaded by conftest.py): the gateway as a
process and Debian's Chromium, driven by Playwright over CDP.

Chromium is started here and Playwright attaches to it over CDP with ``no_defaults``:
Playwright's own ``launch`` turns on focus emulation in every page, which keeps a page
"visible" whatever happens, and the client's tests need Chromium's real visibility.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from support import running, service_env

from watchtime.embedded import PostgresServer, RedisServer

T = TypeVar("T")

HEARTBEAT_SECONDS = 1.0
# Long enough for a few heartbeats on a loaded machine, short enough to fail fast.
PATIENCE_SECONDS = 15 * HEARTBEAT_SECONDS
ADMIN_TOKEN = "browser-test-admin-token"
# Screenshots of the pages for people to review (git-ignored).
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",  # screenshots as wide as the page's layout
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
)


@pytest.fixture(scope="module")
def gateway(redis_server: RedisServer, postgres_server: PostgresServer) -> Iterator[str]:
    """The gateway process, with a heartbeat short enough to watch several."""
    # A client waiting out a Retry-After (2 s and its spread) after its last ping must
    # not meet the Δt cap, or its exit would credit less than the time it stayed.
    env = gateway_env(redis_server, postgres_server, SESSION_DELTA_CAP_MULTIPLIER="10")
    with running("gateway", env) as (base, process):
        yield base
        process.terminate()


def gateway_env(
    redis_server: RedisServer, postgres_server: PostgresServer, **settings: str
) -> dict[str, str]:
    """The gateway's environment in browser tests: a heartbeat short enough to watch
    several, then ``settings``."""
    return service_env(
        redis_server.url,
        postgres_server.url,
        ADMIN_TOKEN=ADMIN_TOKEN,
        SESSION_HEARTBEAT_INTERVAL_SECONDS=str(HEARTBEAT_SECONDS),
        MIN_PING_INTERVAL_SECONDS=str(HEARTBEAT_SECONDS / 5),
        SESSION_STALE_AFTER_SECONDS=str(30 * HEARTBEAT_SECONDS),
        **settings,
    )


def devtools_port(user_data_dir: Path, process: subprocess.Popen[bytes]) -> int:
    """The port Chromium chose for CDP, which it writes into its profile when listening."""
    port_file = user_data_dir / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "chromium exited"
        if port_file.exists() and port_file.read_text().count("\n"):
            return int(port_file.read_text().split("\n", 1)[0])
        time.sleep(0.05)
    raise AssertionError("chromium never opened its DevTools port")


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def chromium(playwright: Playwright, tmp_path: Path) -> Iterator[Browser]:
    """A new browser per test: nothing (a fake clock, a cached page) leaks into the next."""
    profile = tmp_path / "chromium-profile"
    command = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{devtools_port(profile, process)}"
        browser = playwright.chromium.connect_over_cdp(endpoint, no_defaults=True)
        yield browser
        browser.close()
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture
def window(chromium: Browser) -> BrowserContext:
    """The browser's one window: a new page is a new tab in it, in front of the others."""
    return chromium.contexts[0]


@pytest.fixture
def tab(window: BrowserContext) -> Page:
    return window.new_page()


def eventually(
    probe: Callable[[], T | None], what: str, wait_ms: Callable[[float], None] | None = None
) -> T:
    """The first truthy answer of ``probe``, polled until PATIENCE_SECONDS have passed;
    ``wait_ms`` waits between polls (default: sleep)."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline:
        answer = probe()
        if answer:
            return answer
        if wait_ms:
            wait_ms(50)
        else:
            time.sleep(0.05)
    raise AssertionError(f"never saw {what}")


def screenshots(tab: Page, name: str) -> None:
    """Full-page screenshots of the page as it is, at desktop and at phone width, as
    ``test-artifacts/<name>-desktop.png`` and ``…-phone.png``; the viewport stays a
    desktop's."""
    ARTIFACTS.mkdir(exist_ok=True)
    for device, size in (("phone", PHONE), ("desktop", DESKTOP)):
        tab.set_viewport_size(size)
        tab.screenshot(path=ARTIFACTS / f"{name}-{device}.png", full_page=True)
