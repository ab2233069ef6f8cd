"""A tiny closed-loop HTTP/1.1 load generator on raw asyncio streams.

Cheaper per request than any HTTP client library, so on a 2-core machine the server under
test, not the generator, is what gets measured. Every request on every connection is the
same bytes; each response is read fully (Content-Length) and its status checked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def http_post(path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: bench", "Content-Type: application/json",
             f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _connection(host: str, port: int, make_request: object, deadline: float,
                      result: LoadResult, check: object) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            request = make_request() if callable(make_request) else make_request
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            result.latencies.append(time.perf_counter() - started)
            ok = head.startswith(b"HTTP/1.1 200") and (check(body) if callable(check) else True)
            if ok:
                result.requests += 1
            else:
                result.errors += 1
    finally:
        writer.close()


async def run_load(host: str, port: int, request: object, *, seconds: float, concurrency: int,
                   check: object = None) -> LoadResult:
    """Keep ``concurrency`` connections busy for ``seconds``; ``request`` is bytes or a
    callable returning bytes (for requests that must differ, e.g. idempotency keys)."""
    result = LoadResult()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_connection(host, port, request, deadline, result, check)
                           for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class Comparison:
    """billgate against its bare baseline, measured in alternating rounds."""

    ours: list[LoadResult]
    bare: list[LoadResult]

    @property
    def ratios(self) -> list[float]:
        return [o.rate / b.rate for o, b in zip(self.ours, self.bare, strict=True)]

    @property
    def ratio(self) -> float:
        """The median of the rounds' ratios: one round disturbed by something else on the
        machine moves it less than it moves a single long run."""
        ordered = sorted(self.ratios)
        return ordered[len(ordered) // 2]

    def as_dict(self) -> dict[str, float]:
        return {"billgate_rps": sum(r.rate for r in self.ours) / len(self.ours),
                "bare_rps": sum(r.rate for r in self.bare) / len(self.bare),
                "ratio": self.ratio, "min_ratio": min(self.ratios), "max_ratio": max(self.ratios),
                "errors": sum(r.errors for r in self.ours + self.bare)}


async def alternate(ours: Callable[[], Awaitable[LoadResult]],
                    bare: Callable[[], Awaitable[LoadResult]], rounds: int) -> Comparison:
    """Run ``ours`` and ``bare`` in turn, ``rounds`` times each (both servers up)."""
    comparison = Comparison([], [])
    for _ in range(rounds):
        comparison.ours.append(await ours())
        comparison.bare.append(await bare())
    return comparison
