"""Every console page renders for a signed-in operator, with the console's security
headers, and shows what the database holds."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from console_testing import PAGES

pytestmark = pytest.mark.usefixtures("example_catalog")


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_renders_with_the_strict_policy(operator: httpx.AsyncClient,
                                                         path: str) -> None:
    response = await operator.get(path)
    assert response.status_code == 200, response.text[:2000]
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy and "form-action 'self'" in policy
    assert response.headers["cache-control"] == "no-store"
    for label in ("Overview", "Catalog", "Customers", "Transactions", "Invoices", "Payouts",
                  "Webhooks", "Settings", "Activity"):
        assert f">{label}</a>" in response.text
    assert ">Sign out</button>" in response.text


async def test_a_customer_page(operator: httpx.AsyncClient, api: Any) -> None:
    await api.data("""mutation { increaseItemQuantity(input: {customer: {type: USER,
        customerId: "u-1"}, itemId: "credits", amount: 50}) { item { quantity } } }""")
    response = await operator.get("/admin/customers/USER/u-1")
    assert response.status_code == 200, response.text[:3000]
    assert "Adjust balance" in response.text and "Grant product" in response.text
    missing = await operator.get("/admin/customers/USER/nobody")
    assert missing.status_code == 404


async def test_a_balance_ledger_is_paged_from_the_customer_page(operator: httpx.AsyncClient,
                                                                runtime: Any) -> None:
    from billgate.billing import balances
    from billgate.types import CustomerRef, CustomerType

    ref = CustomerRef(CustomerType.USER, "u-ledger")
    for n in range(60):
        await balances.increase(runtime.db, ref, "credits", amount=1, clock=runtime.clock,
                                description=f"grant {n}")
    page = await operator.get("/admin/customers/USER/u-ledger")
    assert "grant 59" in page.text and "grant 40" not in page.text  # the latest few
    assert "Full history" in page.text
    full = await operator.get("/admin/customers/USER/u-ledger?ledger=credits")
    assert "grant 59" in full.text and "grant 10" in full.text and "grant 9<" not in full.text
    assert "Older" in full.text
    link = re.search(r'href="([^"]+before=\d+[^"]*)"', full.text).group(1).replace("&amp;", "&")
    second = await operator.get(link)
    assert "grant 9<" in second.text and "grant 59" not in second.text


async def test_the_console_can_be_switched_off(runtime: Any) -> None:
    import dataclasses

    from billgate.app import create_app

    runtime.settings = dataclasses.replace(runtime.settings, admin_enabled=False)
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for path in ("/admin", "/admin/sign-in", "/admin/customers"):
            assert (await client.get(path)).status_code == 404
