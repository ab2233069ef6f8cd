"""The customer portal through the ASGI app: entering with a link, what the page offers,
and every refusal: an expired or altered link, no session, a POST without the session's
CSRF token (403, nothing changed), a session of one customer acting on another's plan."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from billgate.billing.purchases import service
from billgate.billing.subscriptions import operations
from billgate.types import CustomerRef, CustomerType
from billgate.web.portal import links

pytestmark = pytest.mark.usefixtures("example_catalog")

USER = CustomerRef(CustomerType.USER, "portal-user")
OTHER = CustomerRef(CustomerType.USER, "portal-other")
BACK = "https://app.example.com/account"


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ANN001
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def buy(runtime: Any, customer: CustomerRef = USER, price_id: str = "pro-monthly") -> None:
    checkout = await service.create_checkout(
        runtime.db, customer, product_id="pro", inline=None, price_id=price_id, currency=None,
        quantity=1, return_url=BACK, allowed_return_urls=runtime.settings.allowed_return_urls,
        by_server=True, clock=runtime.clock)
    await service.complete_checkout(runtime.db, checkout.code, rails=runtime.test_rails,
                                    clock=runtime.clock, test_mode=True, bus=runtime.bus)


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def enter(client: httpx.AsyncClient, runtime: Any, customer: CustomerRef = USER) -> str:
    """Open a fresh portal link; the page's HTML."""
    link = links.mint(runtime, customer, BACK)
    response = await client.get(local(link.url))
    assert response.status_code == 303 and response.headers["location"] == "/portal"
    page = await client.get("/portal")
    assert page.status_code == 200, page.text
    return page.text


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


async def live_sub(runtime: Any, customer: CustomerRef = USER) -> Any:
    async with runtime.db.read_session() as session:
        from billgate.billing import customers

        row = await customers.find(session, customer)
        assert row is not None
        return await operations.find(session, row, operations.Selector(product_id="pro"))


async def test_a_link_opens_a_session_bound_to_the_customer(client: httpx.AsyncClient,
                                                            runtime: Any) -> None:
    await buy(runtime)
    link = links.mint(runtime, USER, BACK)
    response = await client.get(local(link.url))
    assert response.status_code == 303 and response.headers["location"] == "/portal"
    cookie = response.headers["set-cookie"]
    assert "bg_portal=" in cookie and "HttpOnly" in cookie and "Path=/portal" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    page = await client.get("/portal")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    for text in ("Pro", "Active", "Switch plan", "Cancel plan", "Pause", "Update card",
                 "Download PDF", f'href="{BACK}"', "AI credits"):
        assert text in page.text, text
    assert "Pay now" not in page.text  # nothing is open


async def test_an_expired_or_altered_link_is_refused(client: httpx.AsyncClient,
                                                     runtime: Any) -> None:
    expired = links.mint(runtime, USER, BACK, ttl_seconds=-5)
    response = await client.get(local(expired.url))
    assert response.status_code == 410 and "expired" in response.text
    assert "set-cookie" not in response.headers
    good = local(links.mint(runtime, USER, BACK).url)
    altered = good[:-3] + ("aaa" if not good.endswith("aaa") else "bbb")
    assert (await client.get(altered)).status_code == 403
    assert (await client.get("/portal")).status_code == 403  # no session was opened


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
        client: httpx.AsyncClient, runtime: Any) -> None:
    await buy(runtime)
    html = await enter(client, runtime)
    sub = await live_sub(runtime)
    for form in ({}, {"csrf_token": "not-the-token"}):
        response = await client.post(f"/portal/subscriptions/{sub.id}/cancel", data=form)
        assert response.status_code == 403
        assert not (await live_sub(runtime)).cancel_at_period_end
    response = await client.post(f"/portal/subscriptions/{sub.id}/cancel",
                                 data={"csrf_token": csrf_of(html)})
    assert response.status_code == 303
    assert (await live_sub(runtime)).cancel_at_period_end
    page = (await client.get(response.headers["location"])).text
    assert "Undo cancel" in page and "canceled at the end of the period" in page


async def test_a_session_cannot_touch_another_customers_plan(client: httpx.AsyncClient,
                                                             runtime: Any) -> None:
    await buy(runtime)
    theirs = await live_sub(runtime)
    await enter(client, runtime, OTHER)
    html = (await client.get("/portal/card")).text  # the card form has a POST (and a token)
    response = await client.post(f"/portal/subscriptions/{theirs.id}/cancel",
                                 data={"csrf_token": csrf_of(html)})
    assert response.status_code == 303
    page = (await client.get(response.headers["location"])).text
    assert "no such subscription" in page
    assert not (await live_sub(runtime)).cancel_at_period_end


async def test_switch_plan_shows_the_preview_then_switches(client: httpx.AsyncClient,
                                                           runtime: Any) -> None:
    await buy(runtime)
    await enter(client, runtime)
    preview = await client.get("/portal/switch",
                               params={"from": "pro", "to": "enterprise|enterprise-monthly"})
    assert preview.status_code == 200
    for text in ("Unused time on Pro", "Remaining time on Enterprise", "Amount due now",
                 "Confirm switch"):
        assert text in preview.text, text
    assert (await live_sub(runtime)).product_id == "pro", "a preview changes nothing"
    response = await client.post("/portal/switch", data={
        "csrf_token": csrf_of(preview.text), "from_product_id": "pro",
        "to_product_id": "enterprise", "price_id": "enterprise-monthly"})
    assert response.status_code == 303
    page = (await client.get(response.headers["location"])).text
    assert "You are now on Enterprise" in page


async def test_pause_and_resume(client: httpx.AsyncClient, runtime: Any) -> None:
    await buy(runtime)
    html = await enter(client, runtime)
    sub = await live_sub(runtime)
    paused = await client.post(f"/portal/subscriptions/{sub.id}/pause",
                               data={"csrf_token": csrf_of(html)})
    page = (await client.get(paused.headers["location"])).text
    assert "Your plan is paused." in page and ">Resume</button>" in page
    assert (await live_sub(runtime)).status == "PAUSED"
    resumed = await client.post(f"/portal/subscriptions/{sub.id}/resume",
                                data={"csrf_token": csrf_of(page)})
    page = (await client.get(resumed.headers["location"])).text
    assert "Your plan is active again." in page and ">Pause</button>" in page
    assert (await live_sub(runtime)).status == "ACTIVE"


async def test_a_trial_shows_when_it_ends(client: httpx.AsyncClient, runtime: Any) -> None:
    checkout = await service.create_checkout(
        runtime.db, USER, product_id="enterprise", inline=None, price_id=None, currency=None,
        quantity=1, return_url=BACK, allowed_return_urls=runtime.settings.allowed_return_urls,
        by_server=True, clock=runtime.clock)
    await service.complete_checkout(runtime.db, checkout.code, rails=runtime.test_rails,
                                    clock=runtime.clock, test_mode=True, bus=runtime.bus)
    page = await enter(client, runtime)
    assert "Trial" in page and "Trial ends" in page and "Next charge" not in page


async def test_an_upgrade_defaults_to_now_and_period_end_schedules_it(client: httpx.AsyncClient,
                                                                      runtime: Any) -> None:
    await buy(runtime)
    await enter(client, runtime)
    preview = await client.get("/portal/switch",
                               params={"from": "pro", "to": "enterprise|enterprise-monthly"})
    assert re.search(r'value="now" checked', preview.text), "an upgrade applies now by default"
    assert not re.search(r'value="period_end" checked', preview.text)
    response = await client.post("/portal/switch", data={
        "csrf_token": csrf_of(preview.text), "from_product_id": "pro", "when": "period_end",
        "to_product_id": "enterprise", "price_id": "enterprise-monthly"})
    page = (await client.get(response.headers["location"])).text
    assert "Your plan changes at the end of the period" in page
    assert "Changes to Enterprise ($99.00 / month) on" in page
    sub = await live_sub(runtime)
    assert sub.product_id == "pro", "nothing changes before the period end"
    again = await client.post(f"/portal/subscriptions/{sub.id}/keep-plan",
                              data={"csrf_token": csrf_of(page)})
    page = (await client.get(again.headers["location"])).text
    assert "The scheduled change was canceled" in page and "Changes to Enterprise" not in page
