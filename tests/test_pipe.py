"""The batcher's own Redis connection: login, database, error replies, a silent server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import hiredis
import pytest
from redis.asyncio import Redis
from redis.exceptions import (
    AuthenticationError,
    ConnectionError,
    MovedError,
    NoScriptError,
    ResponseError,
    TimeoutError,
)
from support import T0, with_settings

from watchtime import keys
from watchtime.batching import ScriptBatcher
from watchtime.client import redis_client
from watchtime.embedded import RedisServer, free_port
from watchtime.pipe import Address, open_pipe, reply_error
from watchtime.scripts import Scripts
from watchtime.sessions import Outcome, SessionStore
from watchtime.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
async def acl_user(redis: Redis) -> AsyncIterator[tuple[str, str]]:
    await redis.acl_setuser(
        "pipe", enabled=True, passwords=["+secret"], keys=["*"], commands=["+@all"]
    )
    yield "pipe", "secret"
    await redis.acl_deluser("pipe")


def local(port: int) -> Address:
    return Address("127.0.0.1", port, None, None, None, None, 0)


def server_of(settings: Settings) -> str:
    return (settings.redis_url or "").split("//", 1)[1].split("/", 1)[0]


async def test_logs_in_and_uses_the_database_of_the_url(redis, settings: Settings, acl_user):
    user, password = acl_user
    url = f"redis://{user}:{password}@{server_of(settings)}/3"
    client = redis_client(with_settings(settings, redis_url=url))
    batcher = ScriptBatcher(client, settings.redis_timeout_seconds)
    webinar = uuid4()
    try:
        await client.flushdb()
        await client.hset(keys.meta(webinar), "start", T0)
        store = SessionStore(Scripts(client), settings, batcher)
        assert await store.track(webinar, "s1", "", now_ms=T0) == Outcome("created")
        assert await client.hget(keys.session(webinar, "s1"), "entered_at") == str(T0).encode()
        assert await redis.exists(keys.session(webinar, "s1")) == 0  # not in database 0
    finally:
        await batcher.aclose()
        await client.flushdb()
        await client.aclose()


async def test_a_unix_socket_url(settings: Settings, tmp_path: Path):
    socket_path = tmp_path / "redis.sock"
    server = RedisServer(tmp_path / "redis", extra=("--unixsocket", str(socket_path)))
    server.start()
    client = redis_client(with_settings(settings, redis_url=f"unix://{socket_path}?db=2"))
    batcher, webinar = ScriptBatcher(client, settings.redis_timeout_seconds), uuid4()
    try:
        await client.hset(keys.meta(webinar), "start", T0)
        store = SessionStore(Scripts(client), settings, batcher)
        assert await store.track(webinar, "s1", "", now_ms=T0) == Outcome("created")
        assert await client.exists(keys.session(webinar, "s1")) == 1
    finally:
        await batcher.aclose()
        await client.aclose()
        server.stop()


async def test_a_wrong_password_is_refused(settings: Settings, acl_user):
    port = int(server_of(settings).rsplit(":", 1)[1])
    wrong = local(port)._replace(username=acl_user[0], password="wrong")
    with pytest.raises(AuthenticationError):
        await open_pipe(wrong, max_batch=8, seconds=5)


async def test_nothing_listening_is_a_connection_error():
    with pytest.raises(ConnectionError):
        await open_pipe(local(free_port()), max_batch=8, seconds=5)


async def test_a_server_that_never_answers_fails_what_it_owes():
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads everything, answers nothing

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        pipe = await open_pipe(local(port), max_batch=8, seconds=0.2)
        reply = pipe.send(hiredis.pack_command(("PING",)))
        with pytest.raises(TimeoutError):  # redis-py's, not the test's own deadline
            async with asyncio.timeout(5):
                await reply
        with pytest.raises(TimeoutError):  # and the pipe is known to be dead
            pipe.send(hiredis.pack_command(("PING",)))


def test_error_replies_become_redis_py_errors():
    moved = reply_error("MOVED 3999 127.0.0.1:6381")
    assert isinstance(moved, MovedError)
    assert (moved.slot_id, moved.host, moved.port) == (3999, "127.0.0.1", 6381)
    assert type(reply_error("NOSCRIPT No matching script.")) is NoScriptError
    other = reply_error("ERR something else")
    assert type(other) is ResponseError
    assert str(other) == "ERR something else"
