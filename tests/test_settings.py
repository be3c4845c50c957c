"""R-OPS: every setting is read from its variable, and a bad value stops the service at
start with a message that names the variable, the value and what was expected."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from watchtime.settings import Settings, SettingsError

FIELDS = {field.name: field.metadata for field in dataclasses.fields(Settings)}
NUMBERS = [name for name, meta in FIELDS.items() if meta["low"] is not None]
BOUNDED = [name for name, meta in FIELDS.items() if meta["high"] is not None]


def variable(name: str) -> str:
    return str(FIELDS[name]["variable"])


@pytest.mark.parametrize("name", NUMBERS)
def test_a_number_that_is_not_one_is_refused(name: str) -> None:
    with pytest.raises(SettingsError, match=f"^{variable(name)}='ten': expected a number$"):
        Settings.from_env({variable(name): "ten"})


@pytest.mark.parametrize("name", NUMBERS)
def test_a_number_below_its_bound_is_refused(name: str) -> None:
    low = FIELDS[name]["low"]
    with pytest.raises(SettingsError, match=f"^{variable(name)}='-1': expected a number "):
        Settings.from_env({variable(name): "-1"})
    shortest = {"SESSION_HEARTBEAT_INTERVAL_SECONDS": "0.001"}  # the stale limit's own floor
    assert getattr(Settings.from_env(shortest | {variable(name): str(low)}), name) == low


@pytest.mark.parametrize("name", BOUNDED)
def test_a_number_above_its_bound_is_refused(name: str) -> None:
    high = FIELDS[name]["high"]
    expected = f"expected a number between {FIELDS[name]['low']} and {high}$"
    with pytest.raises(SettingsError, match=f"^{variable(name)}='{high + 1}': {expected}"):
        Settings.from_env({variable(name): str(high + 1)})


def test_an_integer_setting_refuses_a_fraction() -> None:
    with pytest.raises(SettingsError, match=r"^PORT='80.5': expected a number$"):
        Settings.from_env({"PORT": "80.5"})


def test_a_flag_and_a_choice_name_what_they_accept() -> None:
    with pytest.raises(SettingsError, match=r"^ALLOW_GUESTS='maybe': expected true or false$"):
        Settings.from_env({"ALLOW_GUESTS": "maybe"})
    with pytest.raises(SettingsError, match=r"^LOG_LEVEL='LOUD': expected one of DEBUG, INFO, "):
        Settings.from_env({"LOG_LEVEL": "loud"})


def test_values_are_parsed_by_the_fields_type_and_blanks_keep_defaults() -> None:
    env = {
        "PORT": " 9000 ",
        "REDIS_CLUSTER": "yes",
        "CORS_ALLOW_ORIGINS": "https://a, ,https://b",
        "PROMETHEUS_MULTIPROC_DIR": "/tmp/m",
        "LOG_FORMAT": "JSON",
        "REDIS_URL": " ",
    }
    settings = Settings.from_env(env)
    assert (settings.port, settings.redis_cluster, settings.log_format) == (9000, True, "json")
    assert settings.cors_allow_origins == ("https://a", "https://b")
    assert settings.metrics_dir == Path("/tmp/m")
    assert settings.redis_url is None
    assert Settings.from_env({}) == Settings()


def test_stale_limit_shorter_than_the_heartbeat_is_refused() -> None:
    env = {"SESSION_HEARTBEAT_INTERVAL_SECONDS": "60", "SESSION_STALE_AFTER_SECONDS": "30"}
    with pytest.raises(SettingsError, match=r"^SESSION_STALE_AFTER_SECONDS=30: expected at least"):
        Settings.from_env(env)
