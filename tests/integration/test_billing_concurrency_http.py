"""Every billing change clicked many times at once, through a real ``billgate serve``
(uvicorn, one worker) on SQLite and on PostgreSQL: one effect, the rest clear user errors,
never a 5xx or "Unexpected error", and ``billgate audit`` clean afterwards.

Half of each burst is sent with the customer's own token, half with the server key. The
server runs in test mode (the test rails: what is "charged" is recorded as transactions
and PAID invoices exactly as a live charge is, which is what the counts below read).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import (
    SERVER_KEY,
    Server,
    apply_example_catalog,
    audit,
    client_token,
    prepared_database,
    running,
    server_env,
    unique,
)
from sqlalchemy import func, select

from billgate.db.engine import Database
from billgate.db.models import ChargeClaim, Customer, Invoice, ItemChange, Purchase, Transaction

COPIES = 30
RETURN_URL = "http://localhost:3000/done"

SUBSCRIPTION = "subscription { status productId price { priceId } cancelAtPeriodEnd }"
SWITCH = f"""mutation ($input: SwitchSubscriptionInput!) {{
  switchSubscription(input: $input) {{ {SUBSCRIPTION} userErrors {{ code message }} }} }}"""
CHANGES = {
    name: f"""mutation ($input: {name[0].upper()}{name[1:]}Input!) {{
  {name}(input: $input) {{ {SUBSCRIPTION} userErrors {{ code message }} }} }}"""
    for name in ("cancelSubscription", "uncancelSubscription", "pauseSubscription",
                 "resumeSubscription")
}
CHECKOUT = """mutation ($input: CreateCheckoutUrlInput!) {
  createCheckoutUrl(input: $input) { url userErrors { code message } } }"""
GRANT = """mutation ($input: GrantProductInput!) {
  grantProduct(input: $input) { userErrors { code message } } }"""


@pytest.fixture(params=["sqlite", "postgresql"])
async def served(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Server, str]]:
    async with prepared_database(request.param, tmp_path) as url:
        await apply_example_catalog(url)
        env = server_env(url, ALLOWED_RETURN_URLS="localhost")
        with running({"a": env}, tmp_path / "logs") as servers:
            yield servers["a"], url


class Caller:
    """One customer, and requests as the server or as the customer itself."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.user_id = unique("buyer")
        self.customer = {"type": "USER", "customerId": self.user_id}
        self.token = client_token(self.user_id)
        limits = httpx.Limits(max_connections=COPIES * 2, max_keepalive_connections=COPIES * 2)
        self.http = httpx.AsyncClient(base_url=server.url, limits=limits, timeout=120)

    async def post(self, query: str, input: dict[str, Any], *, as_server: bool = True) -> dict[str, Any]:
        key = SERVER_KEY if as_server else self.token
        response = await self.http.post("/graphql", json={
            "query": query, "variables": {"input": {"customer": self.customer, **input}}},
            headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return next(iter(body["data"].values()))

    async def burst(self, query: str, input: dict[str, Any], copies: int = COPIES) -> list[dict[str, Any]]:
        """``copies`` identical requests released at once, alternating the credentials."""
        start = asyncio.Event()

        async def one(index: int) -> dict[str, Any]:
            await start.wait()
            return await self.post(query, input, as_server=index % 2 == 0)

        tasks = [asyncio.create_task(one(i)) for i in range(copies)]
        await asyncio.sleep(0)
        start.set()
        async with asyncio.timeout(240):
            return await asyncio.gather(*tasks)

    async def buy(self, product_id: str, price_id: str) -> None:
        """A test-mode checkout, completed on the hosted page."""
        made = await self.post(CHECKOUT, {"productId": product_id, "priceId": price_id,
                                          "returnUrl": RETURN_URL})
        assert made["userErrors"] == [], made
        code = made["url"].rsplit("/", 1)[1]
        done = await self.http.post(f"/checkout/{code}/complete")
        assert done.status_code == 303, done.text


@pytest.fixture
async def caller(served: tuple[Server, str]) -> AsyncIterator[Caller]:
    one = Caller(served[0])
    yield one
    await one.http.aclose()


def outcome(payloads: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Counter[str]]:
    """The successes, and the user-error codes of the rest."""
    ok = [p for p in payloads if not p["userErrors"]]
    codes = Counter(p["userErrors"][0]["code"] for p in payloads if p["userErrors"])
    for payload in payloads:
        for error in payload["userErrors"]:
            assert "Unexpected" not in error["message"], payload
    return ok, codes


async def counts(url: str, user_id: str) -> dict[str, Any]:
    """What the customer's billing state holds, read straight from the database."""
    db = Database(url)
    try:
        async with db.read_session() as session:
            pk = await session.scalar(select(Customer.id).where(Customer.customer_id == user_id))

            async def count(model: Any, *where: Any) -> int:
                return int(await session.scalar(
                    select(func.count()).select_from(model).where(model.customer_pk == pk, *where)) or 0)

            return {
                "transactions": Counter(await session.scalars(
                    select(Transaction.kind).where(Transaction.customer_pk == pk))),
                "paid_invoices": await count(Invoice, Invoice.status == "PAID"),
                "live_subscriptions": await count(
                    Purchase, Purchase.kind == "SUBSCRIPTION",
                    Purchase.status.in_(("TRIALING", "ACTIVE", "PAST_DUE", "PAUSED"))),
                "grants": Counter(await session.scalars(
                    select(ItemChange.source).where(ItemChange.customer_pk == pk,
                                                    ItemChange.delta > 0))),
                "claims": Counter(await session.scalars(
                    select(ChargeClaim.status).where(ChargeClaim.customer_pk == pk))),
            }
    finally:
        await db.dispose()


async def test_switch_clicked_30_times_switches_and_credits_once(
        served: tuple[Server, str], caller: Caller) -> None:
    _, url = served
    await caller.buy("pro", "pro-yearly")
    payloads = await caller.burst(SWITCH, {"fromProductId": "pro", "toProductId": "pro",
                                           "priceId": "pro-monthly"})
    ok, codes = outcome(payloads)
    assert len(ok) == 1 and ok[0]["subscription"]["price"]["priceId"] == "pro-monthly"
    assert sum(codes.values()) == COPIES - 1, codes
    state = await counts(url, caller.user_id)
    assert state["transactions"]["proration"] == 1
    assert state["live_subscriptions"] == 1
    audit(url)


async def test_upgrade_clicked_30_times_charges_once(served: tuple[Server, str],
                                                     caller: Caller) -> None:
    _, url = served
    await caller.buy("pro", "pro-monthly")
    payloads = await caller.burst(SWITCH, {"fromProductId": "pro", "toProductId": "enterprise"})
    ok, codes = outcome(payloads)
    assert len(ok) == 1 and ok[0]["subscription"]["productId"] == "enterprise"
    assert sum(codes.values()) == COPIES - 1, codes
    state = await counts(url, caller.user_id)
    assert state["transactions"] == Counter({"purchase": 1, "proration": 1})
    assert state["paid_invoices"] == 2  # the Pro purchase and the one upgrade
    assert state["claims"] == Counter({"RECORDED": 1})
    assert state["live_subscriptions"] == 1
    audit(url)


async def test_resume_clicked_30_times_charges_and_grants_once(served: tuple[Server, str],
                                                               caller: Caller) -> None:
    _, url = served
    await caller.buy("pro", "pro-monthly")
    paused = await caller.post(CHANGES["pauseSubscription"], {"productId": "pro"})
    assert paused["subscription"]["status"] == "PAUSED"
    granted_before = (await counts(url, caller.user_id))["grants"]
    payloads = await caller.burst(CHANGES["resumeSubscription"], {"productId": "pro"})
    ok, codes = outcome(payloads)
    assert len(ok) == 1 and ok[0]["subscription"]["status"] == "ACTIVE"
    assert sum(codes.values()) == COPIES - 1, codes
    state = await counts(url, caller.user_id)
    assert state["transactions"] == Counter({"purchase": 1, "renewal": 1})
    assert state["claims"] == Counter({"RECORDED": 1})
    new_grants = state["grants"] - granted_before
    assert sum(new_grants.values()) == 1, new_grants  # the plan's 1,000 credits, once
    audit(url)


async def test_cancel_clicked_30_times_cancels_once(served: tuple[Server, str],
                                                    caller: Caller) -> None:
    _, url = served
    await caller.buy("pro", "pro-monthly")
    payloads = await caller.burst(CHANGES["cancelSubscription"], {"productId": "pro"})
    ok, codes = outcome(payloads)
    assert len(ok) == 1 and ok[0]["subscription"]["cancelAtPeriodEnd"] is True
    assert codes == Counter({"INVALID_INPUT": COPIES - 1})
    audit(url)


async def test_checkout_completed_30_times_at_once_buys_once(served: tuple[Server, str],
                                                             caller: Caller) -> None:
    _, url = served
    made = await caller.post(CHECKOUT, {"productId": "pro", "priceId": "pro-monthly",
                                        "returnUrl": RETURN_URL})
    code = made["url"].rsplit("/", 1)[1]
    start = asyncio.Event()

    async def complete() -> int:
        await start.wait()
        return (await caller.http.post(f"/checkout/{code}/complete")).status_code

    tasks = [asyncio.create_task(complete()) for _ in range(COPIES)]
    await asyncio.sleep(0)
    start.set()
    statuses = Counter(await asyncio.gather(*tasks))
    assert statuses[303] == 1 and set(statuses) <= {303, 409, 410}, statuses
    state = await counts(url, caller.user_id)
    assert state["transactions"] == Counter({"purchase": 1})
    assert state["live_subscriptions"] == 1
    audit(url)


async def test_grant_clicked_30_times_grants_once(served: tuple[Server, str],
                                                  caller: Caller) -> None:
    _, url = served
    payloads = await caller.burst(GRANT, {"productId": "pro", "priceId": "pro-monthly"},
                                  copies=COPIES // 2 * 2)
    # Customers may not grant: the token half is refused, the server half grants once.
    ok, codes = outcome(payloads)
    assert len(ok) == 1, codes
    assert codes["FORBIDDEN"] == COPIES // 2 and codes["PRODUCT_ALREADY_OWNED"] == COPIES // 2 - 1
    assert (await counts(url, caller.user_id))["live_subscriptions"] == 1
    audit(url)


async def test_storm_of_60_random_changes_ends_consistent(served: tuple[Server, str],
                                                          caller: Caller) -> None:
    _, url = served
    await caller.buy("pro", "pro-monthly")
    rng = random.Random(20261202)
    plan = [rng.choice(["cancel", "cancel-now", "uncancel", "pause", "resume"]) for _ in range(60)]

    async def one(index: int, what: str) -> dict[str, Any]:
        name, extra = {
            "cancel": ("cancelSubscription", {}),
            "cancel-now": ("cancelSubscription", {"immediately": True}),
            "uncancel": ("uncancelSubscription", {}),
            "pause": ("pauseSubscription", {}),
            "resume": ("resumeSubscription", {}),
        }[what]
        return await caller.post(CHANGES[name], {"productId": "pro", **extra},
                                 as_server=index % 2 == 0)

    async with asyncio.timeout(240):
        payloads = await asyncio.gather(*(one(i, what) for i, what in enumerate(plan)))
    ok, codes = outcome(payloads)
    assert ok, codes
    assert set(codes) <= {"INVALID_INPUT", "SUBSCRIPTION_NOT_FOUND"}, codes
    state = await counts(url, caller.user_id)
    assert state["live_subscriptions"] <= 1
    assert state["claims"]["PENDING"] == 0
    audit(url)
