"""``StripeRails`` against recorded Stripe responses: what each call sends, and how Stripe's
answers and errors map to billgate's results. These cover what localstripe cannot show:
real Stripe's error bodies (``card_error`` with ``decline_code`` and the PaymentIntent),
parameters localstripe refuses (``setup_future_usage``, ``description``), idempotency keys
as headers, outages, and disputes."""

from __future__ import annotations

import time

import pytest
from stripe_fakes import (
    SECRET,
    FakeStripeHTTP,
    api_error,
    card_error,
    event,
    payment_intent,
    sign,
)

from billgate.payments.rails import ChargeRequest
from billgate.payments.stripe_rails import (
    LOCALSTRIPE_OMITS,
    ProcessorError,
    StripeRails,
    WebhookSignatureInvalid,
    verify_webhook,
)
from billgate.types import CustomerRef, CustomerType

USER = CustomerRef(CustomerType.USER, "u1")
KEY = "billgate:invoice:AbCdEf:1"


def rails(fake: FakeStripeHTTP, *, customer: str | None = "cus_RUnitTest0001",
          omit: frozenset[str] = frozenset()) -> StripeRails:
    async def resolve(ref: CustomerRef) -> str | None:
        assert ref == USER
        return customer

    return StripeRails("sk_test_unit", http_client=fake, resolve_customer=resolve,
                       omit_params=omit, max_network_retries=0)


def renewal(amount: int = 2900, currency: str = "JPY") -> ChargeRequest:
    return ChargeRequest(customer=USER, amount=amount, currency=currency, description="Renewal of Pro",
                         idempotency_key=KEY, payment_method="pm_1QUnitVisa", off_session=True)


class TestCharge:
    async def test_off_session_charge_with_the_invoice_key_and_jpy_as_is(self) -> None:
        fake = FakeStripeHTTP().respond(200, payment_intent(amount=2900, currency="jpy"))
        result = await rails(fake).charge(renewal())
        assert result.succeeded and result.reference == "pi_3QxUnitTest0001"
        [(method, path, params, headers)] = fake.calls
        assert (method, path) == ("POST", "/v1/payment_intents")
        assert params["amount"] == "2900" and params["currency"] == "jpy"  # yen: no fraction
        assert params["off_session"] == "true" and params["confirm"] == "true"
        assert params["customer"] == "cus_RUnitTest0001" and params["payment_method"] == "pm_1QUnitVisa"
        assert params["payment_method_types[0]"] == "card"
        assert params["description"] == "Renewal of Pro"
        assert params["metadata[billgate_key]"] == KEY and params["metadata[billgate_customer]"] == "USER:u1"
        assert headers["idempotency-key"] == KEY

    async def test_two_decimal_currency_is_sent_in_minor_units(self) -> None:
        fake = FakeStripeHTTP().respond(200, payment_intent(amount=1999, currency="eur"))
        await rails(fake).charge(renewal(1999, "EUR"))
        assert fake.calls[0][2]["amount"] == "1999" and fake.calls[0][2]["currency"] == "eur"

    async def test_on_session_charge_does_not_claim_off_session(self) -> None:
        fake = FakeStripeHTTP().respond(200, payment_intent())
        request = ChargeRequest(customer=USER, amount=500, currency="USD", description="x",
                                idempotency_key="k", payment_method="pm_1QUnitVisa")
        await rails(fake).charge(request)
        assert "off_session" not in fake.calls[0][2]

    async def test_insufficient_funds_is_a_failed_charge_with_the_decline_code(self) -> None:
        declined = payment_intent(status="requires_payment_method", last_payment_error={
            "code": "card_declined", "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds."})
        fake = FakeStripeHTTP().respond(402, card_error(
            "card_declined", "Your card has insufficient funds.", decline_code="insufficient_funds",
            intent=declined))
        result = await rails(fake).charge(renewal())
        assert not result.succeeded
        assert result.reference == "pi_3QxUnitTest0001"
        assert result.failure_code == "insufficient_funds"
        assert result.failure_message == "Your card has insufficient funds."

    async def test_authentication_required_off_session_is_a_decline(self) -> None:
        fake = FakeStripeHTTP().respond(402, card_error(
            "authentication_required", "Your card was declined. This transaction requires authentication.",
            decline_code="authentication_required", intent=payment_intent(status="requires_payment_method")))
        result = await rails(fake).charge(renewal())
        assert (result.succeeded, result.failure_code) == (False, "authentication_required")

    async def test_localstripe_shaped_decline_maps_the_same_way(self) -> None:
        fake = FakeStripeHTTP().respond(402, {"error": {
            "type": "invalid_request_error", "code": "card_declined", "message": "Your card was declined.",
            "charge": "ch_x"}})
        result = await rails(fake).charge(renewal())
        assert (result.succeeded, result.failure_code, result.reference) == (False, "card_declined", None)
        assert result.failure_message == "Your card was declined."

    async def test_an_intent_that_did_not_succeed_is_a_failed_charge(self) -> None:
        fake = FakeStripeHTTP().respond(200, payment_intent(status="requires_action"))
        result = await rails(fake).charge(renewal())
        assert (result.succeeded, result.failure_code) == (False, "requires_action")
        assert result.reference == "pi_3QxUnitTest0001"

    @pytest.mark.parametrize("status", [500, 429, 401, 400])
    async def test_other_errors_raise_so_the_job_retries_with_the_same_key(self, status: int) -> None:
        body = api_error() if status == 500 else {"error": {
            "type": "invalid_request_error", "message": "nope", "code": "parameter_invalid"}}
        fake = FakeStripeHTTP().respond(status, body)
        with pytest.raises(ProcessorError) as raised:
            await rails(fake).charge(renewal())
        assert raised.value.declined is False and raised.value.http_status == status

    async def test_no_stripe_customer_or_card_fails_without_calling_stripe(self) -> None:
        fake = FakeStripeHTTP()
        result = await rails(fake, customer=None).charge(renewal())
        assert (result.succeeded, result.failure_code) == (False, "no_payment_method")
        no_card = ChargeRequest(customer=USER, amount=1, currency="USD", description="x",
                                idempotency_key="k", payment_method=None, off_session=True)
        assert not (await rails(fake).charge(no_card)).succeeded
        assert fake.calls == []


class TestCheckoutIntent:
    async def test_saves_the_card_for_off_session_use(self) -> None:
        fake = FakeStripeHTTP().respond(200, payment_intent(status="requires_payment_method"))
        intent = await rails(fake).create_payment_intent(
            customer="cus_RUnitTest0001", amount=500, currency="USD", description="500 credits",
            metadata={"billgate_checkout": "code"}, idempotency_key="billgate:checkout:code:500:USD:first")
        assert intent.client_secret == "pi_3QxUnitTest0001_secret_abc"
        params, headers = fake.calls[0][2], fake.calls[0][3]
        assert params["setup_future_usage"] == "off_session" and params["description"] == "500 credits"
        assert params["metadata[billgate_checkout]"] == "code" and "confirm" not in params
        assert headers["idempotency-key"] == "billgate:checkout:code:500:USD:first"

    async def test_parameters_localstripe_refuses_are_left_out_for_it(self) -> None:
        fake = FakeStripeHTTP().respond(200, payment_intent(status="requires_payment_method"))
        await rails(fake, omit=LOCALSTRIPE_OMITS).create_payment_intent(
            customer="cus_x", amount=500, currency="USD", description="d", metadata={},
            idempotency_key="k")
        assert "setup_future_usage" not in fake.calls[0][2] and "description" not in fake.calls[0][2]

    async def test_confirm_reads_a_decline_back_from_the_intent(self) -> None:
        declined = payment_intent(status="requires_payment_method", last_payment_error={
            "code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined."})
        fake = (FakeStripeHTTP().respond(200, payment_intent(status="requires_confirmation"))
                .respond(402, card_error("card_declined", "Your card was declined.",
                                         decline_code="generic_decline", intent=declined))
                .respond(200, declined))
        intent = await rails(fake).confirm_payment_intent("pi_3QxUnitTest0001", "pm_1QUnitVisa",
                                                          idempotency_key="k")
        assert (intent.status, intent.failure_code) == ("requires_payment_method", "generic_decline")
        assert [c[1] for c in fake.calls] == ["/v1/payment_intents/pi_3QxUnitTest0001",
                                              "/v1/payment_intents/pi_3QxUnitTest0001/confirm",
                                              "/v1/payment_intents/pi_3QxUnitTest0001"]


class TestCards:
    async def test_a_card_of_another_customer_is_not_attached(self) -> None:
        fake = FakeStripeHTTP().respond(200, {"id": "pm_1", "object": "payment_method",
                                              "customer": "cus_other", "card": {"brand": "visa"}})
        with pytest.raises(ProcessorError) as raised:
            await rails(fake).attach_payment_method("pm_1", "cus_mine")
        assert raised.value.code == "payment_method_not_owned" and len(fake.calls) == 1

    async def test_an_attached_card_is_not_attached_again(self) -> None:
        fake = FakeStripeHTTP().respond(200, {
            "id": "pm_1", "object": "payment_method", "customer": "cus_mine",
            "card": {"brand": "mastercard", "last4": "4444", "exp_month": 3, "exp_year": 2031}})
        card = await rails(fake).attach_payment_method("pm_1", "cus_mine")
        assert card.as_json() == {"id": "pm_1", "brand": "mastercard", "last4": "4444",
                                  "expMonth": 3, "expYear": 2031}
        assert len(fake.calls) == 1

    async def test_a_card_refused_at_attach_is_a_declined_processor_error(self) -> None:
        fake = (FakeStripeHTTP()
                .respond(200, {"id": "pm_1", "object": "payment_method", "customer": None, "card": {}})
                .respond(402, card_error("card_declined", "Your card was declined.",
                                         decline_code="generic_decline")))
        with pytest.raises(ProcessorError) as raised:
            await rails(fake).attach_payment_method("pm_1", "cus_mine")
        assert raised.value.declined and raised.value.code == "generic_decline"


class TestRefund:
    async def test_partial_refund_of_a_payment_intent(self) -> None:
        fake = FakeStripeHTTP().respond(200, {"id": "re_1", "object": "refund", "amount": 200,
                                              "status": "succeeded", "payment_intent": "pi_1"})
        result = await rails(fake).refund(reference="pi_1", amount=200, currency="USD",
                                          idempotency_key="billgate:refund:pi_1:0:200")
        assert result.succeeded and result.reference == "re_1"
        params, headers = fake.calls[0][2], fake.calls[0][3]
        assert params == {"payment_intent": "pi_1", "amount": "200",
                          "metadata[billgate_refund]": "billgate:refund:pi_1:0:200"}
        assert headers["idempotency-key"] == "billgate:refund:pi_1:0:200"

    async def test_a_refused_refund_is_a_failed_result(self) -> None:
        fake = FakeStripeHTTP().respond(400, {"error": {
            "type": "invalid_request_error", "code": "charge_already_refunded",
            "message": "Charge ch_1 has already been refunded."}})
        result = await rails(fake).refund(reference="pi_1", amount=200, currency="USD",
                                          idempotency_key="k")
        assert not result.succeeded and "already been refunded" in (result.failure_message or "")

    async def test_a_failed_refund_status_is_a_failed_result(self) -> None:
        fake = FakeStripeHTTP().respond(200, {"id": "re_1", "object": "refund", "status": "failed"})
        result = await rails(fake).refund(reference="pi_1", amount=1, currency="USD", idempotency_key="k")
        assert (result.succeeded, result.reference) == (False, "re_1")

    async def test_an_outage_raises(self) -> None:
        fake = FakeStripeHTTP().respond(500, api_error())
        with pytest.raises(ProcessorError):
            await rails(fake).refund(reference="pi_1", amount=1, currency="USD", idempotency_key="k")


class TestRereads:
    async def test_dispute(self) -> None:
        fake = FakeStripeHTTP().respond(200, {
            "id": "dp_1", "object": "dispute", "amount": 500, "currency": "usd", "charge": "ch_1",
            "payment_intent": "pi_1", "reason": "fraudulent", "status": "needs_response"})
        dispute = await rails(fake).retrieve_dispute("dp_1")
        assert (dispute.payment_intent, dispute.amount, dispute.reason) == ("pi_1", 500, "fraudulent")

    async def test_charge_with_its_refunds(self) -> None:
        fake = FakeStripeHTTP().respond(200, {
            "id": "ch_1", "object": "charge", "amount": 500, "amount_refunded": 300, "currency": "usd",
            "payment_intent": "pi_1", "refunds": {"object": "list", "data": [
                {"id": "re_1", "object": "refund", "amount": 300, "status": "succeeded", "metadata": {}}]}})
        charge = await rails(fake).retrieve_charge("ch_1")
        assert charge.amount_refunded == 300 and [r.id for r in charge.refunds] == ["re_1"]
        assert fake.calls[0][2] == {"expand[0]": "refunds"}


class TestVerifyWebhook:
    def test_a_valid_signature_gives_the_event(self) -> None:
        body = event("payment_intent.succeeded", {"id": "pi_1"})
        assert verify_webhook(body, sign(body), SECRET)["id"] == "evt_1QUnitTest"

    @pytest.mark.parametrize("header", [None, "", "garbage", "t=1,v1=00"])
    def test_a_missing_or_malformed_header_is_refused(self, header: str | None) -> None:
        body = event("payment_intent.succeeded", {"id": "pi_1"})
        with pytest.raises(WebhookSignatureInvalid):
            verify_webhook(body, header, SECRET)

    def test_another_secret_a_changed_body_or_an_old_signature_is_refused(self) -> None:
        body = event("payment_intent.succeeded", {"id": "pi_1"})
        for payload, header in [
            (body, sign(body, "whsec_other")),
            (body.replace(b"pi_1", b"pi_2"), sign(body)),
            (body, sign(body, timestamp=int(time.time()) - 3600)),
        ]:
            with pytest.raises(WebhookSignatureInvalid):
                verify_webhook(payload, header, SECRET)

    def test_no_secret_configured_refuses_everything(self) -> None:
        body = event("payment_intent.succeeded", {"id": "pi_1"})
        with pytest.raises(WebhookSignatureInvalid):
            verify_webhook(body, sign(body, ""), "")

    def test_a_signed_body_that_is_not_an_event_is_refused(self) -> None:
        for body in (b"[1, 2]", b"not json", b'{"type": "x"}'):
            with pytest.raises(WebhookSignatureInvalid):
                verify_webhook(body, sign(body), SECRET)
