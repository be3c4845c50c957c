"""The Lua scripts of the state contract, registered once per Redis client.

Each script is the session field lists (``fields.lua_constants``), ``lib.lua`` and its
own body, so the fields and the session rules are written once. redis-py's registered
scripts use EVALSHA and reload on NOSCRIPT.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from redis.commands.core import AsyncScript

from watchtime.client import RedisClient
from watchtime.fields import lua_constants


@cache
def source(name: str) -> str:
    lua = files("watchtime") / "lua"
    code = (lua / "lib.lua").read_text() + (lua / f"{name}.lua").read_text()
    return lua_constants(code) + code


class Scripts:
    """The registered scripts; call as ``await scripts.ping(keys=..., args=...)``."""

    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self.track = client.register_script(source("track"))
        self.ping = client.register_script(source("ping"))
        self.exit = client.register_script(source("exit"))
        self.presence = client.register_script(source("presence"))
        self.live = client.register_script(source("live"))
        self.pending = client.register_script(source("pending"))
        self.ack = client.register_script(source("ack"))
        self.atomically = client.register_script(source("atomically"))
        self.sweep = client.register_script(source("sweep"))
        self.lease = client.register_script(source("lease"))
        self.rest = client.register_script(source("rest"))

    async def load(self) -> None:
        """Loads every script now (on every primary of a cluster), so that no call meets
        NOSCRIPT first; one that does later, after a restart or a failover, reloads it."""
        for script in vars(self).values():
            if isinstance(script, AsyncScript):
                await self.client.script_load(script.script)
