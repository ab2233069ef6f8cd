"""Who gets into the console and what a request must carry: sessions (cookie attributes,
8 hours, expiry and a removed key sending the browser to sign-in and back), throttled
failed sign-ins, CSRF on every POST (403, nothing changed), no way in with an
``Authorization`` header (customer token or even the secret key), sign-out, and the
scoped live tokens a customer page hands the browser."""

from __future__ import annotations

import dataclasses
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from console_testing import PAGES, SERVER_KEY, csrf_of, post_form, sign_in

from billgate.billing import balances, items
from billgate.types import CustomerRef, CustomerType
from billgate.web.admin.console import COOKIE, KIND
from billgate.web.sessions import SessionKeys

pytestmark = pytest.mark.usefixtures("example_catalog")
USER = CustomerRef(CustomerType.USER, "u-sec")
ADJUST = "/admin/customer/adjust-balance"


def sign_in_target(response: httpx.Response) -> str | None:
    """The ``next`` of a redirect to sign-in (``""`` for plain /admin/sign-in)."""
    assert response.status_code == 303, response.text[:500]
    location = urlsplit(response.headers["location"])
    assert location.path == "/admin/sign-in", response.headers["location"]
    return parse_qs(location.query).get("next", [""])[0]


async def balance(runtime: Any) -> int:
    return (await items.get_balance(runtime.db, USER, "credits", clock=runtime.clock)).quantity


@pytest.mark.parametrize("path", [*PAGES, "/admin/customers/USER/u-sec", "/admin/catalog/products/new",
                                  "/admin/live-token?type=USER&id=u-sec"])
async def test_no_page_opens_without_a_session(browser: httpx.AsyncClient, api: Any,
                                               path: str) -> None:
    customer_token = api.as_user("u-sec").authorization
    for headers in ({}, {"Authorization": customer_token}, {"Authorization": f"Bearer {SERVER_KEY}"}):
        response = await browser.get(path, headers=headers)
        expected = "" if path == "/admin" else path
        assert sign_in_target(response) == expected
        assert "Adjust balance" not in response.text and "Revenue" not in response.text


async def test_signing_in_leads_back_to_the_page_with_a_strict_cookie(
        browser: httpx.AsyncClient) -> None:
    asked = await browser.get("/admin/customers?q=u-9")
    assert sign_in_target(asked) == "/admin/customers?q=u-9"
    response = await sign_in(browser, next_path="/admin/customers?q=u-9")
    assert response.headers["location"] == "/admin/customers?q=u-9"
    cookie = next(v for k, v in response.headers.multi_items()
                  if k == "set-cookie" and v.startswith(f"{COOKIE}="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower() and "path=/admin" in cookie.lower()
    assert "max-age=28800" in cookie.lower() and "secure" not in attributes
    assert (await browser.get("/admin/customers?q=u-9")).status_code == 200


async def test_the_cookie_is_secure_when_the_public_url_is_https(app: Any, runtime: Any) -> None:
    runtime.settings = dataclasses.replace(runtime.settings, public_url="https://billing.example.com")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as browser:
        response = await sign_in(browser)
    cookie = next(v for k, v in response.headers.multi_items()
                  if k == "set-cookie" and v.startswith(f"{COOKIE}="))
    assert "secure" in {p.strip().lower() for p in cookie.split(";")}


async def test_sign_in_goes_nowhere_but_the_console(browser: httpx.AsyncClient) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/checkout/abc", "/admin\\x"):
        browser.cookies.clear()
        response = await sign_in(browser, next_path=target)
        assert response.headers["location"] == "/admin"


async def test_a_wrong_key_is_401_and_the_eleventh_failure_a_minute_is_429(
        app: Any, runtime: Any) -> None:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for _ in range(10):
            wrong = await sign_in(client, "sk_wrong")
            assert wrong.status_code == 401
            assert "not a secret key of this billgate" in wrong.text
        throttled = await sign_in(client, "sk_wrong")
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
        # Even the right key waits out the minute from that address...
        assert (await sign_in(client, SERVER_KEY)).status_code == 429
    # ...while another address signs in.
    other = httpx.ASGITransport(app=app, client=("198.51.100.8", 5555))
    async with httpx.AsyncClient(transport=other, base_url="http://testserver") as client:
        assert (await sign_in(client, SERVER_KEY)).status_code == 303


async def test_a_customer_token_is_not_a_secret_key(browser: httpx.AsyncClient, api: Any) -> None:
    token = api.as_user("u-sec").authorization.split(" ", 1)[1]
    assert (await sign_in(browser, token)).status_code == 401


async def test_a_post_without_the_csrf_token_is_403_and_changes_nothing(
        operator: httpx.AsyncClient, runtime: Any) -> None:
    await balances.increase(runtime.db, USER, "credits", amount=5, clock=runtime.clock)
    fields = {"type": "USER", "customer_id": USER.customer_id, "item": "credits", "amount": "100"}
    for token in ({}, {"csrf_token": "forged"}):
        response = await operator.post(ADJUST, data={**fields, **token})
        assert response.status_code == 403
        assert "nothing was changed" in response.text
    for path, data in (("/admin/settings", {"block_new_purchases": "on",
                                            "grace_period_days": "3", "dunning_retry_days": "3"}),
                       ("/admin/sign-out", {})):
        assert (await operator.post(path, data=data)).status_code == 403
    assert await balance(runtime) == 5 + 100  # Free's 100 and the 5: nothing added
    assert not (await runtime.payment_settings()).block_new_purchases
    assert (await operator.get("/admin")).status_code == 200  # still signed in
    ok = await post_form(operator, "/admin/customers/USER/u-sec", ADJUST, fields)
    assert ok.status_code == 303 and await balance(runtime) == 205


async def test_sign_in_itself_needs_its_form_token(browser: httpx.AsyncClient) -> None:
    response = await browser.post("/admin/sign-in", data={"secret_key": SERVER_KEY})
    assert response.status_code == 403
    assert COOKIE not in response.headers.get("set-cookie", "")


def stale_cookie(runtime: Any, *, seconds_left: float) -> str:
    keys = SessionKeys.from_secret_keys(tuple(runtime.secret_keys))
    session = keys.new_session(kind=KIND, subject="…_key", key=SERVER_KEY,
                               key_fingerprint="…_key", ttl_seconds=3600)
    return keys.encode_session(dataclasses.replace(session, expires_at=time.time() + seconds_left))


async def test_an_expired_session_returns_to_sign_in_and_then_to_the_page(
        browser: httpx.AsyncClient, runtime: Any) -> None:
    await balances.increase(runtime.db, USER, "credits", amount=1, clock=runtime.clock)
    browser.cookies.set(COOKIE, stale_cookie(runtime, seconds_left=-5), path="/admin")
    page = "/admin/customers/USER/u-sec"
    assert sign_in_target(await browser.get(page)) == page
    # A form posted from a page left open past the session: to sign-in, nothing done.
    posted = await browser.post(ADJUST, data={"type": "USER", "customer_id": "u-sec",
                                              "item": "credits", "amount": "7",
                                              "csrf_token": "whatever", "back": page})
    assert sign_in_target(posted) == page
    assert await balance(runtime) == 101
    back = await sign_in(browser, next_path=page)
    assert back.headers["location"] == page
    assert (await browser.get(page)).status_code == 200


async def test_a_session_ends_when_its_key_is_removed(operator: httpx.AsyncClient,
                                                      runtime: Any) -> None:
    assert (await operator.get("/admin")).status_code == 200
    runtime.secret_keys = ("sk_test_the_new_key",)
    assert sign_in_target(await operator.get("/admin/settings")) == "/admin/settings"


async def test_sign_out_ends_the_session(operator: httpx.AsyncClient, api: Any) -> None:
    home = await operator.get("/admin")
    out = await operator.post("/admin/sign-out", data={"csrf_token": csrf_of(home.text)})
    assert out.status_code == 303 and out.headers["location"] == "/admin/sign-in"
    assert sign_in_target(await operator.get("/admin")) == ""
    actions = await api.data("{ operatorActions { edges { node { action via outcome } } } }")
    assert [e["node"]["action"] for e in actions["operatorActions"]["edges"]] == ["signOut", "signIn"]


# Scoped live tokens -------------------------------------------------------------------------

READ = """query ($c: CustomerRef!) { customer(customer: $c) { item(itemId: "credits") { quantity } } }"""


async def test_a_live_token_reads_its_customer_and_nothing_else(
        operator: httpx.AsyncClient, api: Any, runtime: Any) -> None:
    await balances.increase(runtime.db, USER, "credits", amount=3, clock=runtime.clock)
    response = await operator.get("/admin/live-token?type=USER&id=u-sec")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    token = response.json()["token"]
    assert token.startswith("bgs_")
    scoped = api.as_(f"Bearer {token}")
    mine = await scoped.data(READ, {"c": {"type": "USER", "customerId": "u-sec"}})
    assert mine["customer"]["item"]["quantity"] == 103
    other = await scoped(READ, {"c": {"type": "USER", "customerId": "someone-else"}})
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    write = await scoped("""mutation { increaseItemQuantity(input: {customer: {type: USER,
        customerId: "u-sec"}, itemId: "credits", amount: 1}) { userErrors { code } } }""")
    assert write["data"]["increaseItemQuantity"]["userErrors"][0]["code"] == "FORBIDDEN"
    admin = await scoped("{ transactions { edges { node { id } } } }")
    assert admin["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_live_token_expires_and_cannot_be_forged(api: Any, runtime: Any) -> None:
    keys = SessionKeys.from_secret_keys(tuple(runtime.secret_keys))
    expired = keys.encode_scoped(dataclasses.replace(keys.scoped_token(USER, ttl_seconds=60),
                                                     expires_at=time.time() - 5))
    forged = SessionKeys.from_secret_keys(("sk_someone_elses",)).encode_scoped(
        keys.scoped_token(USER, ttl_seconds=60))
    for token in (expired, forged):
        response = await api.as_(f"Bearer {token}").post(READ, {"c": {"type": "USER",
                                                                       "customerId": "u-sec"}})
        assert response.status_code == 401
