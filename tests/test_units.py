"""Unit tests of small pure functions the HTTP and flusher tests only reach indirectly."""

from __future__ import annotations

import base64
import json
import struct

import pytest

from flusher.rows import intervals_literal
from gateway.auth import verify_hs256
from gateway.errors import GatewayError
from gateway.report_queries import Cursor, Window, decode_cursor, encode_cursor
from loadtest.tokens import viewer_token
from watchtime import fields
from watchtime.sessions import intervals

SECRET = "unit-secret"


def _part(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_a_signed_token_gives_its_claims() -> None:
    token = viewer_token("u-1", SECRET, ttl_seconds=None, nbf=5)
    assert verify_hs256(token, SECRET.encode()) == {"sub": "u-1", "nbf": 5}


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        ("not-a-jwt", "token is not a JWT"),
        ("a.b", "token is not a JWT"),
        (f"{_part({'alg': 'HS256'})}.a.sig", "token is not base64url"),
        (f"{_part({'alg': 'none'})}.{_part({'sub': 'u'})}.", "only HS256 tokens are accepted"),
        (f"{_part(['HS256'])}.{_part({'sub': 'u'})}.x", "only HS256 tokens are accepted"),
        (f"{_part({'alg': 'HS256'})}.{_part([1])}.x", "only HS256 tokens are accepted"),
        (f"{_part({'alg': 'HS256'})}.{_part({'sub': 'u'})}.AAAA", "bad token signature"),
    ],
)
def test_a_token_that_is_not_a_valid_hs256_jwt_is_refused(token: str, detail: str) -> None:
    with pytest.raises(GatewayError) as refused:
        verify_hs256(token, SECRET.encode())
    assert (refused.value.status, refused.value.error, refused.value.detail) == (
        401,
        "invalid_token",
        detail,
    )


def test_a_token_signed_with_another_secret_is_refused() -> None:
    with pytest.raises(GatewayError, match="bad token signature"):
        verify_hs256(viewer_token("u-1", "another"), SECRET.encode())


def test_intervals_become_a_multirange_literal() -> None:
    assert intervals_literal([(1000, 2500), (-5, 7)]) == "{[1000,2500),[-5,7)}"
    assert intervals_literal([]) == "{}"


def test_a_sessions_intervals_are_its_log_then_its_current_run() -> None:
    log = struct.pack(">qq", 1000, 2500) + struct.pack(">qq", 3000, 3500)
    assert intervals(log, "4000", "4700") == [(1000, 2500), (3000, 3500), (4000, 4700)]
    assert intervals(log, "4000", "4000") == [(1000, 2500), (3000, 3500)]  # an empty run
    assert intervals(b"", None, None) == []


def test_a_cursor_decodes_to_the_cursor_it_was_made_from() -> None:
    cursor = Cursor(Window(1000, 61_000, 3_661_000, 30_000), "user:u-7")
    assert decode_cursor(encode_cursor(cursor)) == cursor


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64!",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'{"window": [1, 2, 3, 4], "after": ""}').decode(),
        base64.urlsafe_b64encode(b'[[1, 2, 3], ""]').decode(),
        base64.urlsafe_b64encode(b'[[1, 2, 3, "4"], ""]').decode(),
    ],
)
def test_anything_but_a_cursor_is_refused_as_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"^not a report cursor$"):
        decode_cursor(text)


def test_a_packed_state_wins_over_an_older_releases_fields_whatever_their_order() -> None:
    """A session packed at its first change after an upgrade keeps the older release's
    fields beside `state` until it retires; a hash's field order depends on its encoding."""
    packed = fields._STATE_STRUCT.pack(5000, 3000, 1000, 5000, 1000, 5000, 4, 6, b"1", b"0")
    older = [b"watched_ms", b"999", b"visible", b"0", b"active", b"1", b"version", b"2"]
    for flat in ([b"state", packed, *older], [*older, b"state", packed]):
        hot = fields.hot([b"user_id", b"", b"entered_at", b"1000", *flat])
        assert hot.watched_ms == 3000
        assert (hot.version, hot.ping_count, hot.visible, hot.active) == (6, 4, True, False)
        assert (hot.run_from, hot.run_to, hot.entered_at, hot.user_id) == (1000, 5000, 1000, "")
