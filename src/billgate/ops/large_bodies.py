"""Collect the garbage of large request bodies before it piles up.

A serving process collects young objects only every ``gc_tuning.GEN0_THRESHOLD``
allocations. A request leaves reference cycles behind (exceptions and their tracebacks,
execution contexts), and a cycle that reaches a request's body keeps it alive until the
next collection: a few hundred 1 MB bodies, each cheap to send (a padded comment, a
padded variable), pinned hundreds of megabytes (RSS 100 -> 660 MB for 300 such requests).
So large bodies run up a debt, and once it passes ``COLLECT_AFTER_BYTES`` the young
generations are collected: memory stays bounded, and ordinary small requests never pay.
"""

from __future__ import annotations

import gc

LARGE_BODY_BYTES = 64 * 1024
COLLECT_AFTER_BYTES = 32 * 1024 * 1024


class LargeBodyDebt:
    def __init__(self, *, large: int = LARGE_BODY_BYTES, limit: int = COLLECT_AFTER_BYTES) -> None:
        self.large, self.limit = large, limit
        self.debt = 0
        self.collections = 0

    def record(self, body_bytes: int) -> None:
        """Called once a request is done, with the size of its body."""
        if body_bytes < self.large:
            return
        self.debt += body_bytes
        if self.debt >= self.limit:
            self.debt = 0
            self.collections += 1
            gc.collect(1)  # young and middle generations: where a request's cycles still are
