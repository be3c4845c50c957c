"""A user agent as the report's device class and browser, through ua-parser's rules.

ua-parser names the browser, the operating system and the device model; the device
class (R-EXT-5) is read off those: its crawler marker (and headless browsers), the
tablet families, and the operating systems of phones. An iPad that asks for desktop
sites (iPadOS 13 on) sends a Mac's user agent and is counted as a desktop: nothing in
the string tells them apart.
"""

from __future__ import annotations

import enum
import functools

import ua_parser


class Device(enum.StrEnum):
    DESKTOP = "desktop"
    MOBILE = "mobile"
    TABLET = "tablet"
    BOT = "bot"
    OTHER = "other"


# ua-parser's names: its device family of every crawler, and operating system families.
SPIDER = "Spider"
MOBILE_OS = frozenset(
    {
        "iOS",
        "Android",
        "Windows Phone",
        "BlackBerry OS",
        "KaiOS",
        "Firefox OS",
        "Symbian OS",
        "Tizen",
        "HarmonyOS",
    }
)
DESKTOP_OS = frozenset(
    {
        "Windows",
        "Mac OS X",
        "Linux",
        "Ubuntu",
        "Chrome OS",
        "Fedora",
        "Debian",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
        "Solaris",
    }
)
# Headless browsers are automation, whatever device they claim.
AUTOMATION = frozenset({"HeadlessChrome", "PhantomJS"})
OTHER_BROWSER = "Other"
# Distinct user agents remembered: a webinar's audience has far fewer than its people.
CACHE_SIZE = 20_000


def _is_tablet(result: ua_parser.DefaultedResult, user_agent: str) -> bool:
    family, brand = result.device.family, result.device.brand or ""
    if family == "iPad" or "Tablet" in brand or family.startswith("Kindle"):
        return True
    # Android phones say "Mobile"; Android tablets do not (Google's rule for sites).
    return result.os.family == "Android" and "Mobile" not in user_agent


def _device(result: ua_parser.DefaultedResult, user_agent: str) -> Device:
    if result.device.family == SPIDER or result.user_agent.family in AUTOMATION:
        return Device.BOT
    if _is_tablet(result, user_agent):
        return Device.TABLET
    if result.os.family in MOBILE_OS:
        return Device.MOBILE
    if result.os.family in DESKTOP_OS:
        return Device.DESKTOP
    return Device.OTHER


def _browser(result: ua_parser.DefaultedResult) -> str:
    """The family without "Mobile": the device class says that already (Mobile Safari
    is Safari, Chrome Mobile is Chrome)."""
    return " ".join(w for w in result.user_agent.family.split() if w != "Mobile")


@functools.lru_cache(maxsize=CACHE_SIZE)
def classify(user_agent: str | None) -> tuple[Device, str]:
    """(device class, browser) of a user agent; no user agent is other, Other."""
    if not user_agent:
        return Device.OTHER, OTHER_BROWSER
    result = ua_parser.parse(user_agent).with_defaults()
    return _device(result, user_agent), _browser(result) or OTHER_BROWSER
