"""Live rails: Stripe through the official SDK's async client (``stripe.StripeClient``).

Stripe does only what a payment processor must: customers, saved cards (SetupIntents and
PaymentMethods), charges (PaymentIntents, on and off session), refunds, disputes and the
signed webhooks that report them. billgate's engine decides what to charge and when.

Every method returns plain dataclasses (never SDK objects), so ``billing/`` stays free of
Stripe types. Amounts are integer minor units, which is also Stripe's unit for every
currency billgate sells in: JPY is zero-decimal at Stripe too, so ¥500 is sent as 500.

Errors: a card decline is an answer, not an error (``charge`` returns a failed
``ChargeResult``; the other methods raise ``ProcessorError`` with ``declined=True``).
Anything else (network, authentication, a bad request) raises ``ProcessorError`` with
``declined=False``, so a renewal job stops and retries later with the *same* idempotency
key instead of recording a decline that may not have happened.

``omit_params`` names request parameters left out of every call. It exists for
localstripe (the Stripe-compatible test server), which refuses ``setup_future_usage`` and
``description``; real Stripe gets both.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
import stripe

from billgate.payments.rails import ChargeRequest, ChargeResult, RefundResult
from billgate.types import CustomerRef

log = logging.getLogger(__name__)

# Parameters localstripe 1.15 rejects ("Unexpected ..."); billgate never depends on them.
LOCALSTRIPE_OMITS = frozenset({"setup_future_usage", "description"})
CARD_ONLY = ["card"]
# Metadata keys billgate sets on the Stripe objects it creates.
CHECKOUT_METADATA_KEY = "billgate_checkout"
REFUND_METADATA_KEY = "billgate_refund"
WEBHOOK_TOLERANCE_SECONDS = 300

ResolveCustomer = Callable[[CustomerRef], Awaitable[str | None]]
# The payment method types the operator accepts on checkout (the stored payment settings).
MethodTypes = Callable[[], Awaitable[list[str]]]


class ProcessorError(Exception):
    """A Stripe call that did not give an answer to act on (``declined=False``), or a card
    refused outside a charge (attach, confirm: ``declined=True``)."""

    def __init__(self, message: str, *, code: str | None = None, declined: bool = False,
                 http_status: int | None = None, payment_intent: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.declined = declined
        self.http_status = http_status
        self.payment_intent = payment_intent


class WebhookSignatureInvalid(Exception):
    """The ``Stripe-Signature`` header is missing, malformed, stale or does not match."""


@dataclass(frozen=True)
class Card:
    id: str
    customer: str | None
    brand: str
    last4: str
    exp_month: int
    exp_year: int

    def as_json(self) -> dict[str, Any]:
        """The shape billgate stores as a customer's default payment method."""
        return {"id": self.id, "brand": self.brand, "last4": self.last4,
                "expMonth": self.exp_month, "expYear": self.exp_year}


@dataclass(frozen=True)
class Intent:
    """A PaymentIntent or a SetupIntent as Stripe reports it now."""

    id: str
    object: str  # "payment_intent" | "setup_intent"
    status: str
    customer: str | None
    payment_method: str | None
    client_secret: str | None
    created: int
    amount: int | None = None
    currency: str | None = None
    latest_charge: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


@dataclass(frozen=True)
class RefundInfo:
    id: str
    amount: int
    status: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChargeInfo:
    id: str
    payment_intent: str | None
    amount: int
    amount_refunded: int
    currency: str
    refunds: tuple[RefundInfo, ...] = ()


@dataclass(frozen=True)
class DisputeInfo:
    id: str
    charge: str | None
    payment_intent: str | None
    amount: int
    currency: str
    reason: str | None
    status: str


def verify_webhook(payload: bytes, signature: str | None, secret: str, *,
                   tolerance: int = WEBHOOK_TOLERANCE_SECONDS) -> dict[str, Any]:
    """The event of a webhook body whose ``Stripe-Signature`` is valid for ``secret``;
    ``WebhookSignatureInvalid`` otherwise (no network call: an HMAC check)."""
    if not signature or not secret:
        raise WebhookSignatureInvalid("missing Stripe-Signature header or webhook secret")
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(text, signature, secret, tolerance)
        # orjson: nesting past 1,024 levels and lone surrogates are a decode error (a 400),
        # where json.loads raised RecursionError (a 500) or let them through.
        event = orjson.loads(payload)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as exc:
        raise WebhookSignatureInvalid(str(exc)[:100] or "invalid signature") from None
    if not isinstance(event, dict) or not _is_text(event.get("id")) \
            or not _is_text(event.get("type") or ""):
        raise WebhookSignatureInvalid("the signed body is not a Stripe event")
    return event


def _is_text(value: Any) -> bool:
    # Stored as text: PostgreSQL refuses NUL.
    return isinstance(value, str) and "\x00" not in value and len(value) <= 255


def _id(value: Any) -> str | None:
    """An id field that may come expanded (an object) or not (a string)."""
    if value is None or isinstance(value, str):
        return value
    return str(value.get("id")) if value.get("id") else None


def _metadata(obj: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(obj.get("metadata") or {}).items()}


def _intent(obj: Any) -> Intent:
    error = obj.get("last_payment_error") or obj.get("last_setup_error") or {}
    return Intent(
        id=str(obj["id"]), object=str(obj.get("object") or ""), status=str(obj.get("status")),
        customer=_id(obj.get("customer")), payment_method=_id(obj.get("payment_method")),
        client_secret=obj.get("client_secret"), created=int(obj.get("created") or 0),
        amount=obj.get("amount"), currency=(obj.get("currency") or None),
        latest_charge=_id(obj.get("latest_charge")),
        failure_code=(error.get("decline_code") or error.get("code")) if error else None,
        failure_message=error.get("message") if error else None, metadata=_metadata(obj))


def _card(obj: Any) -> Card:
    card = obj.get("card") or {}
    return Card(id=str(obj["id"]), customer=_id(obj.get("customer")),
                brand=str(card.get("brand") or "card"), last4=str(card.get("last4") or ""),
                exp_month=int(card.get("exp_month") or 0), exp_year=int(card.get("exp_year") or 0))


def _processor_error(exc: stripe.StripeError) -> ProcessorError:
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    raw = body.get("error")
    error: dict[str, Any] = raw if isinstance(raw, dict) else {}
    payment_intent = _id(error.get("payment_intent"))
    declined = isinstance(exc, stripe.CardError)
    code = exc.code or error.get("code")
    if declined and error.get("decline_code"):
        code = str(error.get("decline_code"))
    message = (exc.user_message or str(exc) or "the payment processor refused the request") \
        if declined else (exc.user_message or "the payment processor could not be reached "
                          "or refused the request")
    return ProcessorError(message, code=code, declined=declined, http_status=exc.http_status,
                          payment_intent=payment_intent)


def charge_result_of_error(exc: stripe.StripeError) -> ChargeResult:
    """A charge refused by the card (``CardError``: a decline) as a failed result; any other
    error is raised as ``ProcessorError`` (the outcome is unknown: retry with the same key)."""
    if not isinstance(exc, stripe.CardError):
        raise _processor_error(exc) from exc
    failure = _processor_error(exc)
    return ChargeResult(False, reference=failure.payment_intent,
                        failure_code=failure.code or "card_declined",
                        failure_message=failure.message)


class StripeRails:
    """``PaymentRails`` on Stripe, plus the Stripe-only calls billing needs (customers,
    SetupIntents, PaymentIntents for hosted checkout, refunds, re-reads for webhooks)."""

    name = "stripe"

    def __init__(self, secret_key: str, *, api_base: str | None = None,
                 resolve_customer: ResolveCustomer | None = None,
                 http_client: stripe.HTTPClient | None = None,
                 omit_params: frozenset[str] = frozenset(), max_network_retries: int = 2,
                 method_types: MethodTypes | None = None) -> None:
        self._http = http_client or stripe.HTTPXClient()
        addresses: Any = {"api": api_base.rstrip("/")} if api_base else None
        self.client = stripe.StripeClient(secret_key, base_addresses=addresses,
                                          http_client=self._http,
                                          max_network_retries=max_network_retries)
        self.resolve_customer = resolve_customer
        self.omit_params = omit_params
        self.method_types = method_types
        self._account_id: str | None = None

    async def _checkout_method_types(self) -> list[str]:
        """What an on-session intent (checkout, saving a card) offers: the operator's
        accepted types (Settings), card only when none are configured. Off-session charges
        always use the saved card."""
        return await self.method_types() if self.method_types else list(CARD_ONLY)

    async def aclose(self) -> None:
        with contextlib.suppress(NotImplementedError):  # a client without async support
            await self._http.close_async()  # type: ignore[no-untyped-call]

    def _params(self, params: dict[str, Any]) -> Any:
        return {k: v for k, v in params.items() if k not in self.omit_params and v is not None}

    @staticmethod
    def _options(idempotency_key: str | None) -> Any:
        return {"idempotency_key": idempotency_key} if idempotency_key else {}

    # PaymentRails ---------------------------------------------------------------------------

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        """Charge the customer's saved card now: a confirmed PaymentIntent on the given
        payment method (``off_session`` for renewals, retries and switches), deduplicated
        by Stripe on ``request.idempotency_key``."""
        customer = await self.resolve_customer(request.customer) if self.resolve_customer else None
        if customer is None or not request.payment_method:
            return ChargeResult(False, failure_code="no_payment_method",
                                failure_message="the customer has no saved card to charge")
        who = f"{request.customer.type.value}:{request.customer.customer_id}"
        params = {
            "amount": request.amount, "currency": request.currency.lower(), "customer": customer,
            "payment_method": request.payment_method, "payment_method_types": CARD_ONLY,
            "confirm": True, "off_session": True if request.off_session else None,
            "description": request.description,
            "metadata": {"billgate_key": request.idempotency_key, "billgate_customer": who},
        }
        try:
            pi = await self.client.v1.payment_intents.create_async(
                self._params(params), self._options(request.idempotency_key))
        except stripe.StripeError as exc:
            return charge_result_of_error(exc)
        intent = _intent(pi.to_dict())
        if intent.succeeded:
            return ChargeResult(True, reference=intent.id)
        return ChargeResult(False, reference=intent.id, failure_code=intent.failure_code or intent.status,
                            failure_message=intent.failure_message
                            or f"the payment needs attention ({intent.status})")

    async def refund(self, *, reference: str | None, amount: int, currency: str,
                     idempotency_key: str) -> RefundResult:
        """Refund ``amount`` of the PaymentIntent ``reference`` (partial or full). The
        refund carries its key as ``metadata.billgate_refund``, so the ``charge.refunded``
        webhook can tell billgate's own refunds (recorded by whoever made them) from refunds
        made in the Stripe Dashboard."""
        if not reference:
            return RefundResult(False, failure_message="the transaction has no Stripe payment")
        try:
            refund = await self.client.v1.refunds.create_async(
                self._params({"payment_intent": reference, "amount": amount,
                              "metadata": {REFUND_METADATA_KEY: idempotency_key}}),
                self._options(idempotency_key))
        except stripe.StripeError as exc:
            error = _processor_error(exc)
            if exc.http_status is not None and 400 <= exc.http_status < 500 and exc.http_status != 429:
                return RefundResult(False, failure_message=error.message)
            raise error from exc
        status = refund.to_dict().get("status")
        if status in ("failed", "canceled"):
            return RefundResult(False, reference=str(refund["id"]), failure_message=f"the refund {status}")
        return RefundResult(True, reference=str(refund["id"]))

    # Customers and saved cards --------------------------------------------------------------

    async def create_customer(self, ref: CustomerRef, *, email: str | None,
                              idempotency_key: str) -> str:
        customer = await self._call(self.client.v1.customers.create_async(
            self._params({"email": email, "description": f"billgate {ref.type.value} {ref.customer_id}",
                          "metadata": {"billgate_customer_type": ref.type.value,
                                       "billgate_customer_id": ref.customer_id}}),
            self._options(idempotency_key)))
        return str(customer["id"])

    async def set_default_payment_method(self, customer: str, payment_method: str) -> None:
        await self._call(self.client.v1.customers.update_async(
            customer, {"invoice_settings": {"default_payment_method": payment_method}}))

    async def create_setup_intent(self, customer: str, *, metadata: Mapping[str, str],
                                  idempotency_key: str | None = None) -> Intent:
        """A SetupIntent that saves a card for later off-session charges."""
        params: Any = {"customer": customer, "usage": "off_session",
                       "payment_method_types": await self._checkout_method_types(),
                       "metadata": dict(metadata)}
        return _intent(await self._call(self.client.v1.setup_intents.create_async(
            params, self._options(idempotency_key))))

    async def retrieve_setup_intent(self, setup_intent_id: str) -> Intent:
        return _intent(await self._call(self.client.v1.setup_intents.retrieve_async(setup_intent_id)))

    async def retrieve_payment_method(self, payment_method_id: str) -> Card:
        return _card(await self._call(
            self.client.v1.payment_methods.retrieve_async(payment_method_id)))

    async def attach_payment_method(self, payment_method_id: str, customer: str) -> Card:
        """Attach the card to the customer (Stripe verifies it: a refused card raises
        ``ProcessorError(declined=True)``). Attaching a card the customer has is a no-op."""
        card = await self.retrieve_payment_method(payment_method_id)
        if card.customer == customer:
            return card
        if card.customer is not None:
            raise ProcessorError("the payment method belongs to another customer",
                                 code="payment_method_not_owned")
        return _card(await self._call(self.client.v1.payment_methods.attach_async(
            payment_method_id, {"customer": customer})))

    # PaymentIntents for hosted checkout -----------------------------------------------------

    async def create_payment_intent(self, *, customer: str, amount: int, currency: str,
                                    description: str, metadata: Mapping[str, str],
                                    idempotency_key: str) -> Intent:
        """An on-session PaymentIntent for Stripe.js's Payment Element; the card is saved
        for later off-session charges (renewals) once it is paid."""
        return _intent(await self._call(self.client.v1.payment_intents.create_async(
            self._params({"amount": amount, "currency": currency.lower(), "customer": customer,
                          "payment_method_types": await self._checkout_method_types(),
                          "setup_future_usage": "off_session",
                          "description": description, "metadata": dict(metadata)}),
            self._options(idempotency_key))))

    async def retrieve_payment_intent(self, payment_intent_id: str) -> Intent:
        return _intent(await self._call(
            self.client.v1.payment_intents.retrieve_async(payment_intent_id)))

    async def confirm_payment_intent(self, payment_intent_id: str, payment_method: str, *,
                                     idempotency_key: str) -> Intent:
        """Confirm server-side with a saved card and return the intent as Stripe has it
        afterwards (re-read, so a decline reads as ``requires_payment_method`` with the
        failure). The card is set first, then confirmed: both Stripe and localstripe take
        that form."""
        await self._call(self.client.v1.payment_intents.update_async(
            payment_intent_id, {"payment_method": payment_method}))
        try:
            await self.client.v1.payment_intents.confirm_async(
                payment_intent_id, {}, self._options(idempotency_key))
        except stripe.CardError:
            pass  # the decline is on the intent, read below
        except stripe.StripeError as exc:
            raise _processor_error(exc) from exc
        intent = await self.retrieve_payment_intent(payment_intent_id)
        declined = intent.status == "requires_payment_method"
        if declined and intent.failure_code is None:
            return replace(intent, failure_code="card_declined",
                           failure_message="Your card was declined.")
        return intent

    async def cancel_payment_intent(self, payment_intent_id: str) -> None:
        """Best effort: a replaced checkout intent that can no longer be paid."""
        try:
            await self.client.v1.payment_intents.cancel_async(payment_intent_id)
        except stripe.StripeError as exc:
            log.info("could not cancel %s: %s", payment_intent_id, exc)

    # Re-reads for webhooks ------------------------------------------------------------------

    async def retrieve_charge(self, charge_id: str) -> ChargeInfo:
        obj = await self._call(self.client.v1.charges.retrieve_async(
            charge_id, {"expand": ["refunds"]}))
        refunds = ((obj.get("refunds") or {}).get("data")) or []
        return ChargeInfo(
            id=str(obj["id"]), payment_intent=_id(obj.get("payment_intent")),
            amount=int(obj.get("amount") or 0), amount_refunded=int(obj.get("amount_refunded") or 0),
            currency=str(obj.get("currency") or ""),
            refunds=tuple(RefundInfo(id=str(r["id"]), amount=int(r.get("amount") or 0),
                                     status=str(r.get("status") or ""), metadata=_metadata(r))
                          for r in refunds))

    async def account_id(self) -> str:
        """The Stripe account of the configured key (``GET /v1/account``), read once and
        kept: it cannot change while the key does not (Stack Auth's ``stripeAccountId``)."""
        if self._account_id is None:
            obj = await self._call(self.client.v1.accounts.retrieve_current_async())
            self._account_id = str(obj["id"])
        return self._account_id

    async def retrieve_dispute(self, dispute_id: str) -> DisputeInfo:
        obj = await self._call(self.client.v1.disputes.retrieve_async(dispute_id))
        return DisputeInfo(id=str(obj["id"]), charge=_id(obj.get("charge")),
                           payment_intent=_id(obj.get("payment_intent")),
                           amount=int(obj.get("amount") or 0), currency=str(obj.get("currency") or ""),
                           reason=obj.get("reason"), status=str(obj.get("status") or ""))

    @staticmethod
    async def _call(awaitable: Awaitable[Any]) -> dict[str, Any]:
        """The response as a plain dict; Stripe errors as ``ProcessorError``."""
        try:
            obj = await awaitable
        except stripe.StripeError as exc:
            raise _processor_error(exc) from exc
        return dict(obj.to_dict())
