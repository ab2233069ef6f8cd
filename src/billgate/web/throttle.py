"""Failed sign-ins per client address: more than ``limit`` in ``window`` seconds and the
address is answered 429 until the oldest failure leaves the window.

In memory, per process (a deployment with several replicas allows ``limit`` per replica);
at most ``max_addresses`` addresses are remembered, the least recently failing forgotten
first, so a flood of addresses cannot grow memory without bound. Behind a reverse proxy the
address is the one uvicorn reports (``--proxy-headers`` and ``--forwarded-allow-ips`` make
it the client's).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class FailureThrottle:
    def __init__(self, *, limit: int = 10, window: float = 60.0, max_addresses: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.max_addresses, self.clock = limit, window, max_addresses, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str) -> deque[float]:
        failures = self._failures.get(address)
        if failures is None:
            return deque()
        horizon = self.clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[address]
        return failures

    def blocked(self, address: str) -> float | None:
        """Seconds until ``address`` may try again, or None when it may now."""
        failures = self._recent(address)
        if len(failures) < self.limit:
            return None
        return max(1.0, failures[0] + self.window - self.clock())

    def failed(self, address: str) -> None:
        failures = self._recent(address)
        failures.append(self.clock())
        self._failures[address] = failures
        self._failures.move_to_end(address)
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)
