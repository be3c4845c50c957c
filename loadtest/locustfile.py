"""Locust scenario: the live audience of one webinar (R-SCALE).

    locust                                          (web UI; locust.conf names this file)
    locust --headless -u 200 -t 5m --host http://127.0.0.1:8000
    make loadtest USERS=2000 MINUTES=10             (headless, verified)

Each Locust user is one person (``loadtest.behaviour``): signed in (a JWT signed with
``VIEWER_TOKEN_SECRET``) or a guest, with one tab or two, visibility flips, tabs closed
with or without the exit beacon, locked phones, early leavers who rejoin. Arrivals
follow the ``DoorsOpen`` load shape (``loadtest.shape``), which also ends the test.
Compress time with a short ``SESSION_HEARTBEAT_INTERVAL_SECONDS`` on the service: the
viewers ping at the interval its track answer tells.

The scenario's parameters are Locust options (``loadtest.scenario``). Every process
writes its ledger (``loadtest.ledger``) when the test stops, to ``--ledger`` (a worker of
``--processes`` or distributed runs adds its id to the name); ``python -m
loadtest.verify`` then checks the service's report against it. Without ``--webinar-id``
the test creates its webinar with ``ADMIN_TOKEN``, which only works in one process: give
workers the id. With ``--json-file PREFIX``, Locust's failures by kind go to
``PREFIX_failures.json`` beside its statistics (``PREFIX.json``), which hold none.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import time
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtest import behaviour, scenario, webinar
from loadtest.api import LocustViewerApi
from loadtest.behaviour import Timeline
from loadtest.ledger import Ledger
from loadtest.scenario import EMPTIES_AT, ENDS_AT, Scenario, locked_phone_seconds
from loadtest.shape import DoorsOpen
from loadtest.tab import Rules, Tab, watch
from loadtest.tokens import viewer_token
from watchtime.settings import Settings

__all__ = ["DoorsOpen", "Viewer"]  # Locust runs the users and the shape it finds here

log = logging.getLogger("loadtest")

SETTINGS = Settings.from_env()
LEDGER = Ledger()
RULES = Rules(
    interval=SETTINGS.heartbeat_interval_seconds,
    stale_after=SETTINGS.stale_after_seconds,
    sleep=locked_phone_seconds(SETTINGS),
)
PEOPLE = itertools.count()
PROGRESS_SECONDS = 10.0


class Run:
    """Set when the test starts (in every process): the scenario and the viewers'
    common clock."""

    scenario = Scenario()
    timeline = Timeline(0.0, 0.0, 0.0)


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    scenario.add_arguments(parser)


@events.init.add_listener
def _progress(environment: Environment, **_: Any) -> None:
    """A line every PROGRESS_SECONDS while a test runs (one process reports for all)."""
    if not isinstance(environment.runner, WorkerRunner):
        gevent.spawn(_report_progress, environment)


def _report_progress(environment: Environment) -> None:
    while True:
        gevent.sleep(PROGRESS_SECONDS)
        runner = environment.runner
        if runner is None or runner.state not in ("spawning", "running"):
            continue
        total, shape = runner.stats.total, environment.shape_class
        elapsed = shape.get_run_time() if shape else time.time() - total.start_time
        log.info(
            "progress: %.0f of %.0f s, %d people, %.0f requests/s, %d failures",
            elapsed,
            Run.scenario.seconds,
            runner.user_count,
            total.current_rps,
            total.num_failures,
        )


@events.test_start.add_listener
def _start(environment: Environment, **_: Any) -> None:
    Run.scenario = Scenario.from_options(environment.parsed_options)
    LEDGER.webinar_id = Run.scenario.webinar_id or ""
    now = time.monotonic()
    s = Run.scenario.seconds
    Run.timeline = Timeline(now, now + ENDS_AT * s, now + EMPTIES_AT * s)
    if not LEDGER.webinar_id and not isinstance(environment.runner, MasterRunner):
        if isinstance(environment.runner, WorkerRunner):
            raise RuntimeError("workers need --webinar-id: each would create its own")
        LEDGER.webinar_id = webinar.create(environment.host or "", SETTINGS.admin_token, s)
        log.info("created webinar %s", LEDGER.webinar_id)


@events.test_stop.add_listener
def _stop(environment: Environment, **_: Any) -> None:
    if not isinstance(environment.runner, WorkerRunner):
        _write_failures(environment)
    if isinstance(environment.runner, MasterRunner):
        return  # the users, and so the ledgers, are in the workers
    path = Run.scenario.ledger
    if isinstance(environment.runner, WorkerRunner):
        path = path.with_name(f"{path.stem}-{environment.runner.client_id}{path.suffix}")
    try:
        LEDGER.write(path)
    except OSError as e:  # e.g. a read-only working directory in a container
        log.error("ledger not written to %s: %s (set --ledger)", path, e)
        return
    log.info("ledger: %d sessions written to %s", len(LEDGER.sessions), path)


def _write_failures(environment: Environment) -> None:
    prefix = environment.parsed_options and environment.parsed_options.json_file
    if prefix and environment.runner is not None:
        failures = list(environment.runner.stats.serialize_errors().values())
        path = Path(f"{prefix}_failures.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(failures, indent=2))


class Viewer(FastHttpUser):
    wait_time = constant(0)  # the one task is the whole attendance: it never returns

    def on_start(self) -> None:
        index = next(PEOPLE)
        seed = None if Run.scenario.seed is None else Run.scenario.seed * 1_000_003 + index
        self.rng = random.Random(seed)
        self.tabs: list[Tab] = []

    @task
    def attend(self) -> None:
        accounts = bool(SETTINGS.viewer_token_secret)
        plan = behaviour.person(self.rng, time.monotonic(), Run.timeline, RULES.sleep, accounts)
        token = None
        if plan.user_id:
            ttl = int(Run.scenario.seconds) + 3600
            token = viewer_token(plan.user_id, SETTINGS.viewer_token_secret, ttl)
        api = LocustViewerApi(self.client, LEDGER, LEDGER.webinar_id, token)
        self.tabs = [
            Tab(p, api, LEDGER, RULES, self.rng, plan.user_id, time.monotonic) for p in plan.tabs
        ]
        watch(self.tabs, time.monotonic, gevent.sleep)
        while True:  # gone: still counted as arrived until the test stops
            gevent.sleep(3600)

    def on_stop(self) -> None:
        for tab in self.tabs:
            tab.abandon(time.monotonic())
