"""Which endpoint URLs are refused: at creation and again at delivery time."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from helpers import POLICY, deliver, delivery_of, emit, endpoint
from receiver import Receiver

from billgate.clock import FrozenClock
from billgate.db.engine import Database
from billgate.notifications.webhooks import delivery, endpoints, sender
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


# Every address that is not globally reachable (IANA special-purpose registries), as an
# attacker with a secret key would write it. The first five are the probe.
NOT_GLOBAL = [
    "100.64.0.1", "100.100.100.200",    # carrier-grade NAT (a cloud metadata address)
    "192.0.0.8", "198.18.0.1", "240.0.0.1",  # IETF, benchmarking, reserved
    "[2002:7f00:1::]",                  # 6to4 of 127.0.0.1
    "[2002:a9fe:a9fe::1]",              # 6to4 of 169.254.169.254
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",  # Teredo whose client is 127.0.0.1
    "[64:ff9b::7f00:1]",                # NAT64 of 127.0.0.1
    "[64:ff9b::a9fe:a9fe]",             # NAT64 of the metadata address
    "[64:ff9b:1::808:808]",             # local-use NAT64
    "[::ffff:100.64.0.1]", "[::ffff:8.8.8.8]",  # IPv4-mapped (never a receiver's address)
    "[::127.0.0.1]", "[::8.8.8.8]",     # IPv4-compatible (deprecated)
    "192.0.2.1", "198.51.100.7", "203.0.113.9", "192.88.99.1", "255.255.255.255",
    "224.0.0.1", "172.16.5.4", "[fd00::1]", "[fe80::1]", "[fec0::1]", "[ff02::1]",
    "[2001:db8::1]", "[3fff::1]", "[2001:2::1]", "[100::1]", "[5f00::1]",
]


@pytest.mark.parametrize("host", NOT_GLOBAL)
async def test_addresses_that_are_not_globally_reachable_are_refused(host: str) -> None:
    with pytest.raises(UrlRefused, match="not globally reachable|outside 2000::/3") as refused:
        await check_url(f"https://{host}/hook", STRICT)
    assert "BILLGATE_WEBHOOK_ALLOW_PRIVATE" in refused.value.message


@pytest.mark.parametrize("host", [
    "93.184.215.14", "8.8.8.8", "[2606:4700::1111]",
    "[2002:808:808::1]",      # 6to4 of a public address
    "[64:ff9b::808:808]",     # NAT64 of a public address
    "192.0.0.9",              # a more specific reachable row inside 192.0.0.0/24
])
async def test_globally_reachable_addresses_pass(host: str) -> None:
    assert (await check_url(f"https://{host}/hook", STRICT)).url == f"https://{host}/hook"


async def test_allow_private_still_allows_them() -> None:
    allowed = UrlPolicy(allow_private=True)
    for host in ("100.64.0.1", "[2002:7f00:1::]", "127.0.0.1"):
        assert (await check_url(f"https://{host}/hook", allowed)).url == f"https://{host}/hook"


async def test_create_webhook_endpoint_refuses_them(api, runtime) -> None:  # noqa: ANN001
    """The issue's probe, through the API with a deployment's defaults (no
    BILLGATE_WEBHOOK_ALLOW_PRIVATE)."""
    runtime.settings = dataclasses.replace(runtime.settings, webhook_allow_private=False)
    create = """mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
      endpoint { id } userErrors { code message } } }"""
    for host in NOT_GLOBAL[:6]:
        data = await api.data(create, {"input": {"url": f"https://{host}/hook"}})
        payload = data["createWebhookEndpoint"]
        assert payload["endpoint"] is None, host
        [error] = payload["userErrors"]
        assert error["code"] == "INVALID_INPUT" and "not globally reachable" in error["message"]


class RefuseEverything(httpx.AsyncBaseTransport):
    """Stands in for the network so that a regression cannot send anything off this
    machine (tests never leave 127.0.0.1): records what would have been sent."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        raise httpx.ConnectError("the test network refuses every connection", request=request)


@pytest.mark.parametrize("host", ["100.64.0.1", "[2002:7f00:1::]", "198.18.0.1"])
async def test_a_stored_endpoint_is_refused_before_each_attempt(
        db: Database, clock: FrozenClock, host: str) -> None:
    """An endpoint saved before this rule (or by hand) is refused at delivery, without any
    connection attempt."""
    await endpoints.create(db, url=f"https://{host}/hook", event_types=None, description=None,
                           policy=UrlPolicy(allow_private=True), now=clock.now())
    event_id = await emit(db, clock.now())
    network = RefuseEverything()
    async with httpx.AsyncClient(transport=network) as client:
        assert await delivery.deliver_due(db, now=clock.now(), policy=STRICT, client=client) == 1
    assert network.requests == []
    row = await delivery_of(db, event_id)
    assert row.attempts == 1 and row.last_error is not None
    assert row.last_error.startswith("refused:") and "not globally reachable" in row.last_error
