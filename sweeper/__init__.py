"""The sweeper: closes sessions whose last heartbeat is older than the stale limit."""
