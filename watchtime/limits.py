"""Bounds on one session's Redis state, which the gateway and the scripts apply."""

# A tab that flips visibility more often than this has its later gaps merged into
# its last watched interval: bounded memory, and never more credit than a client
# could claim by simply reporting itself visible.
MAX_INTERVALS_PER_SESSION = 256

# A header longer than this is clipped before it becomes a session detail.
MAX_EXTRA_BYTES = 512
