"""The direct path's PostgreSQL connections (``db/direct_pool.py``) on a real server: never
more than ``max_size`` open, a request that finds them all busy waits its turn (or answers
``Unavailable`` after the connect timeout), and a connection left in an unknown state is
dropped, not handed to the next request."""

from __future__ import annotations

import asyncio
import time

import pytest

from billgate.db.direct import DirectError, PostgresDirect, Statement, Unavailable
from billgate.db.direct_pool import DirectPool, PoolClosed
from testdb import PG_URL

pytestmark = pytest.mark.timeout(60)
needs_postgresql = pytest.mark.skipif(not PG_URL, reason="needs BILLGATE_TEST_DATABASE_URL")

SLEEP = Statement("SELECT pg_backend_pid(), pg_sleep(:seconds)")


async def backend_after(direct: PostgresDirect, seconds: float) -> int:
    async with direct.read() as conn:
        row = await conn.fetchone(SLEEP, seconds=seconds)
    assert row is not None
    return int(row[0])


@needs_postgresql
async def test_thirty_requests_share_three_connections_and_all_answer() -> None:
    direct = PostgresDirect(PG_URL, max_size=3, connect_timeout=10)
    peak = 0

    async def one() -> int:
        nonlocal peak
        pid = await backend_after(direct, 0.02)
        peak = max(peak, direct._get_pool().size)
        return pid

    try:
        pids = await asyncio.gather(*(one() for _ in range(30)))
    finally:
        await direct.aclose()
    assert len(pids) == 30
    assert len(set(pids)) <= 3 and peak <= 3


@needs_postgresql
async def test_a_request_finding_every_connection_busy_waits_then_answers_unavailable() -> None:
    direct = PostgresDirect(PG_URL, max_size=1, connect_timeout=0.5)
    try:
        holder = asyncio.create_task(backend_after(direct, 2))
        await asyncio.sleep(0.3)  # the holder has the only connection
        started = time.monotonic()
        with pytest.raises(Unavailable, match="no database connection within 0.5 s"):
            await backend_after(direct, 0)
        assert 0.4 <= time.monotonic() - started < 1.5
        first = await holder
        assert await backend_after(direct, 0) == first  # the one connection, reused
    finally:
        await direct.aclose()


@needs_postgresql
async def test_waiting_requests_get_the_connection_in_turn() -> None:
    direct = PostgresDirect(PG_URL, max_size=1, connect_timeout=10)
    try:
        pids = await asyncio.gather(*(backend_after(direct, 0.05) for _ in range(6)))
        assert len(set(pids)) == 1 and direct._get_pool().size == 1
    finally:
        await direct.aclose()


@needs_postgresql
async def test_a_request_cancelled_mid_statement_drops_its_connection() -> None:
    direct = PostgresDirect(PG_URL, max_size=1, connect_timeout=5)
    try:
        first = await backend_after(direct, 0)
        cancelled = asyncio.create_task(backend_after(direct, 5))
        await asyncio.sleep(0.3)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert direct._get_pool().size == 0  # the slot is free for a fresh connection
        started = time.monotonic()
        assert await backend_after(direct, 0) != first
        assert time.monotonic() - started < 2  # not behind the cancelled pg_sleep(5)
    finally:
        await direct.aclose()


@needs_postgresql
async def test_a_statement_error_keeps_the_connection_and_the_slot() -> None:
    direct = PostgresDirect(PG_URL, max_size=1, connect_timeout=5)
    try:
        first = await backend_after(direct, 0)
        with pytest.raises(DirectError):
            async with direct.read() as conn:
                await conn.fetchall(Statement("SELECT no_such_column FROM pg_class"))
        assert await backend_after(direct, 0) == first
        with pytest.raises(DirectError):
            async with direct.write() as conn:
                await conn.fetchall(Statement("SELECT 1/0"))
        assert await backend_after(direct, 0) == first  # rolled back, not in a transaction
    finally:
        await direct.aclose()


@needs_postgresql
async def test_a_failed_connection_attempt_frees_its_slot() -> None:
    unreachable = PostgresDirect("postgresql+asyncpg://postgres@127.0.0.1:1/none", max_size=1,
                                 connect_timeout=1)
    try:
        with pytest.raises(DirectError):
            await backend_after(unreachable, 0)
        assert unreachable._get_pool().size == 0
    finally:
        await unreachable.aclose()


class _Connection:
    """A stand-in for an asyncpg connection in the pool's own bookkeeping tests: these
    races (a hand-over in the same loop turn as a cancellation) cannot be timed with a
    real server, and no statement runs."""

    def __init__(self) -> None:
        self.closed = False

    def is_closed(self) -> bool:
        return self.closed

    def is_in_transaction(self) -> bool:
        return False

    def terminate(self) -> None:
        self.closed = True

    async def close(self, **_: float) -> None:
        self.closed = True


def _pool(max_size: int = 1, timeout: float = 5) -> DirectPool:
    async def connect(within: float) -> _Connection:
        return _Connection()

    return DirectPool(connect, max_size=max_size, timeout=timeout)


async def test_a_connection_handed_to_a_request_cancelled_meanwhile_is_not_lost() -> None:
    pool = _pool()
    held = await pool.acquire()
    waiting = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0)  # the task is queued for the connection
    pool.release(held)  # handed over: the task will wake with it...
    waiting.cancel()  # ...but is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert pool.size == 1
    assert await asyncio.wait_for(pool.acquire(), 1) is held  # passed on, not leaked


async def test_closing_the_pool_answers_the_waiting_requests() -> None:
    pool = _pool()
    held = await pool.acquire()
    waiting = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0)
    await pool.close()
    with pytest.raises(PoolClosed):
        await waiting
    pool.release(held)
    assert held.closed and pool.size == 0
