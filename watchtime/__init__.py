"""The state contract shared by gateway, flusher and sweeper: Redis keys, Lua scripts,
settings, schema."""
