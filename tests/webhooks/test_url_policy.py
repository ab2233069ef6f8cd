"""Which endpoint URLs are refused: at creation and again at delivery time."""

from __future__ import annotations

import pytest
from helpers import POLICY, deliver, delivery_of, emit, endpoint
from receiver import Receiver

from billgate.clock import FrozenClock
from billgate.db.engine import Database
from billgate.notifications.webhooks import endpoints, sender
from billgate.notifications.webhooks.url_policy import UrlPolicy, UrlRefused, check_url, pinned

STRICT = UrlPolicy()  # the defaults of a deployment: https only, public addresses only


@pytest.mark.parametrize(("url", "why"), [
    ("http://example.com/hook", "https"),
    ("ftp://example.com/hook", "https"),
    ("https://127.0.0.1/hook", "private"),
    ("https://localhost:8443/hook", "private"),
    ("https://10.1.2.3/hook", "private"),
    ("https://192.168.0.10/hook", "private"),
    ("https://169.254.169.254/latest/meta-data", "private"),  # cloud metadata
    ("https://[::1]/hook", "private"),
    ("https://[::ffff:127.0.0.1]/hook", "private"),
    ("https://0.0.0.0/hook", "private"),
    ("https://user:pw@example.com/hook", "credentials"),
    ("/relative", "absolute"),
])
async def test_refused_urls(url: str, why: str) -> None:
    with pytest.raises(UrlRefused, match=why):
        await check_url(url, STRICT)


async def test_https_to_a_public_address_and_allowed_http_hosts_pass() -> None:
    assert (await check_url("https://93.184.215.14/hook", STRICT)).url == "https://93.184.215.14/hook"
    allowed = UrlPolicy(http_hosts=frozenset({"127.0.0.1"}), allow_private=True)
    await check_url("http://127.0.0.1:9000/hook", allowed)
    with pytest.raises(UrlRefused, match="https"):
        await check_url("http://localhost:9000/hook", allowed)  # not listed


async def test_creating_an_endpoint_checks_the_url(db: Database, clock: FrozenClock) -> None:
    with pytest.raises(UrlRefused):
        await endpoints.create(db, url="https://127.0.0.1/hook", event_types=None,
                               description=None, policy=STRICT, now=clock.now())
    assert await endpoints.list_page(db, after_id=None, limit=10) == []


async def test_a_url_that_became_private_is_refused_at_delivery(
        db: Database, clock: FrozenClock, receiver: Receiver) -> None:
    await endpoint(db, receiver.url("/hook"), clock.now())
    event_id = await emit(db, clock.now())
    strict_http = UrlPolicy(http_hosts=POLICY.http_hosts, allow_private=False)

    assert await deliver(db, clock.now(), strict_http) == 1
    assert receiver.received == []
    row = await delivery_of(db, event_id)
    assert row.status == "PENDING" and row.attempts == 1
    assert row.last_error is not None and "private" in row.last_error


def test_a_checked_lookup_is_pinned_with_the_original_host_name() -> None:
    target = pinned("https://hooks.example.com:8443/in?x=1", "93.184.215.14")
    assert target.url == "https://93.184.215.14:8443/in?x=1"
    assert target.headers == {"host": "hooks.example.com:8443"}
    assert target.extensions == {"sni_hostname": "hooks.example.com"}  # TLS checks this name
    assert pinned("https://h.example/x", "2001:db8::1").url == "https://[2001:db8::1]/x"


async def test_a_pinned_request_reaches_the_checked_address(receiver: Receiver) -> None:
    """The request goes to the address that was checked, whatever the name resolves to
    later (DNS rebinding), and the receiver still sees its own host name."""
    port = receiver.base_url.rsplit(":", 1)[1]
    target = pinned(f"http://webhooks.invalid:{port}/pinned", "127.0.0.1")
    async with sender.new_client() as client:
        outcome = await sender.post(client, target, b"{}", {})
    assert outcome.delivered
    [got] = receiver.at("/pinned")
    assert got.headers["host"] == f"webhooks.invalid:{port}"
