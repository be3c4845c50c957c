"""The key contract: every key of a webinar in one hash slot, in the scripts' order."""

from uuid import uuid4

from watchtime import keys

S = "session_1800000000000_abc123"


def test_session_keys_are_the_named_keys_in_script_order():
    w = uuid4()
    assert keys.session_keys(w, S) == [
        keys.meta(w),
        keys.active(w),
        keys.presence(w),
        keys.closed(w),
        keys.tabs(w),
        keys.guests(w),
        keys.session(w, S),
        keys.extras(w, S),
        keys.intervals(w, S),
        keys.active_intervals(w, S),
    ]
    assert all(k.startswith(f"wt:{{{w}}}:") for k in keys.session_keys(w, S))  # one slot
