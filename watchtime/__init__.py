"""The state contract shared by gateway, flusher and sweeper: Redis keys, Lua scripts,
settings, schema."""

from importlib.metadata import version

# The one version source is pyproject.toml; the installed metadata carries it.
__version__ = version("webinar-watchtime")
