"""Promo codes through the API: creating and listing them, each duration across three
renewals on the test clock (exact amounts in USD and JPY), the tax after the discount, the
reasons a code is refused, and redemptions reserved, given back and applied
(``billing/promo_codes.py``). Checkouts are completed through the billing service the
hosted page calls (the page's field is tested in tests/web/test_checkout_promo_page.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from test_subscription_lifecycle import (
    T0,
    USER,
    SteppedClock,
    account,
    advance_to,
    prorated,
    settings,
    switch,
    utc,
)

from billgate.billing import audit
from billgate.billing.purchases import service
from billgate.db.models import CheckoutSession, PromoRedemption, WebhookEvent
from billgate.errors import PaymentFailed, PromoCodeInvalid

pytestmark = pytest.mark.usefixtures("example_catalog")

OTHER = {"type": "USER", "customerId": "u2"}
RETURN_URL = "https://app.example.com/billing/done"
DECLINED = "pm_card_4000000000000002"
PRO, PRO_JPY, ENTERPRISE = 1900, 2900, 9900
RENEWALS = [utc(2026, 2, 17, 12), utc(2026, 3, 17, 12), utc(2026, 4, 17, 12)]

ERRORS = "userErrors { code message field }"
PROMO = ("id code displayName percentOff amountOff { currency amount minorUnits } duration "
         "durationInMonths maxRedemptions timesRedeemed expiresAt enabled productIds")
CREATE = f"""mutation ($input: CreatePromoCodeInput!) {{
  createPromoCode(input: $input) {{ promoCode {{ {PROMO} }} {ERRORS} }} }}"""
UPDATE = f"""mutation ($input: UpdatePromoCodeInput!) {{
  updatePromoCode(input: $input) {{ promoCode {{ {PROMO} }} {ERRORS} }} }}"""
LIST = f"""query ($first: Int, $after: String) {{
  promoCodes(first: $first, after: $after) {{
    edges {{ cursor node {{ {PROMO} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
CHECKOUT = f"""mutation ($input: CreateCheckoutUrlInput!) {{
  createCheckoutUrl(input: $input) {{ url {ERRORS} }} }}"""
INVOICES = """query ($customer: CustomerRef!) { customer(customer: $customer) {
  invoices(first: 100) { edges { node { amountTotal subtotal discount tax currency
    lines { kind description amount } } } } } }"""
TRANSACTIONS = """query ($customer: CustomerRef!) { customer(customer: $customer) {
  transactions(first: 100) { edges { node { id kind amount refundedAmount } } } } }"""
REFUND = f"""mutation ($input: RefundTransactionInput!) {{
  refundTransaction(input: $input) {{ refund {{ amount }} {ERRORS} }} }}"""


@pytest.fixture(autouse=True)
def clock(runtime: Any) -> SteppedClock:
    runtime.clock = SteppedClock(T0)
    return runtime.clock


async def create_code(api: Any, **fields: Any) -> dict[str, Any]:
    payload = (await api.data(CREATE, {"input": fields}))["createPromoCode"]
    assert payload["userErrors"] == [], payload
    return payload["promoCode"]


async def create_errors(api: Any, **fields: Any) -> list[tuple[str, list[str] | None]]:
    payload = (await api.data(CREATE, {"input": fields}))["createPromoCode"]
    assert payload["promoCode"] is None
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def checkout(api: Any, product_id: str, *, customer: dict[str, str] = USER,
                   **fields: Any) -> dict[str, Any]:
    if product_id == "pro":
        fields.setdefault("priceId", "pro-monthly")
    return (await api.data(CHECKOUT, {"input": {
        "customer": customer, "productId": product_id, "returnUrl": RETURN_URL,
        **fields}}))["createCheckoutUrl"]


async def code_of(api: Any, product_id: str, **fields: Any) -> str:
    payload = await checkout(api, product_id, **fields)
    assert payload["userErrors"] == [], payload
    return payload["url"].rsplit("/", 1)[-1]


async def complete(runtime: Any, code: str, payment_method: str | None = None) -> None:
    await service.complete_checkout(runtime.db, code, rails=runtime.test_rails,
                                    clock=runtime.clock, test_mode=True, bus=runtime.bus,
                                    payment_method=payment_method)


async def buy(api: Any, runtime: Any, product_id: str, **fields: Any) -> None:
    await complete(runtime, await code_of(api, product_id, **fields))


async def invoices(api: Any, customer: dict[str, str] = USER) -> list[dict[str, Any]]:
    """Oldest first."""
    data = await api.data(INVOICES, {"customer": customer})
    return [e["node"] for e in reversed(data["customer"]["invoices"]["edges"])]


def kinds(invoice: dict[str, Any]) -> list[tuple[str, int]]:
    return [(line["kind"], line["amount"]) for line in invoice["lines"]]


async def renew_three_times(api: Any, clock: SteppedClock) -> list[dict[str, Any]]:
    for when in RENEWALS:
        await advance_to(api, clock, when)
    return await invoices(api)


async def redeemed_events(runtime: Any) -> list[dict[str, Any]]:
    async with runtime.db.read_session() as session:
        rows = await session.scalars(select(WebhookEvent).where(
            WebhookEvent.type == "promo_code.redeemed").order_by(WebhookEvent.id))
        return [row.payload for row in rows]


async def no_violations(runtime: Any) -> None:
    async with runtime.db.read_session() as session:
        assert [str(v) for v in await audit.run(session)] == []


async def listed(api: Any) -> dict[str, dict[str, Any]]:
    data = await api.data(LIST, {"first": 100})
    return {e["node"]["code"]: e["node"] for e in data["promoCodes"]["edges"]}


# Durations across three renewals -------------------------------------------------------------


class TestDurations:
    async def test_once_takes_20_percent_off_the_first_invoice_only(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await create_code(api, code="WELCOME20", percentOff="20", duration="ONCE")
        await buy(api, runtime, "pro", promoCode="welcome20")
        found = await renew_three_times(api, clock)
        assert [i["amountTotal"] for i in found] == [1520, PRO, PRO, PRO]
        assert kinds(found[0]) == [("plan", PRO), ("discount", -380)]
        assert (found[0]["subtotal"], found[0]["discount"]) == (PRO, 380)
        assert found[0]["lines"][1]["description"] == "Promo code WELCOME20 (20% off)"
        assert all(kinds(i) == [("plan", PRO)] for i in found[1:])
        assert (await listed(api))["WELCOME20"]["timesRedeemed"] == 1
        [event] = await redeemed_events(runtime)
        assert event["data"]["promoCode"]["code"] == "WELCOME20"
        assert event["data"]["redemption"]["discount"] == {
            "currency": "USD", "minorUnits": 380, "amount": "3.80"}
        assert event["customer"] == {"type": "USER", "customerId": "u1"}
        await no_violations(runtime)

    async def test_forever_in_yen_takes_15_percent_off_every_invoice(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await create_code(api, code="LOYAL", percentOff="15", duration="FOREVER")
        await buy(api, runtime, "pro", currency="JPY", promoCode="Loyal")
        found = await renew_three_times(api, clock)
        # 15% of ¥2,900 is ¥435 exactly; JPY has no minor unit.
        assert [(i["amountTotal"], i["currency"]) for i in found] == [(2465, "JPY")] * 4
        assert all(kinds(i) == [("plan", PRO_JPY), ("discount", -435)] for i in found)
        assert len(await redeemed_events(runtime)) == 1, "redeemed once, discounting four"
        await no_violations(runtime)

    async def test_repeating_two_months_takes_an_amount_off_two_invoices(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await create_code(api, code="FIVEOFF", amountOff=[{"currency": "USD", "amount": "5.00"}],
                          duration="REPEATING", durationInMonths=2)
        await buy(api, runtime, "pro", promoCode="FIVEOFF")
        found = await renew_three_times(api, clock)
        # Periods starting on 17 January and 17 February are within two months of the
        # first; 17 March and 17 April are not.
        assert [i["amountTotal"] for i in found] == [1400, 1400, PRO, PRO]
        assert [i["discount"] for i in found] == [500, 500, 0, 0]
        await no_violations(runtime)

    async def test_once_after_a_free_trial_discounts_the_first_charge(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await create_code(api, code="HALF", percentOff="50", duration="ONCE")
        await buy(api, runtime, "enterprise", promoCode="HALF")
        assert await invoices(api) == [], "a trial start charges nothing"
        assert (await listed(api))["HALF"]["timesRedeemed"] == 1, "counted when the trial starts"
        for when in (utc(2026, 1, 31, 12), utc(2026, 2, 28, 12), utc(2026, 3, 31, 12)):
            await advance_to(api, clock, when)
        assert [i["amountTotal"] for i in await invoices(api)] == [4950, ENTERPRISE, ENTERPRISE]
        await no_violations(runtime)

    async def test_a_one_time_purchase_gets_it_once_rounded_half_up(
            self, api: Any, runtime: Any) -> None:
        await create_code(api, code="EIGHTH", percentOff="12.5", duration="FOREVER")
        await buy(api, runtime, "credit-pack", promoCode="eighth")
        [invoice] = await invoices(api)
        # 12.5% of 500 cents is 62.5 cents: rounded half up to 63.
        assert kinds(invoice) == [("plan", 500), ("discount", -63)]
        assert invoice["amountTotal"] == 437
        await no_violations(runtime)

    async def test_tax_applies_to_the_price_after_discount(self, api: Any, runtime: Any,
                                                           clock: SteppedClock) -> None:
        await settings(api, taxRates=[{"country": "*", "name": "VAT", "percent": "10"}])
        await create_code(api, code="TAXED", percentOff="20", duration="FOREVER")
        await buy(api, runtime, "pro", promoCode="TAXED")
        await advance_to(api, clock, RENEWALS[0])
        for invoice in await invoices(api):
            assert kinds(invoice) == [("plan", PRO), ("discount", -380), ("tax", 152)]
            assert invoice["amountTotal"] == 1672
        data = await api.data(TRANSACTIONS, {"customer": USER})
        assert [e["node"]["amount"] for e in data["customer"]["transactions"]["edges"]] == [1672] * 2
        await no_violations(runtime)

    async def test_a_refund_keeps_the_discount(self, api: Any, runtime: Any) -> None:
        await create_code(api, code="TENOFF", amountOff=[{"currency": "USD", "amount": "10.00"}],
                          duration="ONCE")
        await buy(api, runtime, "pro", promoCode="TENOFF")
        data = await api.data(TRANSACTIONS, {"customer": USER})
        [charge] = [e["node"] for e in data["customer"]["transactions"]["edges"]]
        assert charge["amount"] == 900
        too_much = (await api.data(REFUND, {"input": {"transactionId": charge["id"],
                                                      "amount": PRO}}))["refundTransaction"]
        assert too_much["refund"] is None and too_much["userErrors"], "at most what was paid"
        refunded = (await api.data(REFUND, {"input": {"transactionId": charge["id"]}}))
        assert refunded["refundTransaction"]["refund"]["amount"] == -900
        [invoice] = await invoices(api)
        assert kinds(invoice) == [("plan", PRO), ("discount", -1000)]
        await no_violations(runtime)


    async def test_a_switch_credits_what_was_paid_and_ends_the_discount(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await create_code(api, code="HALFPRO", percentOff="50", duration="FOREVER")
        await buy(api, runtime, "pro", promoCode="halfpro")
        start, end = T0, RENEWALS[0]
        now = T0 + timedelta(days=10, hours=5)
        await advance_to(api, clock, now)
        payload = await switch(api, "pro", "enterprise")
        assert payload["userErrors"] == [], payload
        newest = (await invoices(api))[-1]
        # The unused time of the $9.50 (50% off $19.00) paid, not of the list price.
        credit = prorated(950, start, end, now)
        assert kinds(newest) == [("proration_credit", -credit),
                                 ("proration_debit", prorated(ENTERPRISE, start, end, now))]
        await advance_to(api, clock, end)
        assert kinds((await invoices(api))[-1]) == [("plan", ENTERPRISE)], \
            "the code stays with the plan it was redeemed on"
        await no_violations(runtime)


    async def test_the_trial_ending_email_names_the_discounted_charge(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        from billgate.billing import reminders
        from billgate.db.models import EmailOutbox
        from billgate.notifications.sender import render

        await api.data("""mutation { updateCustomer(input: {customer: {type: USER,
            customerId: "u1"}, email: "u1@example.com"}) { userErrors { code } } }""")
        await create_code(api, code="TRIALHALF", percentOff="50", duration="ONCE")
        await buy(api, runtime, "enterprise", promoCode="trialhalf")
        await advance_to(api, clock, utc(2026, 1, 28, 13))  # 3 days before the trial ends
        async with runtime.db.read_session() as session:
            [email] = (await session.scalars(select(EmailOutbox).where(
                EmailOutbox.template == reminders.TRIAL_ENDING))).all()
        assert "charged 49.50 USD" in render(email.template, email.context).text


# Creating, listing, disabling ----------------------------------------------------------------


class TestManagingCodes:
    async def test_create_generates_a_code_and_lists_newest_first(self, api: Any) -> None:
        made = await create_code(api, percentOff="10", duration="ONCE", maxRedemptions=5,
                                 productIds=["pro"], displayName="Spring sale")
        assert len(made["code"]) == 10 and made["code"].isupper()
        assert (made["timesRedeemed"], made["enabled"], made["productIds"]) == (0, True, ["pro"])
        await create_code(api, code="second", amountOff=[
            {"currency": "JPY", "amount": "500"}, {"currency": "USD", "amount": "4.50"}],
            duration="FOREVER")
        first = await api.data(LIST, {"first": 1})
        page = first["promoCodes"]
        assert [e["node"]["code"] for e in page["edges"]] == ["SECOND"]
        assert page["edges"][0]["node"]["amountOff"] == [
            {"currency": "JPY", "amount": "500", "minorUnits": 500},
            {"currency": "USD", "amount": "4.50", "minorUnits": 450}]
        assert page["pageInfo"]["hasNextPage"] is True
        rest = await api.data(LIST, {"first": 1, "after": page["pageInfo"]["endCursor"]})
        assert [e["node"]["code"] for e in rest["promoCodes"]["edges"]] == [made["code"]]
        node = await api.data("query ($id: ID!) { node(id: $id) { ... on PromoCode { code } } }",
                              {"id": made["id"]})
        assert node["node"] == {"code": made["code"]}

    @pytest.mark.parametrize(("fields", "field"), [
        ({"percentOff": "10", "amountOff": [{"currency": "USD", "amount": "1.00"}]}, "percentOff"),
        ({}, "percentOff"),
        ({"percentOff": "0"}, "percentOff"),
        ({"percentOff": "100.5"}, "percentOff"),
        ({"percentOff": "ten"}, "percentOff"),
        ({"percentOff": "10", "duration": "REPEATING"}, "durationInMonths"),
        ({"percentOff": "10", "durationInMonths": 3}, "durationInMonths"),
        ({"amountOff": [{"currency": "JPY", "amount": "1.5"}]}, "amountOff"),
        ({"amountOff": [{"currency": "USD", "amount": "0"}]}, "amountOff"),
        ({"percentOff": "10", "maxRedemptions": 0}, "maxRedemptions"),
        ({"percentOff": "10", "expiresAt": "2026-01-01T00:00:00Z"}, "expiresAt"),
        ({"percentOff": "10", "code": "no spaces"}, "code"),
    ])
    async def test_bad_input_is_a_user_error_and_creates_nothing(
            self, api: Any, fields: dict[str, Any], field: str) -> None:
        errors = await create_errors(api, **{"duration": "ONCE", **fields})
        assert [(code, (where or [""])[0]) for code, where in errors] == [("INVALID_INPUT", field)]
        assert await listed(api) == {}

    async def test_a_code_exists_once_in_any_case(self, api: Any) -> None:
        await create_code(api, code="SAME", percentOff="10", duration="ONCE")
        assert await create_errors(api, code="same", percentOff="5", duration="ONCE") == [
            ("INVALID_INPUT", ["code"])]

    async def test_customer_tokens_cannot_create_or_list(self, api: Any) -> None:
        user = api.as_user("u1")
        payload = (await user.data(CREATE, {"input": {"percentOff": "10", "duration": "ONCE"}}))
        assert [e["code"] for e in payload["createPromoCode"]["userErrors"]] == ["FORBIDDEN"]
        body = await user(LIST, {"first": 5})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    async def test_a_disabled_code_is_refused_and_can_be_enabled_again(self, api: Any) -> None:
        made = await create_code(api, code="PAUSED", percentOff="10", duration="ONCE")
        off = (await api.data(UPDATE, {"input": {"id": made["id"], "enabled": False}}))
        assert off["updatePromoCode"]["promoCode"]["enabled"] is False
        refused = await checkout(api, "pro", promoCode="paused")
        assert [(e["code"], e["message"]) for e in refused["userErrors"]] == [
            ("PROMO_CODE_INVALID", "promo code PAUSED is disabled")]
        await api.data(UPDATE, {"input": {"id": made["id"], "enabled": True}})
        assert (await checkout(api, "pro", promoCode="paused"))["userErrors"] == []

    async def test_update_of_an_unknown_id_is_a_user_error(self, api: Any) -> None:
        from billgate.graphql.ids import global_id

        payload = (await api.data(UPDATE, {"input": {"id": global_id("PromoCode", "999"),
                                                     "enabled": False}}))["updatePromoCode"]
        assert [e["code"] for e in payload["userErrors"]] == ["INVALID_INPUT"]


# Why a code is refused -----------------------------------------------------------------------


class TestRefusals:
    async def refused(self, api: Any, runtime: Any, product_id: str, promo: str,
                      **fields: Any) -> str:
        async with runtime.db.read_session() as session:
            before = len((await session.scalars(select(CheckoutSession.id))).all())
        payload = await checkout(api, product_id, promoCode=promo, **fields)
        assert payload["url"] is None
        [error] = payload["userErrors"]
        assert (error["code"], error["field"]) == ("PROMO_CODE_INVALID", ["promoCode"])
        async with runtime.db.read_session() as session:
            after = len((await session.scalars(select(CheckoutSession.id))).all())
        assert after == before, "nothing is created"
        return error["message"]

    async def test_unknown(self, api: Any, runtime: Any) -> None:
        assert await self.refused(api, runtime, "pro", "nope") == "promo code 'NOPE' is unknown"

    async def test_expired(self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await create_code(api, code="SOON", percentOff="10", duration="ONCE",
                          expiresAt=(T0 + timedelta(days=1)).isoformat())
        assert (await checkout(api, "pro", promoCode="soon"))["userErrors"] == []
        await advance_to(api, clock, T0 + timedelta(days=1))
        assert await self.refused(api, runtime, "pro", "soon") == \
            "promo code SOON expired on 2026-01-18"

    async def test_not_for_this_product(self, api: Any, runtime: Any) -> None:
        await create_code(api, code="PACKS", percentOff="10", duration="ONCE",
                          productIds=["credit-pack"])
        assert await self.refused(api, runtime, "pro", "packs") == \
            "promo code PACKS is not for this product"
        assert (await checkout(api, "credit-pack", promoCode="packs"))["userErrors"] == []

    async def test_not_in_this_currency(self, api: Any, runtime: Any) -> None:
        await create_code(api, code="DOLLARS", amountOff=[{"currency": "USD", "amount": "1"}],
                          duration="ONCE")
        assert await self.refused(api, runtime, "pro", "dollars", currency="JPY") == \
            "promo code DOLLARS is not for purchases in JPY"

    async def test_first_purchase_only(self, api: Any, runtime: Any) -> None:
        await create_code(api, code="FIRST", percentOff="10", duration="ONCE",
                          firstPurchaseOnly=True)
        assert (await checkout(api, "credit-pack", promoCode="first"))["userErrors"] == []
        await buy(api, runtime, "credit-pack")
        assert await self.refused(api, runtime, "pro", "first") == \
            "promo code FIRST is for a first purchase only and this is not a first purchase"

    async def test_used_up(self, api: Any, runtime: Any) -> None:
        await create_code(api, code="ONLYONE", percentOff="10", duration="ONCE",
                          maxRedemptions=1)
        await buy(api, runtime, "credit-pack", promoCode="onlyone")
        assert await self.refused(api, runtime, "pro", "onlyone", customer=OTHER) == \
            "promo code ONLYONE is used up (all 1 redemptions are taken)"


# Reserved, given back, applied ---------------------------------------------------------------


class TestRedemptions:
    async def test_a_declined_payment_gives_the_redemption_back(self, api: Any,
                                                                 runtime: Any) -> None:
        await create_code(api, code="LAST", percentOff="10", duration="ONCE", maxRedemptions=1)
        mine = await code_of(api, "credit-pack", promoCode="LAST")
        theirs = await code_of(api, "credit-pack", promoCode="LAST", customer=OTHER)
        with pytest.raises(PaymentFailed):
            await complete(runtime, mine, DECLINED)
        assert (await listed(api))["LAST"]["timesRedeemed"] == 0
        await complete(runtime, theirs)  # the redemption the decline gave back
        assert [i["amountTotal"] for i in await invoices(api, OTHER)] == [450]
        with pytest.raises(PromoCodeInvalid, match="used up"):
            await complete(runtime, mine)
        assert await invoices(api) == [], "nothing charged or recorded"
        assert (await listed(api))["LAST"]["timesRedeemed"] == 1
        await no_violations(runtime)

    async def test_a_running_completion_holds_the_last_redemption(self, api: Any,
                                                                   runtime: Any) -> None:
        await create_code(api, code="HELD", percentOff="10", duration="ONCE", maxRedemptions=1)
        mine = await code_of(api, "credit-pack", promoCode="held")
        theirs = await code_of(api, "credit-pack", promoCode="held", customer=OTHER)
        claim = await service.claim_checkout(runtime.db, mine, clock=runtime.clock)
        assert (claim.amount, claim.discount) == (450, 50)
        with pytest.raises(PromoCodeInvalid, match="used up"):
            await complete(runtime, theirs)
        await service.release_checkout(runtime.db, claim.checkout_id, clock=runtime.clock)
        await complete(runtime, theirs)
        assert [i["amountTotal"] for i in await invoices(api, OTHER)] == [450]

    async def test_a_lapsed_reservation_holds_nothing(self, api: Any, runtime: Any) -> None:
        """A completion that died mid-charge: its lease (and reservation) ran out."""
        await create_code(api, code="LAPSE", percentOff="10", duration="ONCE", maxRedemptions=1)
        mine = await code_of(api, "credit-pack", promoCode="lapse")
        theirs = await code_of(api, "credit-pack", promoCode="lapse", customer=OTHER)
        await service.claim_checkout(runtime.db, mine, clock=runtime.clock)
        async with runtime.db.session() as session, session.begin():
            row = await session.scalar(select(PromoRedemption).where(
                PromoRedemption.status == "RESERVED"))
            assert row is not None
            row.reserved_until = utc(2020, 1, 1)
        await complete(runtime, theirs)
        assert (await listed(api))["LAPSE"]["timesRedeemed"] == 1

    async def test_a_plan_change_through_checkout_takes_no_code(self, api: Any,
                                                                  runtime: Any) -> None:
        await create_code(api, code="SWITCH", percentOff="10", duration="ONCE")
        await buy(api, runtime, "pro")
        code = await code_of(api, "enterprise", promoCode="switch")
        with pytest.raises(PromoCodeInvalid, match="not to a change of plan"):
            await complete(runtime, code)
        assert [s["productId"] for s in (await account(api))["subscriptions"]] == ["pro"]


class TestAudit:
    async def test_audit_finds_counts_and_lines_that_disagree(self, api: Any,
                                                              runtime: Any) -> None:
        from billgate.db.models import Invoice, PromoCode

        await create_code(api, code="AUDITED", percentOff="10", duration="ONCE", maxRedemptions=1)
        await buy(api, runtime, "credit-pack", promoCode="audited")
        await no_violations(runtime)
        async with runtime.db.session() as session, session.begin():
            code = await session.scalar(select(PromoCode))
            assert code is not None
            code.times_redeemed = 2
            invoice = await session.scalar(select(Invoice))
            assert invoice is not None
            invoice.lines = [*invoice.lines[:1], {**invoice.lines[1], "redemptionId": 999}]
        async with runtime.db.read_session() as session:
            found = sorted(str(v) for v in await audit.run(session))
        assert found == [
            f"discount-lines: USER:u1: invoice {invoice.id}'s discount line names redemption "
            "999, not an APPLIED one of its purchase",
            "promo-redemptions: -: promo code AUDITED: times redeemed 2, APPLIED redemptions 1, "
            "max 1"]
