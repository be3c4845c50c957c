"""Locust scenario: the live audience of one webinar (SPEC R-SCALE).

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000      (web UI)
    make loadtest USERS=2000 MINUTES=10                                (headless, verified)

Each Locust user is one person (``loadtest.behaviour``): signed in (a JWT signed with
``VIEWER_TOKEN_SECRET``) or a guest, with one tab or two, visibility flips, tabs closed
with or without the exit beacon, locked phones, early leavers who rejoin. Arrivals
follow the ``DoorsOpen`` load shape (``loadtest.shape``), which also ends the test.
Compress time with a short ``SESSION_HEARTBEAT_INTERVAL_SECONDS`` on the service: the
viewers ping at the interval its track answer tells.

Every process writes its ledger (``loadtest.ledger``) when the test stops, to
``LOADTEST_LEDGER`` (a worker of ``--processes`` or distributed runs adds its pid to
the name); ``python -m loadtest.verify`` then checks the service's report against it.
Without ``LOADTEST_WEBINAR_ID`` the test creates its webinar with ``ADMIN_TOKEN``, which
only works in one process: give workers the id.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from typing import Any

import gevent
from locust import FastHttpUser, constant, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtest import behaviour, webinar
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

SCENARIO = Scenario.from_env()
SETTINGS = Settings.from_env()
LEDGER = Ledger(webinar_id=SCENARIO.webinar_id or "")
RULES = Rules(
    interval=SETTINGS.heartbeat_interval_seconds,
    stale_after=SETTINGS.stale_after_seconds,
    sleep=locked_phone_seconds(SETTINGS),
)
PEOPLE = itertools.count()


class Run:
    """Set when the test starts (in every process): the viewers' common clock."""

    timeline = Timeline(0.0, 0.0, 0.0)


@events.test_start.add_listener
def _start(environment: Environment, **_: Any) -> None:
    now = time.monotonic()
    s = SCENARIO.seconds
    Run.timeline = Timeline(now, now + ENDS_AT * s, now + EMPTIES_AT * s)
    if not LEDGER.webinar_id and not isinstance(environment.runner, MasterRunner):
        if isinstance(environment.runner, WorkerRunner):
            raise RuntimeError("workers need LOADTEST_WEBINAR_ID: each would create its own")
        LEDGER.webinar_id = webinar.create(environment.host or "", SETTINGS.admin_token, s)
        log.info("created webinar %s", LEDGER.webinar_id)


@events.test_stop.add_listener
def _stop(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        return  # the users, and so the ledgers, are in the workers
    path = SCENARIO.ledger
    if isinstance(environment.runner, WorkerRunner):
        path = path.with_name(f"{path.stem}-{environment.runner.client_id}{path.suffix}")
    try:
        LEDGER.write(path)
    except OSError as e:  # e.g. a read-only working directory in a container
        log.error("ledger not written to %s: %s (set LOADTEST_LEDGER)", path, e)
        return
    log.info("ledger: %d sessions written to %s", len(LEDGER.sessions), path)


class Viewer(FastHttpUser):
    wait_time = constant(0)  # the one task is the whole attendance: it never returns

    def on_start(self) -> None:
        index = next(PEOPLE)
        seed = None if SCENARIO.seed is None else SCENARIO.seed * 1_000_003 + index
        self.rng = random.Random(seed)
        self.tabs: list[Tab] = []

    @task
    def attend(self) -> None:
        accounts = bool(SETTINGS.viewer_token_secret)
        plan = behaviour.person(self.rng, time.monotonic(), Run.timeline, RULES.sleep, accounts)
        token = None
        if plan.user_id:
            ttl = int(SCENARIO.seconds) + 3600
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
