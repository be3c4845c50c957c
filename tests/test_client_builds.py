"""The browser client's builds (R-CLIENT) from one source: the npm package in clients/js
packs what is built from gateway/static/watchtime.js with the project's version, README's SRI hash
is the served file's, and in Chromium the ES module and the script-tag build, embedded
by a page of another site, do the same: track, ping, exit."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx2
import pytest
from browsers import ADMIN_TOKEN, eventually, gateway_env
from playwright.sync_api import BrowserContext, Page
from redis import Redis
from support import running

from gateway import browser_client
from watchtime import __version__, keys
from watchtime.embedded import PostgresServer, RedisServer, free_port
from watchtime.fields import session_hash

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "clients" / "js"
README_SRI = re.compile(r'src="[^"]*/static/watchtime\.js"\s+integrity="(sha384-[^"]+)"')


def test_the_package_is_built_from_the_source() -> None:
    """If this fails after watchtime.js changed: make client"""
    script = browser_client.script()
    assert script == (ROOT / "gateway" / "static" / "watchtime.js").read_text()
    assert browser_client.builds() == {
        "watchtime.js": script,
        "watchtime.mjs": browser_client.module(script),
    }
    assert browser_client.module(script).endswith("export const {start} = WatchTime;\n")
    assert README_SRI.findall((ROOT / "README.md").read_text()) == [
        browser_client.integrity(script)
    ]


def test_package_json_is_ready_for_the_registry() -> None:
    package = json.loads((PACKAGE / "package.json").read_text())
    assert package["name"] == "webinar-watchtime"
    assert package["version"] == __version__  # the one version source: pyproject.toml
    assert package["license"]
    assert (package["main"], package["module"], package["types"]) == (
        "./watchtime.js",
        "./watchtime.mjs",
        "./watchtime.d.ts",
    )
    assert package["exports"]["."] == {
        "types": "./watchtime.d.ts",
        "import": "./watchtime.mjs",
        "default": "./watchtime.js",
    }
    assert sorted(package["files"]) == ["watchtime.d.ts", "watchtime.js", "watchtime.mjs"]
    assert package["scripts"]["prepack"] == "make -C ../.. client"  # the builds, then packed
    assert (PACKAGE / "watchtime.d.ts").is_file()


def test_the_declarations_name_every_option_the_client_reads() -> None:
    read = set(re.findall(r"\boptions\.(\w+)", browser_client.script()))
    declarations = (PACKAGE / "watchtime.d.ts").read_text()
    options = declarations.split("export interface Options {", 1)[1].split("\n}", 1)[0]
    declared = set(re.findall(r"^  (\w+)\??:", options, re.MULTILINE))
    assert read >= {"webinarId", "baseUrl", "token", "onStatus"}
    assert declared == read
    assert "export declare function start(options: Options): Controller;" in declarations


class Embedder:
    """Another site: a web server of its own on another port, so that its pages' requests
    to the gateway are cross-origin (on loopback, as Chromium wants for a page that calls
    a loopback server). It serves the pages put into ``pages`` by path."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                page = pages.get(self.path)
                self.send_response(200 if page else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((page or "").encode())

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def embedder() -> Iterator[Embedder]:
    site = Embedder()
    thread = threading.Thread(target=site.server.serve_forever, daemon=True)
    thread.start()
    yield site
    site.server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def embedded_gateway(
    redis_server: RedisServer, postgres_server: PostgresServer, embedder: Embedder
) -> Iterator[str]:
    """The gateway, with the embedding site allowed to call the viewer endpoints."""
    env = gateway_env(
        redis_server, postgres_server, CORS_ALLOW_ORIGINS=embedder.origin, GATEWAY_WORKERS="1"
    )
    with running("gateway", env) as (base, _):
        yield base


def test_both_builds_are_served_to_other_sites(embedded_gateway: str) -> None:
    script = httpx2.get(f"{embedded_gateway}/static/watchtime.js")
    module = httpx2.get(f"{embedded_gateway}/static/watchtime.mjs")
    assert script.text == browser_client.script()
    assert module.text == browser_client.module(browser_client.script())
    for answer in (script, module):
        assert answer.headers["content-type"].startswith("text/javascript")
        # an SRI-checked script and a module from another origin are CORS requests
        assert answer.headers["access-control-allow-origin"] == "*"


def embedding_page(build: str, gateway: str, webinar: UUID) -> str:
    """A page of another site that embeds the client the way README says."""
    options = json.dumps({"webinarId": str(webinar), "baseUrl": gateway})
    if build == "module":
        return (
            f'<script type="module">import {{start}} from "{gateway}/static/watchtime.mjs";'
            f"window.watch = start({options});</script>"
        )
    readme = (ROOT / "README.md").read_text()
    (integrity,) = README_SRI.findall(readme)
    return (
        f'<script src="{gateway}/static/watchtime.js" integrity="{integrity}" '
        f'crossorigin="anonymous"></script>'
        f"<script>window.watch = WatchTime.start({options});</script>"
    )


def session(redis: Redis, webinar: UUID, session_id: str) -> dict[str, str]:
    return session_hash(redis.hgetall(keys.session(webinar, session_id)))


def run_build(
    build: str, gateway: str, embedder: Embedder, tab: Page, redis: Redis
) -> dict[str, Any]:
    """Opens the embedding page, waits for two pings, closes it; returns what happened."""
    webinar = uuid4()
    put = httpx2.put(
        f"{gateway}/api/webinars/{webinar}",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        json={"webinar_start_time": "2026-01-01T10:00:00Z"},
    )
    assert put.status_code == 200
    page = f"<!doctype html><title>{build}</title>{embedding_page(build, gateway, webinar)}"
    embedder.pages[f"/{build}.html"] = page
    sent: list[tuple[str, str, tuple[str, ...]]] = []
    tab.on("request", lambda r: sent.append(described(r.url, r.method, r.post_data)))
    tab.goto(f"{embedder.origin}/{build}.html")
    session_id: str = eventually(
        lambda: tab.evaluate("window.watch && window.watch.sessionId"),
        f"the {build} build's session",
    )
    global_name = tab.evaluate("typeof window.WatchTime")
    eventually(
        lambda: int(session(redis, webinar, session_id).get("ping_count", 0)) >= 2,
        f"two pings of the {build} build",
    )
    tab.close()
    closed = eventually(
        lambda: (s := session(redis, webinar, session_id)).get("closed_reason") == "exit" and s,
        f"the {build} build's exit",
    )
    api = [request for request in sent if request[0] != "page"]
    return {"global": global_name, "requests": api, "session": closed}


def described(url: str, method: str, body: str | None) -> tuple[str, str, tuple[str, ...]]:
    """A request as the comparison sees it: what it is, and the fields it sent."""
    kind = url.rsplit("/", 1)[-1] if "/api/webinars/" in url else "page"
    fields = tuple(sorted(json.loads(body))) if body and kind != "page" else ()
    return kind, method, fields


def test_the_module_and_the_script_tag_build_do_the_same_on_a_page(
    embedded_gateway: str, embedder: Embedder, window: BrowserContext, sync_redis: Redis
) -> None:
    runs = {
        build: run_build(build, embedded_gateway, embedder, window.new_page(), sync_redis)
        for build in ("script", "module")
    }
    script, module = runs["script"], runs["module"]
    # the script tag defines the global; the module keeps it to itself
    assert (script["global"], module["global"]) == ("object", "undefined")
    # the same requests with the same fields (the exit beacon may leave after the tab
    # stopped reporting its requests: its effect is checked in Redis below)
    first = [r for r in script["requests"] if r[0] != "exit"]
    second = [r for r in module["requests"] if r[0] != "exit"]
    assert [r[0] for r in first[:3]] == [r[0] for r in second[:3]] == ["track", "ping", "ping"]
    assert set(first) == set(second)
    assert "session_id" in first[0][2] and "view_state" in first[1][2]
    for run in (script, module):
        stored = run["session"]
        assert stored["user_id"] == ""  # a guest
        assert stored["visible"] == "1"
        assert stored["exited_at"] == stored["last_heartbeat_at"]
        assert int(stored["watched_ms"]) == int(stored["exited_at"]) - int(stored["entered_at"])
