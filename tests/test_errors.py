"""What counts as a backend outage: the loops back off from it, the API answers 503."""

import asyncpg
import pytest
from redis.exceptions import ConnectionError, SlotNotCoveredError

from watchtime.errors import BackendUnavailable, postgres_boundary, redis_boundary


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        asyncpg.exceptions.AdminShutdownError(
            "terminating connection due to administrator command"
        ),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
    ],
)
def test_a_postgres_going_away_is_an_outage(error: Exception):
    with pytest.raises(BackendUnavailable, match=r"^postgres: "), postgres_boundary():
        raise error


def test_a_postgres_refusing_a_statement_is_not_an_outage():
    with pytest.raises(asyncpg.exceptions.UniqueViolationError), postgres_boundary():
        raise asyncpg.exceptions.UniqueViolationError("duplicate key")


@pytest.mark.parametrize("error", [ConnectionError("reset"), SlotNotCoveredError("slot 42")])
def test_a_redis_going_away_is_an_outage(error: Exception):
    with pytest.raises(BackendUnavailable, match=r"^redis: "), redis_boundary():
        raise error


@pytest.mark.anyio
async def test_a_loop_outlives_its_failures_and_stops_on_request():
    import asyncio

    from watchtime import scheduler

    calls: list[str] = []
    stop = asyncio.Event()

    async def job() -> bool:
        calls.append("run")
        if len(calls) == 1:
            raise BackendUnavailable("postgres", "down")
        if len(calls) == 2:
            raise ValueError("a bug in one batch")
        stop.set()
        return False

    await asyncio.wait_for(scheduler.every("test", 0.01, job, stop), timeout=10)
    assert calls == ["run", "run", "run"]
