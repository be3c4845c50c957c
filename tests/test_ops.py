"""Operations (R-OPS, R-OBS): the image, the docker-compose stack, Prometheus and Grafana.

Each file is checked by the tool that will read it (docker-compose v1 parses without a
Docker engine; promtool), and against what the code really does: the metrics the
processes export, the settings they read, the console commands they install.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx2
import pytest
import yaml
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from watchtime import __version__
from watchtime.embedded import free_port
from watchtime.settings import Settings

ROOT = Path(__file__).parent.parent
PROMETHEUS = ROOT / "ops" / "prometheus"
GRAFANA = ROOT / "ops" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "watchtime.json"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
ADMIN = {"Authorization": "Bearer test-admin-token"}

# The image's processes, by compose service, and the console command each one runs.
COMMANDS = {
    "migrate": "watchtime-migrate",
    "gateway": "watchtime-gateway",
    "flusher": "watchtime-flusher",
    "sweeper": "watchtime-sweeper",
}
# Where each process serves /metrics: the setting that holds its port.
METRICS_PORTS = {
    "gateway": "PORT",
    "flusher": "FLUSHER_METRICS_PORT",
    "sweeper": "SWEEPER_METRICS_PORT",
}

# The modules that define metrics (imported, they register in prometheus_client's REGISTRY).
METRIC_MODULES = (
    "gateway.metrics",
    "watchtime.metrics",
    "flusher.flusher",
    "sweeper.stale",
    "sweeper.snapshots",
    "sweeper.retention",
)
# The metrics of R-OBS that the dashboard must chart.
CHARTED = {
    "watchtime_pings_total",
    "watchtime_http_request_duration_seconds",
    "watchtime_sessions_created_total",
    "watchtime_sessions_closed_total",
    "watchtime_redis_errors_total",
    "watchtime_flusher_batches_total",
    "watchtime_flusher_rows_total",
    "watchtime_flusher_batch_sessions",
    "watchtime_flusher_batch_duration_seconds",
    "watchtime_flusher_dirty_sessions",
    "watchtime_flusher_oldest_dirty_age_seconds",
    "watchtime_sweeper_runs_total",
    "watchtime_sweeper_run_duration_seconds",
    "watchtime_sweeper_last_run_timestamp_seconds",
    "watchtime_sweeper_snapshots_total",
    "watchtime_sweeper_retention_deleted_rows_total",
    "watchtime_report_duration_seconds",
    "watchtime_redis_noscript_total",
    "watchtime_redis_batch_calls",
    "watchtime_pings_per_call",
    "watchtime_build_info",
    "watchtime_redis_used_memory_bytes",
    "watchtime_redis_maxmemory_bytes",
    "watchtime_gateway_refused_total",
}
# Series that Prometheus makes itself for every scrape.
SCRAPE_SERIES = {"up"}
# Series of postgres-exporter that the alerts and the dashboard use. (Redis memory is the
# gateways' own watchtime_redis_*_memory_bytes: redis_exporter is there for Redis' health.)
EXPORTER_SERIES = {
    "pg_stat_activity_count",
    "pg_settings_max_connections",
}
# The exporters of docker-compose.yml: service -> (image, scrape job, port).
EXPORTERS = {
    "redis-exporter": ("oliver006/redis_exporter:", "redis", 9121),
    "postgres-exporter": ("prometheuscommunity/postgres-exporter:", "postgres", 9187),
}
RUNBOOK = ROOT / "docs" / "runbook.md"


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed: `make test` installs it (Makefile target ops-tools)"
    return path


def run(
    *command: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool(command[0]), *command[1:]],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def yaml_file(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


# --- docker-compose.yml -------------------------------------------------------------


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    """docker-compose in a bare environment (no .env file either): every variable the
    file uses needs a default."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    with tempfile.NamedTemporaryFile(suffix=".env") as empty:
        files = ("--file", "docker-compose.yml", "--env-file", empty.name)
        options = (*files, "--profile", "loadtest")
        return run("docker-compose", *options, *args, env=env)


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    """The services as docker-compose resolves them (anchors merged, variables defaulted)."""
    done = compose("config")
    assert done.returncode == 0, done.stderr
    services: dict[str, Any] = yaml.safe_load(done.stdout)["services"]
    return services


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Bind mounts of a resolved service: path in the container -> path on the host."""
    binds = (volume.split(":") for volume in service["volumes"])
    return {target: Path(source) for source, target, *_ in binds if source.startswith("/")}


def test_the_compose_file_is_valid_with_every_variable_defaulted() -> None:
    done = compose("config", "--quiet")
    assert (done.returncode, done.stderr) == (0, "")


def test_the_service_starts_after_the_schema_is_migrated(stack: dict[str, Any]) -> None:
    assert stack["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert stack["migrate"]["restart"] == "no"  # one-shot
    for name in ("gateway", "flusher", "sweeper"):
        assert stack[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "redis": {"condition": "service_healthy"},
        }


def test_every_process_runs_its_console_command_from_one_image(stack: dict[str, Any]) -> None:
    for service, command in COMMANDS.items():
        assert stack[service]["command"] == [command]
        assert command in PROJECT["scripts"]
        assert stack[service]["image"] == stack["gateway"]["image"]
        assert stack[service]["build"] == {"context": str(ROOT)}


class RecordingEnv(dict[str, str]):
    """An environment that remembers which variables were looked up."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


def test_the_processes_get_only_real_and_valid_settings(stack: dict[str, Any]) -> None:
    recording = RecordingEnv()
    Settings.from_env(recording)
    for service in COMMANDS:
        env = {name: str(value) for name, value in stack[service]["environment"].items()}
        assert set(env) <= recording.read, f"{service}: not settings {set(env) - recording.read}"
        settings = Settings.from_env(env)  # the values parse (an empty one is the default)
        assert settings.host == "0.0.0.0"  # reachable from the other containers
        assert settings.redis_url == "redis://redis:6379/0"
        assert settings.database_url == "postgresql://watchtime:watchtime@postgres:5432/watchtime"
    postgres = stack["postgres"]["environment"]
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]) == ("watchtime", "watchtime")


def test_exporters_report_redis_and_postgres(stack: dict[str, Any]) -> None:
    for service, (image, _, _) in EXPORTERS.items():
        assert stack[service]["image"].startswith(image)
        assert "ports" not in stack[service]  # Prometheus reaches them inside the network
    redis = stack["redis-exporter"]
    assert redis["environment"] == {"REDIS_ADDR": "redis://redis:6379"}
    assert redis["depends_on"] == {"redis": {"condition": "service_healthy"}}
    postgres = stack["postgres-exporter"]
    dsn = "postgresql://watchtime:watchtime@postgres:5432/watchtime?sslmode=disable"
    assert postgres["environment"] == {"DATA_SOURCE_NAME": dsn}
    assert postgres["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    # The memory alerts measure against maxmemory: without one Redis reports 0.
    assert "--maxmemory 1gb" in stack["redis"]["command"]


def test_redis_and_postgres_keep_their_data_and_report_health(stack: dict[str, Any]) -> None:
    redis = stack["redis"]
    assert "--appendonly yes --appendfsync everysec" in redis["command"]
    assert redis["volumes"] == ["redis-data:/data:rw"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    postgres = stack["postgres"]
    assert postgres["image"].startswith("postgres:18")
    assert postgres["volumes"] == ["postgres-data:/var/lib/postgresql:rw"]  # 18+ layout
    assert postgres["healthcheck"]["test"][:4] == ["CMD", "pg_isready", "-h", "127.0.0.1"]


def scrape_targets() -> dict[str, list[str]]:
    config = yaml_file(PROMETHEUS / "prometheus.yml")
    return {
        job["job_name"]: [target for group in job["static_configs"] for target in group["targets"]]
        for job in config["scrape_configs"]
    }


def test_prometheus_scrapes_each_process_where_it_serves_metrics(stack: dict[str, Any]) -> None:
    targets = scrape_targets()
    for service, variable in METRICS_PORTS.items():
        port = stack[service]["environment"][variable]
        assert targets[service] == [f"{service}:{port}"]
        probe = "readyz" if service == "gateway" else "healthz"  # loop liveness
        assert f"http://127.0.0.1:{port}/{probe}'" in stack[service]["healthcheck"]["test"][-1]
    for service, (_, job, port) in EXPORTERS.items():
        assert targets[job] == [f"{service}:{port}"]
    assert stack["gateway"]["ports"] == ["127.0.0.1:8000:8000/tcp"]
    assert mounts(stack["prometheus"]) == {"/etc/prometheus": PROMETHEUS}
    assert "--config.file=/etc/prometheus/prometheus.yml" in stack["prometheus"]["command"]


def test_grafana_loads_the_dashboard_with_the_prometheus_datasource(stack: dict[str, Any]) -> None:
    grafana = stack["grafana"]
    assert mounts(grafana) == {
        "/etc/grafana/provisioning": GRAFANA / "provisioning",
        "/etc/grafana/dashboards": DASHBOARD.parent,
    }
    [provider] = yaml_file(GRAFANA / "provisioning" / "dashboards" / "watchtime.yml")["providers"]
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"/etc/grafana/dashboards/{DASHBOARD.name}"
    [datasource] = yaml_file(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")[
        "datasources"
    ]
    assert datasource["url"] == "http://prometheus:9090"
    assert stack["prometheus"]["ports"] == ["127.0.0.1:9090:9090/tcp"]
    assert datasource["type"] == "prometheus"  # what the dashboard's variable offers


def test_every_panel_takes_its_datasource_from_the_dashboard_variable() -> None:
    """Importable into another Grafana: the importer picks a Prometheus datasource."""
    [variable] = json.loads(DASHBOARD.read_text())["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == (
        "datasource",
        "datasource",
        "prometheus",
    )
    panels = [p for p in dashboard_panels() if p["type"] != "row"]
    assert panels and all(p["datasource"]["uid"] == "${datasource}" for p in panels)
    targets = [t for p in panels for t in p["targets"]]
    assert targets and all(t["datasource"]["uid"] == "${datasource}" for t in targets)


def test_locust_runs_the_scenarios_against_the_gateway_in_the_loadtest_profile(
    stack: dict[str, Any],
) -> None:
    locust = stack["locust"]
    assert locust["profiles"] == ["loadtest"]
    assert locust["command"] == ["locust"]  # locust.conf names the scenarios
    assert locust["build"] == {"context": str(ROOT), "args": {"EXTRAS": "loadtest"}}
    assert mounts(locust) == {
        "/app/loadtest": ROOT / "loadtest",
        "/app/locust.conf": ROOT / "locust.conf",
        "/results": ROOT / "loadtest-results",
    }
    assert ("COPY", "locust.conf ./") in dockerfile() and not dockerignored("locust.conf")
    env = locust["environment"]
    assert env["LOCUST_LEDGER"] == "/results/ledger.json"  # a writable place
    assert (env["LOCUST_HOST"], env["LOCUST_USERS"], env["LOCUST_RUN_TIME"]) == (
        "http://gateway:8000",
        "100",
        "10m",
    )
    # Every scenario option passes through (tests/test_loadtest.py: Locust reads them).
    scenario = {"LOCUST_SPAWN_PROFILE", "LOCUST_RAMP_SECONDS", "LOCUST_WEBINAR_ID", "LOCUST_SEED"}
    assert {name for name in env if name.startswith("LOCUST_")} == scenario | {
        "LOCUST_HOST",
        "LOCUST_USERS",
        "LOCUST_RUN_TIME",
        "LOCUST_LEDGER",
    }
    assert locust["depends_on"] == {"gateway": {"condition": "service_healthy"}}
    assert "locust" in " ".join(image_requirements("loadtest"))


# --- Dockerfile -----------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    steps = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    return [(step[0].upper(), step[1]) for step in steps]


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (or a folder above it) out of the build context."""
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()]
    patterns = [p for p in patterns if p and not p.startswith("#")]
    assert not any(p.startswith("!") for p in patterns), "exceptions are not modelled here"
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        fnmatch(prefix, pattern) or fnmatch(prefix, pattern.removeprefix("**/"))
        for prefix in prefixes
        for pattern in patterns
    )


def image_requirements(*extras: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "ops/docker/requirements.py", *extras],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_image_runs_as_a_user_from_python_3_11_slim() -> None:
    steps = dockerfile()
    assert [args.split()[0] for op, args in steps if op == "FROM"] == ["python:3.11-slim"] * 2
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM") :]
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("CMD", '["watchtime-gateway"]') in final


def test_the_build_context_holds_what_pip_install_needs_without_local_state() -> None:
    copied = [
        source
        for op, args in dockerfile()
        if op == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    ]
    packages = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    folders = [p.name for p in ROOT.iterdir() if any(fnmatch(p.name, i) for i in packages)]
    assert set(folders) >= {"watchtime", "gateway", "flusher", "sweeper", "loadtest"}
    for needed in [*copied, PROJECT["readme"], *folders]:
        assert (ROOT / needed).exists(), needed
        assert needed == "." or not dockerignored(needed), f"{needed} is .dockerignored"
    for junk in (".git", ".venv", ".data", ".env", "tests", "gateway/__pycache__", "x.egg-info"):
        assert dockerignored(junk), junk


def test_the_image_installs_the_requirements_without_embedded_servers() -> None:
    assert image_requirements() == PROJECT["dependencies"]
    optional = PROJECT["optional-dependencies"]
    assert image_requirements("loadtest") == [*PROJECT["dependencies"], *optional["loadtest"]]
    assert ("ARG", 'EXTRAS=""') in dockerfile()  # no extras unless the build asks
    refused = subprocess.run(
        [sys.executable, "ops/docker/requirements.py", "no-such-extra"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert refused.returncode != 0 and "no-such-extra" in refused.stderr


# --- Prometheus -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("check", "config", "prometheus.yml"),
        ("check", "rules", "alerts.yml"),
        ("test", "rules", "alerts_test.yml"),
    ],
)
def test_promtool_accepts_the_prometheus_files(command: tuple[str, str, str]) -> None:
    done = run("promtool", command[0], command[1], str(PROMETHEUS / command[2]))
    assert done.returncode == 0, done.stdout + done.stderr


PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions and label names aside)."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)  # label matchers, ranges
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    words = re.finditer(r"(?<![\w.])[A-Za-z_:][\w:]*", expr)
    return {
        w.group()
        for w in words
        if w.group().lower() not in PROMQL_KEYWORDS and not expr[w.end() :].lstrip().startswith("(")
    }


# Sample names of one metric family, by type (prometheus_client drops a counter's _total).
SAMPLES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


def exported() -> dict[str, str]:
    """Every series name the processes export -> the name of its metric in the code."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    names = {}
    for family in REGISTRY.collect():
        metric = f"{family.name}_total" if family.type == "counter" else family.name
        for suffix in SAMPLES.get(family.type, ("",)):
            names[family.name + suffix] = metric
    return names


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml_file(PROMETHEUS / "alerts.yml")["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_the_alerts_watch_metrics_the_service_exports() -> None:
    known = exported().keys() | SCRAPE_SERIES | EXPORTER_SERIES
    rules = alert_rules()
    assert {
        "WatchtimeFlusherLagHigh",
        "WatchtimeFlusherBacklogGrowing",
        "WatchtimeSweeperNotRunning",
        "WatchtimeGatewayErrorRatioHigh",
        "WatchtimeRedisUnavailable",
        "WatchtimeTargetDown",
        "WatchtimeReportLatencyHigh",
        "WatchtimeRedisMemoryHigh",
        "WatchtimeRedisMemoryCritical",
        "WatchtimeGatewayOverloaded",
        "WatchtimePostgresConnectionsHigh",
    } <= {rule["alert"] for rule in rules}
    for rule in rules:
        names = metric_names(rule["expr"])
        assert names and names <= known, f"{rule['alert']}: unknown {names - known}"
        assert rule["for"] and rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"].keys() == {"summary", "description", "runbook_url"}


def anchors(markdown: str) -> dict[str, str]:
    """The sections of a Markdown file by the anchor GitHub makes of their heading."""
    parts = re.split(r"^#{1,6} (.+)\n", markdown, flags=re.M)
    headings, texts = parts[1::2], parts[2::2]
    return {
        re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-"): text
        for h, text in zip(headings, texts, strict=True)
    }


def test_every_alert_links_its_section_of_the_runbook() -> None:
    """... which says what the alert means, how to check it and what to do."""
    runbook = RUNBOOK.read_text()
    sections = anchors(runbook)
    for rule in alert_rules():
        page, anchor = rule["annotations"]["runbook_url"].split("#")
        assert page == "docs/runbook.md", rule["alert"]
        assert anchor in sections, f"{rule['alert']}: no section #{anchor} in the runbook"
        section = sections[anchor]
        for part in ("**Means.**", "**Check.**", "**Do.**"):
            assert part in section, f"{rule['alert']}: no {part} in #{anchor}"


# --- Grafana ----------------------------------------------------------------------------


def dashboard_panels() -> list[dict[str, Any]]:
    def walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in panels:
            yield panel
            yield from walk(panel.get("panels", []))

    return list(walk(json.loads(DASHBOARD.read_text())["panels"]))


def dashboard_queries() -> list[str]:
    return [target["expr"] for panel in dashboard_panels() for target in panel.get("targets", [])]


def test_the_dashboard_lays_out_its_panels_without_overlap() -> None:
    panels = dashboard_panels()
    assert len({panel["id"] for panel in panels}) == len(panels)
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, panel["title"]
        for x in range(box["x"], box["x"] + box["w"]):
            for y in range(box["y"], box["y"] + box["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_the_dashboard_charts_the_service_metrics_and_nothing_else() -> None:
    names = exported()
    known = names.keys() | SCRAPE_SERIES | EXPORTER_SERIES
    charted = set()
    for query in dashboard_queries():
        used = metric_names(query)
        assert used and used <= known, f"{query}: unknown {used - known}"
        charted |= {names[name] for name in used if name in names}
    assert charted >= CHARTED, f"not on the dashboard: {CHARTED - charted}"


def test_the_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every query, as recording rules (JSON is YAML)."""
    queries = [q.replace("$__rate_interval", "1m") for q in dashboard_queries()]
    assert not [q for q in queries if "$" in q], "a Grafana variable this test does not know"
    rules = [{"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(queries)]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = run("promtool", "check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


# --- /metrics of the running processes ------------------------------------------------


# Every process says which version it runs.
BUILD_INFO = rf'watchtime_build_info\{{version="{re.escape(__version__)}"\}} 1\.0$'


def promtool_check_metrics(exposition: str) -> None:
    done = run("promtool", "check", "metrics", stdin=exposition)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_the_gateway_metrics_pass_promtool(client: TestClient) -> None:
    webinar = f"/api/webinars/{uuid4()}"
    body = {"webinar_start_time": "2026-01-01T10:00:00Z"}
    assert client.put(webinar, json=body, headers=ADMIN).status_code == 200
    assert client.post(f"{webinar}/access/track", json={"session_id": "s1"}).status_code == 200
    hidden = {"session_id": "s1", "view_state": {"is_visible": False}}
    assert client.post(f"{webinar}/presence/ping", json=hidden).status_code == 204
    assert client.post(f"{webinar}/presence/ping", json=hidden).status_code == 429
    assert client.post(f"{webinar}/access/exit", json={"session_id": "s1"}).status_code == 204
    exposition = client.get("/metrics").text
    for sample in (
        r'watchtime_pings_total\{outcome="rate_limited"\} [1-9]',
        r'watchtime_http_request_duration_seconds_bucket\{le="\+Inf",method="POST",'
        r'route="/api/webinars/\{webinar_id\}/access/track",status="200"\} [1-9]',
        r"watchtime_sessions_created_total [1-9]",
        r'watchtime_sessions_closed_total\{reason="exit"\} [1-9]',
        BUILD_INFO,
    ):
        assert re.search(f"^{sample}", exposition, re.M), sample
    promtool_check_metrics(exposition)


@contextmanager
def background(module: str, settings: Settings, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m module`` against the test servers; must stop cleanly on SIGTERM."""
    environment = os.environ | {
        "REDIS_URL": settings.redis_url or "",
        "DATABASE_URL": settings.database_url or "",
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    process = subprocess.Popen([sys.executable, "-m", module], env=environment, cwd=ROOT)
    try:
        yield process
    except BaseException:
        process.kill()
        process.wait()
        raise
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0, f"{module} did not stop cleanly"


def scrape_until(port: int, process: subprocess.Popen[bytes], *samples: str) -> str:
    """The process's /metrics once every sample pattern matches a line."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the process exited"
        try:
            exposition = httpx2.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
        except httpx2.TransportError:
            exposition = ""
        if all(re.search(f"^{sample}", exposition, re.M) for sample in samples):
            return exposition
        time.sleep(0.1)
    raise AssertionError(f"no {samples} on :{port}/metrics")


def test_the_flusher_and_sweeper_metrics_pass_promtool(
    client: TestClient, settings: Settings
) -> None:
    # Work for both: a live viewer whose session is not yet in Postgres.
    webinar = f"/api/webinars/{uuid4()}"
    body = {"webinar_start_time": "2026-01-01T10:00:00Z"}
    assert client.put(webinar, json=body, headers=ADMIN).status_code == 200
    assert client.post(f"{webinar}/access/track", json={"session_id": "s1"}).status_code == 200
    flusher_port, sweeper_port = free_port(), free_port()
    flusher_env = {"FLUSHER_METRICS_PORT": str(flusher_port), "FLUSH_INTERVAL_SECONDS": "0.1"}
    with (
        background("flusher", settings, **flusher_env) as flusher,
        background("sweeper", settings, SWEEPER_METRICS_PORT=str(sweeper_port)) as sweeper,
    ):
        flushed = scrape_until(
            flusher_port,
            flusher,
            r"watchtime_flusher_rows_total 1\.0$",
            r"watchtime_flusher_batch_duration_seconds_count 1\.0$",
            r"watchtime_flusher_oldest_dirty_age_seconds ",
            BUILD_INFO,
        )
        swept = scrape_until(
            sweeper_port,
            sweeper,
            r"watchtime_sweeper_runs_total 1\.0$",
            r"watchtime_sweeper_last_run_timestamp_seconds [1-9]",
            r"watchtime_sweeper_snapshots_total 1\.0$",
            r'watchtime_sweeper_retention_deleted_rows_total\{table="webinar_user_sessions"\} ',
            BUILD_INFO,
        )
        for port in (flusher_port, sweeper_port):  # each has finished a cycle in time
            answer = httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            assert (answer.status_code, answer.json()) == (200, {"status": "ok", "late": []})
    promtool_check_metrics(flushed)
    promtool_check_metrics(swept)
