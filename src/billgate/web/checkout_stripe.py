"""The hosted checkout page in live mode, paid through Stripe.

- ``GET /checkout/{code}`` (with Stripe configured and a publishable key) loads Stripe.js
  and the Payment Element for a PaymentIntent of the checkout's amount and currency (the
  card is saved for later off-session renewals), or for a SetupIntent when nothing is due
  today (a free trial still needs a card). A free checkout gets a plain button.
- The browser confirms the intent with Stripe and comes back to
  ``GET /checkout/{code}/return``: billgate reads the intent from Stripe and completes the
  checkout only if Stripe says it succeeded (the webhook does the same, whichever comes
  first), then redirects (303) to the checkout's return URL.
- ``POST /checkout/{code}/confirm`` with JSON ``{"paymentMethodId": "pm_..."}`` pays the
  checkout server-side with a card the caller collected itself (API-driven flows, tests):
  200 ``{"status": "COMPLETED", "returnUrl", "alreadyCompleted"}``; 402 for a decline
  (nothing granted, the link stays usable, the customer is emailed); 409 for a rule that
  fails; 410 for an unknown, used or expired link.

The page's own script is inline and allowed by its SHA-256 hash; Stripe.js, its frames and
its API are the only other origins the page may use.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from billgate.billing.payment_methods import require_stripe
from billgate.billing.purchases import live_checkout, service
from billgate.db.models import CheckoutSession
from billgate.errors import BillgateError, CheckoutUnavailable, PaymentFailed
from billgate.payments.stripe_rails import ProcessorError, StripeRails
from billgate.runtime import Runtime
from billgate.web import pages

STRIPE_JS = "https://js.stripe.com/v3/"
PAGE_JS = pages.templates.loader.get_source(  # type: ignore[union-attr]
    pages.templates, "checkout_stripe.js")[0]
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(PAGE_JS.encode()).digest()).decode()
NO_PUBLISHABLE_KEY = ("Card payments need BILLGATE_STRIPE_PUBLISHABLE_KEY: this checkout "
                      "cannot take a payment yet.")
MAX_CONFIRM_BODY = 4096
PROCESSOR_DOWN = ("The payment processor could not be reached. Nothing was charged twice: "
                  "reload this page in a moment.")


@dataclass(frozen=True)
class StripeForm:
    kind: str  # payment | setup | none
    publishable_key: str
    client_secret: str | None
    return_url: str
    due_today: str  # what the intent charges: the catalog's price now


def stripe_of(runtime: Runtime) -> StripeRails | None:
    return runtime.live_rails if isinstance(runtime.live_rails, StripeRails) else None


def headers(form_targets: list[str | None]) -> dict[str, str]:
    """The hosted pages' headers, widened for Stripe.js: its script, frames and API."""
    result = pages.security_headers(form_targets)
    policy = result["Content-Security-Policy"].replace(
        "default-src 'self';",
        f"default-src 'self'; script-src 'self' https://js.stripe.com 'sha256-{_SCRIPT_HASH}'; "
        "frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com; "
        "connect-src 'self' https://api.stripe.com;", 1)
    result["Content-Security-Policy"] = policy.replace(
        "img-src 'self' data:;", "img-src 'self' data: https://*.stripe.com;", 1)
    return result


# The checkout page drawn again with a message (``web/checkout.py`` hands it in, so this
# module, below the page, never imports it): (runtime, request, *, error, status).
ShowPage = Callable[..., Awaitable[Response]]


def routes(get_runtime: Callable[[], Runtime], show: ShowPage) -> list[Route]:
    async def confirm(request: Request) -> Response:
        return await _confirm(get_runtime(), request)

    async def back(request: Request) -> Response:
        return await _return(get_runtime(), request, show)

    return [Route("/checkout/{code}/confirm", confirm, methods=["POST"], name="checkout_confirm"),
            Route("/checkout/{code}/return", back, methods=["GET"], name="checkout_return")]


async def page(runtime: Runtime, request: Request, checkout: CheckoutSession, *,
               render: Callable[..., Response], error: str | None, status: int) -> Response:
    """The live page: the checkout's summary and Stripe's Payment Element. ``render`` draws
    the checkout template with extra context and headers."""
    stripe = stripe_of(runtime)
    key = runtime.settings.stripe_publishable_key
    if stripe is None or not key:
        return render(error=error, status=status, notice=NO_PUBLISHABLE_KEY)
    code = checkout.code
    try:
        prepared = await live_checkout.prepare(runtime.db, stripe, code, clock=runtime.clock,
                                               bus=runtime.bus)
    except CheckoutUnavailable:
        return pages.render("checkout_gone.html", status=410)
    except BillgateError as exc:
        return render(error=exc.message, status=409)
    except ProcessorError:
        return render(error=PROCESSOR_DOWN, status=502)
    if isinstance(prepared, service.Completed):
        return _back_to_app(runtime, prepared.return_url or checkout.return_url, code)
    form = StripeForm(kind=prepared.kind, publishable_key=key, client_secret=prepared.client_secret,
                      return_url=f"{runtime.settings.base_url}/checkout/{code}/return",
                      due_today=pages.money(prepared.amount, prepared.currency))
    response = render(error=error, status=status, stripe=form, stripe_js=STRIPE_JS,
                      page_js=PAGE_JS)
    response.headers.update(headers([pages.origin(checkout.return_url)]))
    return response


async def complete_free(runtime: Runtime, request: Request, show: ShowPage) -> Response | None:
    """``POST /checkout/{code}/complete`` in live mode: None (go ahead) for a checkout that
    costs nothing, ever; otherwise the page again with 409 (cards are paid through Stripe)."""
    try:
        claim = await service.check_checkout(runtime.db, request.path_params["code"],
                                             clock=runtime.clock)
    except CheckoutUnavailable:
        return pages.render("checkout_gone.html", status=410)
    except BillgateError as exc:
        return await show(runtime, request, error=exc.message, status=409)
    if claim.total > 0:
        return await show(runtime, request, error="Pay with a card in the form below.",
                          status=409)
    return None


def _back_to_app(runtime: Runtime, url: str, code: str) -> Response:
    return pages.back_to_app(url, code, runtime.settings.allowed_return_urls)


async def _return(runtime: Runtime, request: Request, show: ShowPage) -> Response:
    """Where Stripe.js sends the browser after paying: complete from Stripe's answer."""
    code = request.path_params["code"]
    stripe = stripe_of(runtime)
    state = await live_checkout.checkout_state(runtime.db, code)
    if state is None:
        return pages.render("checkout_gone.html", status=410)
    if state.status == "COMPLETED":
        return _back_to_app(runtime, state.return_url, code)
    message = "The payment did not complete. You can try again."
    if stripe is not None and state.payment_reference:
        try:
            intent = await live_checkout.stored_intent(stripe, state.payment_reference)
        except BillgateError as exc:
            intent, message = None, exc.message
        if intent is not None:
            try:
                done = await live_checkout.sync_intent(
                    runtime.db, stripe, intent, clock=runtime.clock, bus=runtime.bus,
                    base_url=runtime.settings.base_url)
            except BillgateError as exc:
                done, message = None, exc.message
            except ProcessorError:
                done, message = None, PROCESSOR_DOWN
            if done is not None:
                return _back_to_app(runtime, done.return_url or state.return_url, code)
            if intent.status == "processing":
                message = ("Your payment is processing. The purchase completes as soon as your "
                           "bank confirms it; you can close this page.")
            elif intent.failure_message:
                message = intent.failure_message
    return await show(runtime, request, error=message, status=200)


def _json_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers={"Cache-Control": "no-store"})


async def _confirm(runtime: Runtime, request: Request) -> Response:
    code = request.path_params["code"]
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return _json_error(415, "INVALID_INPUT", "send JSON: {\"paymentMethodId\": \"pm_...\"}")
    body = await request.body()
    payment_method = _payment_method(body)
    if payment_method is None:
        return _json_error(400, "INVALID_INPUT", "paymentMethodId must be a Stripe payment "
                           "method id (pm_...)")
    try:
        stripe = require_stripe(runtime.live_rails,
                                test_mode=(await runtime.payment_settings()).test_mode)
        done = await live_checkout.confirm(runtime.db, stripe, code, payment_method,
                                           clock=runtime.clock, base_url=runtime.settings.base_url,
                                           bus=runtime.bus)
    except CheckoutUnavailable as exc:
        return _json_error(410, "CHECKOUT_UNAVAILABLE", exc.message)
    except PaymentFailed as exc:
        return _json_error(402, exc.code, exc.message)
    except BillgateError as exc:
        return _json_error(409, exc.code, exc.message)
    except ProcessorError as exc:
        return _json_error(502, "PAYMENT_FAILED", exc.message)
    return JSONResponse({"status": "COMPLETED",
                         "returnUrl": _completed_link(runtime, done.return_url, code),
                         "alreadyCompleted": done.already}, headers={"Cache-Control": "no-store"})


def _completed_link(runtime: Runtime, return_url: str | None, code: str) -> str | None:
    url = pages.app_link(return_url, runtime.settings.allowed_return_urls)
    return url and pages.completed_url(url, code)


def _payment_method(body: bytes) -> str | None:
    import json

    if len(body) > MAX_CONFIRM_BODY:
        return None
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None
    value = data.get("paymentMethodId") if isinstance(data, dict) else None
    if not isinstance(value, str) or not value.startswith("pm_") or len(value) > 255:
        return None
    return value
