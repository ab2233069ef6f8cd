"""One HTTP attempt: POST the signed body, within 10 seconds, following no redirect and
reading at most ``MAX_BODY_READ`` bytes of the answer (a receiver cannot make us buffer a
large or endless response)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from billgate.notifications.webhooks.url_policy import Target

TIMEOUT = 10.0
MAX_BODY_READ = 4096
MAX_ERROR = 1000
USER_AGENT = "billgate-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status: int | None = None
    error: str | None = None


def new_client() -> httpx.AsyncClient:
    # No redirects (a 3xx is a failure: the receiver must give its final URL), no proxy or
    # netrc settings from the environment, a 10 s budget per phase (the whole attempt is
    # bounded again in ``post``), and no kept-alive connections: requests pinned to an IP
    # address must not share a TLS connection made for another host name at that address.
    return httpx.AsyncClient(follow_redirects=False, trust_env=False,
                             timeout=httpx.Timeout(TIMEOUT),
                             limits=httpx.Limits(max_keepalive_connections=0),
                             headers={"user-agent": USER_AGENT})


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY_READ:
            break  # the rest is never read; closing the response drops the connection
    return b"".join(chunks)[:MAX_BODY_READ]


async def post(client: httpx.AsyncClient, target: Target, body: bytes, headers: dict[str, str]) -> Outcome:
    """Delivered only on a 2xx answer within ``TIMEOUT`` seconds."""
    request_headers = {**headers, **target.headers, "content-type": "application/json"}
    try:
        async with asyncio.timeout(TIMEOUT):
            async with client.stream("POST", target.url, content=body, headers=request_headers,
                                     extensions=target.extensions) as response:
                answer = await _read_capped(response)
    except TimeoutError:
        return Outcome(False, None, f"no answer within {TIMEOUT:g} s")
    except httpx.HTTPError as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR] or type(exc).__name__)
    status = response.status_code
    if 200 <= status < 300:
        return Outcome(True, status)
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        return Outcome(False, status, f"HTTP {status}: redirect to {location!r} not followed"[:MAX_ERROR])
    text = answer.decode("utf-8", errors="replace").strip()
    return Outcome(False, status, (f"HTTP {status}: {text}" if text else f"HTTP {status}")[:MAX_ERROR])
