"""Garbage left by large request bodies is collected once it adds up, not after hundreds
of requests (a serving process collects young objects rarely: ops/gc_tuning.py)."""

from __future__ import annotations

import gc
import weakref

from billgate.ops.large_bodies import LargeBodyDebt


class Body:
    def __init__(self) -> None:
        self.data = bytearray(1024 * 1024)
        self.cycle = self  # what an exception's traceback or a context does to a body


def garbage_body() -> weakref.ref[Body]:
    return weakref.ref(Body())


def test_large_bodies_past_the_limit_free_their_cycles() -> None:
    gc.disable()  # as if the young-collection threshold had not been reached
    try:
        debt = LargeBodyDebt(limit=4 * 1024 * 1024)
        bodies = [garbage_body() for _ in range(4)]
        for _ in range(3):
            debt.record(1024 * 1024)
        assert all(b() is not None for b in bodies)  # below the limit: nothing collected
        debt.record(1024 * 1024)
        assert all(b() is None for b in bodies)
    finally:
        gc.enable()


def test_small_bodies_never_trigger_a_collection() -> None:
    debt = LargeBodyDebt(limit=1024 * 1024)
    for _ in range(10_000):
        debt.record(1000)
    assert debt.collections == 0
