"""The organiser's page (``/admin/webinars/{id}``) in Debian's Chromium against the real
gateway (fixtures in browsers.py): what it shows is checked to the second against
sessions seeded through the scripts with explicit times.

The browser runs in Asia/Kolkata (UTC+05:30 all year), so a time shown or read as UTC
by mistake is off by five and a half hours."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import httpx2
import pytest
from browsers import ADMIN_TOKEN, DESKTOP, PATIENCE_SECONDS, eventually, screenshots
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect
from redis import Redis
from support import DESKTOP_CHROME, IPHONE_SAFARI, add_snapshots, at, iso, seed

from watchtime.sessions import SessionStore
from watchtime.settings import Settings

TIMEZONE = "Asia/Kolkata"
ZONE = ZoneInfo(TIMEZONE)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CONTENT_SECONDS = 100
USER_A, USER_B, USER_C = (str(UUID(int=n)) for n in (1, 2, 3))
COLUMNS = ("viewer", "sessions", "watched", "active", "present", "share", "first", "last", "device")


@pytest.fixture(autouse=True)
def patience() -> None:
    expect.set_options(timeout=PATIENCE_SECONDS * 1000)


def local_input(ms: int) -> str:
    """A datetime-local value in the browser's zone, as Chromium normalises it (no
    seconds when they are zero)."""
    value = datetime.fromtimestamp(ms / 1000, ZONE).strftime("%Y-%m-%dT%H:%M:%S")
    return value.removesuffix(":00")


def local_text(ms: int) -> str:
    """A time as the page shows it: the browser's zone, to the second."""
    return datetime.fromtimestamp(ms / 1000, ZONE).strftime("%Y-%m-%d %H:%M:%S")


def api(gateway: str, webinar: UUID, path: str = "") -> httpx2.Response:
    response = httpx2.get(f"{gateway}/api/webinars/{webinar}{path}", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response


def put_schedule(gateway: str, webinar: UUID, schedule: dict[str, object]) -> None:
    response = httpx2.put(f"{gateway}/api/webinars/{webinar}", headers=ADMIN, json=schedule)
    assert response.status_code == 200, response.text


@pytest.fixture
def audience(gateway: str, settings: Settings, s0: int) -> UUID:
    """A webinar of CONTENT_SECONDS from s0, five people in six sessions, three snapshots.

    | person  | sessions: [visible] within (entered, left), seconds from s0 | watched | present |
    | user C  | [0, 97.4) within (0, 97.4)                                  | 97.4    | 97.4    |
    | user A  | [-10, 95) within (-10, 95)                                  | 95      | 95      |
    | user B  | [10, 40) within (10, 100), [30, 70) within (30, 80)         | 60      | 100     |
    | early   | [-30, 25) within (-30, 25)                                  | 25      | 25      |
    | shy     | never visible, within (20, 60)                              | 0       | 40      |

    User C came on a desktop Chrome, A on an iPhone, B's first tab on an iPhone too; the
    guests sent no user agent. All were active while watching, but A from 50 s on.
    """
    webinar = uuid4()
    put_schedule(
        gateway,
        webinar,
        {
            "title": "Quarterly results",
            "webinar_start_time": iso(s0),
            "webinar_scheduled_end_time": iso(at(s0, CONTENT_SECONDS)),
        },
    )

    async def sessions(store: SessionStore) -> None:
        desktop, phone = {"user_agent": DESKTOP_CHROME}, {"user_agent": IPHONE_SAFARI}
        await store.track(webinar, "c-1", USER_C, extras=desktop, now_ms=at(s0, 0))
        await store.exit(webinar, "c-1", USER_C, now_ms=at(s0, 97.4))
        await store.track(webinar, "a-1", USER_A, extras=phone, now_ms=at(s0, -10))
        await store.ping(webinar, "a-1", USER_A, "a1", active=False, now_ms=at(s0, 50))
        await store.exit(webinar, "a-1", USER_A, now_ms=at(s0, 95))
        await store.track(webinar, "b-1", USER_B, extras=phone, now_ms=at(s0, 10))
        await store.track(webinar, "b-2", USER_B, extras=desktop, now_ms=at(s0, 30))
        await store.ping(webinar, "b-1", USER_B, "b1", visible=False, now_ms=at(s0, 40))
        await store.ping(webinar, "b-2", USER_B, "b2", visible=False, now_ms=at(s0, 70))
        await store.exit(webinar, "b-2", USER_B, now_ms=at(s0, 80))
        await store.exit(webinar, "b-1", USER_B, now_ms=at(s0, 100))
        await store.track(webinar, "early", "", now_ms=at(s0, -30))
        await store.exit(webinar, "early", "", now_ms=at(s0, 25))
        await store.track(webinar, "shy", "", visible=False, now_ms=at(s0, 20))
        await store.ping(webinar, "shy", "", "s1", visible=False, now_ms=at(s0, 50))
        await store.exit(webinar, "shy", "", now_ms=at(s0, 60))

    seed(settings, sessions)
    add_snapshots(settings, webinar, [(at(s0, -60), 2, 2), (at(s0, 0), 4, 5), (at(s0, 60), 3, 3)])
    return webinar


@pytest.fixture
def organiser(window: BrowserContext, tab: Page) -> Page:
    """A desktop-sized tab whose clock shows Asia/Kolkata time."""
    session = window.new_cdp_session(tab)
    session.send("Emulation.setTimezoneOverride", {"timezoneId": TIMEZONE})
    tab.set_viewport_size(DESKTOP)
    return tab


def sign_in(tab: Page, gateway: str, webinar: UUID, token: str = ADMIN_TOKEN) -> None:
    tab.goto(f"{gateway}/admin/webinars/{webinar}")
    expect(tab.locator("#sign-in")).to_be_visible()
    tab.fill("#sign-in input[name=token]", token)
    tab.click("#sign-in button[type=submit]")


def rows(tab: Page) -> list[dict[str, str]]:
    """The table as shown, once it is."""
    expect(tab.locator("#report")).to_be_visible()
    cells = tab.eval_on_selector_all(
        "#people tbody tr[data-viewer]",
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))",
    )
    return [dict(zip(COLUMNS, row, strict=True)) for row in cells]


def viewers(tab: Page) -> list[str]:
    return [row["viewer"] for row in rows(tab)]


def histogram(tab: Page) -> list[int]:
    """People per bar, 0-10 % of the programme watched first."""
    counts = tab.eval_on_selector_all("#histogram rect", "bars => bars.map(b => b.dataset.count)")
    return [int(n) for n in counts]


def devices(tab: Page) -> dict[str, int]:
    bars = tab.eval_on_selector_all(
        "#devices rect", "bars => bars.map(b => [b.dataset.device, b.dataset.count])"
    )
    return {device: int(n) for device, n in bars}


def summary(tab: Page) -> dict[str, str]:
    pairs = tab.eval_on_selector_all(
        "#summary div", "ds => ds.map(d => [d.firstChild.textContent, d.lastChild.textContent])"
    )
    return dict(pairs)


def test_the_report_as_shown(gateway: str, audience: UUID, organiser: Page, s0: int) -> None:
    tab, webinar = organiser, audience
    watching = httpx2.post(
        f"{gateway}/api/webinars/{webinar}/access/track", json={"session_id": "now-1"}
    )
    assert watching.status_code == 200
    sign_in(tab, gateway, webinar)

    expect(tab.locator("#title")).to_have_text("Quarterly results")
    expect(tab.locator("#live")).to_have_text("1 watching now · 1 open session")
    # A table, a person a row: the formatter would give each cell a line.
    assert rows(tab) == [
        {"viewer": f"user:{USER_C}", "sessions": "1", "watched": "1:37", "active": "1:37",
         "present": "1:37",
         "share": "97.4%", "first": local_text(at(s0, 0)), "last": local_text(at(s0, 97.4)),
         "device": "desktop · Chrome"},
        {"viewer": f"user:{USER_A}", "sessions": "1", "watched": "1:35", "active": "0:50",
         "present": "1:35",
         "share": "95.0%", "first": local_text(at(s0, -10)), "last": local_text(at(s0, 95)),
         "device": "mobile · Safari"},
        {"viewer": f"user:{USER_B}", "sessions": "2", "watched": "1:00", "active": "1:00",
         "present": "1:40",
         "share": "60.0%", "first": local_text(at(s0, 10)), "last": local_text(at(s0, 100)),
         "device": "mobile · Safari"},
        {"viewer": "guest:early", "sessions": "1", "watched": "0:25", "active": "0:25",
         "present": "0:25",
         "share": "25.0%", "first": local_text(at(s0, -30)), "last": local_text(at(s0, 25)),
         "device": "other · Other"},
        {"viewer": "guest:shy", "sessions": "1", "watched": "0:00", "active": "0:00",
         "present": "0:40",
         "share": "0.0%", "first": local_text(at(s0, 20)), "last": local_text(at(s0, 60)),
         "device": "other · Other"},
    ]  # fmt: skip
    assert summary(tab) == {
        "People": "5",
        "Sessions": "6",
        "Average watched": "0:55",  # 277.4 s / 5
        "Median watched": "1:00",
        "90th percentile watched": "1:36",  # 95 + 0.6 * (97.4 - 95)
        "Average present": "1:11",  # 357.4 s / 5
        "Average active": "0:46",  # 232.4 s / 5
        "Average share watched": "55.5%",
        "Programme": "1:40",
    }
    # 0 %, 25 %, 60 %, 95 % and 97.4 % of the programme, in buckets of 10 %.
    assert histogram(tab) == [1, 0, 1, 0, 0, 0, 1, 0, 0, 2]
    # The snapshots only: the webinar is over, its chart does not stretch to now.
    points = tab.eval_on_selector_all(
        "#concurrency circle.point",
        "ps => ps.map(p => [p.dataset.viewers, p.dataset.activeSessions])",
    )
    assert points == [["2", "2"], ["4", "5"], ["3", "3"]]
    assert devices(tab) == {"desktop": 1, "mobile": 2, "tablet": 0, "bot": 0, "other": 2}
    expect(tab.locator("#browsers")).to_have_text("Browsers: Other 2 · Safari 2 · Chrome 1")

    # The live count follows within a refresh.
    left = httpx2.post(
        f"{gateway}/api/webinars/{webinar}/access/exit", json={"session_id": "now-1"}
    )
    assert left.status_code == 204
    expect(tab.locator("#live")).to_have_text("0 watching now · 0 open sessions")


def sort_by(tab: Page, column: str) -> list[str]:
    """Clicks a column's header; returns the viewers in the order shown."""
    tab.click(f"#people th button[data-sort={column}]")
    return viewers(tab)


def test_sorting_by_a_column_header(gateway: str, audience: UUID, organiser: Page) -> None:
    """Names and times ascending first, numbers largest first; a second click reverses;
    ties by viewer."""
    a, b, c = (f"user:{user}" for user in (USER_A, USER_B, USER_C))
    sign_in(organiser, gateway, audience)
    assert viewers(organiser) == [c, a, b, "guest:early", "guest:shy"]  # most watched first

    by_name = ["guest:early", "guest:shy", a, b, c]
    assert sort_by(organiser, "viewer") == by_name
    header = organiser.locator("#people th:has(button[data-sort=viewer])")
    expect(header).to_have_attribute("aria-sort", "ascending")
    assert sort_by(organiser, "viewer") == by_name[::-1]
    expect(header).to_have_attribute("aria-sort", "descending")
    assert sort_by(organiser, "present") == [b, c, a, "guest:shy", "guest:early"]
    assert sort_by(organiser, "active") == [c, b, a, "guest:early", "guest:shy"]
    assert sort_by(organiser, "sessions") == [b, "guest:early", "guest:shy", a, c]
    assert sort_by(organiser, "first") == ["guest:early", a, c, b, "guest:shy"]
    assert sort_by(organiser, "last") == ["guest:early", "guest:shy", a, c, b]
    assert sort_by(organiser, "share") == [c, a, b, "guest:early", "guest:shy"]
    assert sort_by(organiser, "share") == ["guest:shy", "guest:early", b, a, c]


def ms(iso_time: str) -> int:
    return round(datetime.fromisoformat(iso_time).timestamp() * 1000)


def utc_hint(at_ms: int) -> str:
    """What the page shows under a time field: the instant in UTC."""
    return "= " + iso(at_ms)[:19].replace("T", " ") + " UTC"


def test_a_corrected_end_is_saved_and_reported(
    gateway: str, audience: UUID, organiser: Page, s0: int
) -> None:
    tab, webinar = organiser, audience
    sign_in(tab, gateway, webinar)
    form = tab.locator("#schedule")
    # The schedule as stored, in the browser's zone.
    expect(form.locator("[name=webinar_start_time]")).to_have_value(local_input(s0))
    expect(form.locator("[name=webinar_scheduled_end_time]")).to_have_value(
        local_input(at(s0, CONTENT_SECONDS))
    )
    expect(form.locator("[name=webinar_actual_end_time]")).to_have_value("")
    expect(form.locator(".utc[data-for=webinar_start_time]")).to_have_text(utc_hint(s0))
    sort_by(tab, "present")

    # The organiser pressed "end" late: the programme really ended 50 s in.
    generated = tab.get_attribute("#report", "data-generated-at")
    form.locator("[name=webinar_actual_end_time]").fill(local_input(at(s0, 50)))
    expect(form.locator(".utc[data-for=webinar_actual_end_time]")).to_have_text(
        utc_hint(at(s0, 50))
    )
    form.locator("button[type=submit]").click()
    expect(tab.locator("#report")).not_to_have_attribute("data-generated-at", generated or "")

    # Re-rendered, still by present (ties by viewer).
    assert [(r["viewer"], r["watched"], r["present"], r["share"]) for r in rows(tab)] == [
        (f"user:{USER_A}", "0:50", "0:50", "100.0%"),
        (f"user:{USER_B}", "0:40", "0:50", "80.0%"),
        (f"user:{USER_C}", "0:50", "0:50", "100.0%"),
        ("guest:shy", "0:00", "0:30", "0.0%"),
        ("guest:early", "0:25", "0:25", "50.0%"),
    ]
    assert histogram(tab) == [1, 0, 0, 0, 0, 1, 0, 0, 1, 2]
    assert summary(tab)["Programme"] == "0:50"
    sort_by(tab, "watched")
    screenshots(tab, "organiser")

    # The JSON API reports with what the form sent; the start went back as it was.
    stored = api(gateway, webinar).json()
    assert ms(stored["webinar_actual_end_time"]) == at(s0, 50)
    assert ms(stored["webinar_start_time"]) == s0
    report = api(gateway, webinar, "/stats/watch-time").json()
    assert report["content_duration_seconds"] == 50.0
    assert {
        p["viewer"]: (p["watched_seconds"], p["present_seconds"]) for p in report["viewers"]
    } == {
        f"user:{USER_A}": (50.0, 50.0),
        f"user:{USER_C}": (50.0, 50.0),
        f"user:{USER_B}": (40.0, 50.0),
        "guest:early": (25.0, 25.0),
        "guest:shy": (0.0, 30.0),
    }


def download(chromium: Browser, tab: Page, button: str, folder: Path) -> tuple[str, bytes]:
    """The name and content of the file Chromium saves when ``button`` is clicked.
    Playwright's own download events need a context it made, so this asks over CDP."""
    cdp = chromium.new_browser_cdp_session()
    behaviour = {"behavior": "allowAndName", "downloadPath": str(folder), "eventsEnabled": True}
    cdp.send("Browser.setDownloadBehavior", behaviour)
    names: dict[str, str] = {}
    done: list[str] = []

    def progress(event: dict[str, str]) -> None:
        if event["state"] == "completed":
            done.append(event["guid"])

    cdp.on("Browser.downloadWillBegin", lambda e: names.update({e["guid"]: e["suggestedFilename"]}))
    cdp.on("Browser.downloadProgress", progress)
    tab.click(button)
    # Playwright delivers CDP events while it waits on the page, not during a sleep.
    guid = eventually(lambda: done and done[0], "a completed download", tab.wait_for_timeout)
    return names[guid], (folder / guid).read_bytes()


def test_the_csv_download_is_the_api_s_csv(
    gateway: str, audience: UUID, organiser: Page, chromium: Browser, tmp_path: Path
) -> None:
    sign_in(organiser, gateway, audience)
    expect(organiser.locator("#people tbody tr")).to_have_count(5)
    name, content = download(chromium, organiser, "#csv", tmp_path)
    assert name == f"watch-time-{audience}.csv"
    assert content == api(gateway, audience, "/stats/watch-time?format=csv").content
    assert content.count(b"\r\n") == 6  # the header and five people


def test_a_refused_token_asks_again_and_shows_nothing(
    gateway: str, audience: UUID, organiser: Page
) -> None:
    sign_in(organiser, gateway, audience, token="not-the-admin-token")
    expect(organiser.locator("#message")).to_have_text(
        "The admin token was refused (HTTP 403): enter it again."
    )
    expect(organiser.locator("#sign-in")).to_be_visible()
    expect(organiser.locator("#dashboard")).to_be_hidden()
    assert organiser.evaluate("sessionStorage.length") == 0

    organiser.fill("#sign-in input[name=token]", ADMIN_TOKEN)
    organiser.click("#sign-in button[type=submit]")
    expect(organiser.locator("#people tbody tr")).to_have_count(5)
    assert organiser.evaluate("sessionStorage.getItem('watchtime.adminToken')") == ADMIN_TOKEN
    organiser.reload()  # the token lives as long as the tab
    expect(organiser.locator("#people tbody tr")).to_have_count(5)
    expect(organiser.locator("#sign-in")).to_be_hidden()


def test_end_now_sets_the_actual_end_once(gateway: str, organiser: Page, s0: int) -> None:
    webinar = uuid4()
    put_schedule(gateway, webinar, {"title": "Live now", "webinar_start_time": iso(s0)})
    questions: list[str] = []

    def accept(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    organiser.on("dialog", accept)
    sign_in(organiser, gateway, webinar)
    end_now = organiser.locator("#end-now")
    expect(end_now).to_be_enabled()
    end_now.click()
    expect(end_now).to_be_disabled()

    assert len(questions) == 1 and questions[0].startswith("End the webinar now?")
    ended_ms = ms(api(gateway, webinar).json()["webinar_actual_end_time"])
    expect(organiser.locator("#message")).to_have_text(f"Webinar ended at {local_text(ended_ms)}.")
    expect(organiser.locator("[name=webinar_actual_end_time]")).to_have_value(local_input(ended_ms))


def test_a_new_webinar_is_created_from_the_page(gateway: str, organiser: Page, s0: int) -> None:
    webinar = uuid4()
    sign_in(organiser, gateway, webinar)
    expect(organiser.locator("#message")).to_have_text(
        "There is no webinar with this id yet: fill in its schedule and save to create it."
    )
    expect(organiser.locator("#report")).to_be_hidden()
    expect(organiser.locator("#end-now")).to_be_disabled()

    form = organiser.locator("#schedule")
    form.locator("[name=title]").fill("Product launch")
    form.locator("[name=webinar_start_time]").fill(local_input(s0))
    form.locator("[name=webinar_scheduled_end_time]").fill(local_input(at(s0, 3600)))
    form.locator("[name=post_window_minutes]").fill("15")
    form.locator("button[type=submit]").click()

    expect(organiser.locator("#report")).to_be_visible()
    expect(organiser.locator("#title")).to_have_text("Product launch")
    expect(organiser.locator("#end-now")).to_be_enabled()
    created = api(gateway, webinar).json()
    assert created | {"created_at": None, "updated_at": None} == {
        "id": str(webinar),
        "title": "Product launch",
        "webinar_start_time": iso(s0).replace("+00:00", "Z"),
        "webinar_scheduled_end_time": iso(at(s0, 3600)).replace("+00:00", "Z"),
        "webinar_actual_end_time": None,
        "post_window_minutes": 15,
        "created_at": None,
        "updated_at": None,
    }
    expect(organiser.locator("#message")).to_have_text(
        f"Schedule saved at {local_text(ms(created['updated_at']))}."
    )
    # Nobody yet: an empty table and empty charts.
    assert rows(organiser) == []
    expect(organiser.locator("#people tbody")).to_have_text("Nobody yet.")
    assert histogram(organiser) == [0] * 10
    assert summary(organiser)["People"] == "0"
    assert summary(organiser)["Programme"] == "1:00:00"
    expect(organiser.locator("#concurrency")).to_have_text(
        "No snapshots yet: one a minute while people watch."
    )


def test_a_live_webinar_s_charts_follow_the_live_count(
    gateway: str, settings: Settings, organiser: Page, sync_redis: Redis
) -> None:
    """No button pressed: the concurrency chart ends at each live count, and the report
    of a webinar still running reloads by itself."""
    seconds, _ = sync_redis.time()
    now = int(seconds) * 1000
    webinar = uuid4()
    put_schedule(gateway, webinar, {"title": "On air", "webinar_start_time": iso(now - 100_000)})

    async def phone(store: SessionStore) -> None:
        extras = {"user_agent": IPHONE_SAFARI}
        await store.track(webinar, "phone", "", extras=extras, now_ms=now - 90_000)
        await store.ping(webinar, "phone", "", "1", now_ms=now - 5000)

    # Later, at the Redis clock's now: the flusher has written everything before it.
    async def desk(store: SessionStore) -> None:
        await store.track(webinar, "desk", "", extras={"user_agent": DESKTOP_CHROME})

    seed(settings, phone)
    sign_in(organiser, gateway, webinar)
    expect(organiser.locator("#people tbody tr[data-viewer]")).to_have_count(1)
    expect(organiser.locator("#live")).to_have_text("1 watching now · 1 open session")
    expect(organiser.locator("#concurrency circle.point.live")).to_have_attribute(
        "data-viewers", "1"
    )
    assert devices(organiser)["mobile"] == 1

    seed(settings, desk)
    add_snapshots(settings, webinar, [(now - 60_000, 1, 1)])
    later = {"timeout": 6 * PATIENCE_SECONDS * 1000 / 3}  # two live refreshes and a report
    expect(organiser.locator("#people tbody tr[data-viewer]")).to_have_count(2, **later)
    expect(organiser.locator("#live")).to_have_text("2 watching now · 2 open sessions")
    expect(organiser.locator("#devices rect[data-device=desktop]")).to_have_attribute(
        "data-count", "1"
    )
    points = organiser.eval_on_selector_all(
        "#concurrency circle.point",
        "ps => ps.map(p => [p.dataset.viewers, p.classList.contains('live')])",
    )
    assert points == [["1", False], ["2", True]]
    assert summary(organiser)["People"] == "2"
