"""billgate's hosted checkout page.

``GET /checkout/{code}`` shows what is being bought: the product, the chosen price, quantity
and total, the included items and any free trial. ``POST /checkout/{code}/complete`` completes
it. Plain HTML forms; the only script is Stripe's card form in live mode.

- Test mode: a TEST MODE banner, a choice of test card (4242... succeeds, 4000...0002 is
  declined, 4000...9995 has insufficient funds: a decline can be tried in a browser) and a
  "Complete test purchase" button. Completing charges nothing real (test rails) and
  redirects (303 See Other) to the return URL with ``checkout_status=complete`` and
  ``checkout_id=<code>`` added; the app reads what the customer owns from the API.
- A checkout made with a ``cancelUrl`` shows a "Cancel" link to it (nothing is changed).
- Live mode with Stripe configured: Stripe.js and the Payment Element, a return address
  and a server-side confirmation (``web/checkout_stripe.py``); a POST here completes only a
  free checkout. Live mode without Stripe: the page says card payments need Stripe
  configuration and has no button; a POST is refused with 409.
- A code that is unknown, already used or expired answers 410 Gone with a friendly page.
  Unknown codes get 410 too, so a probe cannot tell a used code from one that never existed.
- A domain error at completion (product already owned, new purchases blocked, ...) shows
  the page again with the message and 409; nothing is granted and the link stays usable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from billgate.billing import catalog
from billgate.billing.purchases import service
from billgate.db.models import CheckoutSession
from billgate.errors import BillgateError, CheckoutUnavailable, PaymentFailed, PromoCodeInvalid
from billgate.payments.rails import PaymentRails
from billgate.runtime import Runtime
from billgate.web import checkout_stripe, pages

LIVE_NOTICE = ("Live card payments arrive with Stripe configuration: this checkout cannot "
               "take a payment yet.")
EXPIRY_WORDING = {
    "NEVER": "never expire",
    "WHEN_REPEATED": "unused ones expire at the next grant",
    "WHEN_PURCHASE_EXPIRES": "expire when the purchase ends",
}


@dataclass(frozen=True)
class TestCard:
    __test__ = False  # not a pytest class
    number: str
    label: str
    outcome: str


# Stripe's test numbers, which the test rails honour (payments/test_rails.py).
TEST_CARDS = (
    TestCard("4242424242424242", "4242 4242 4242 4242", "succeeds"),
    TestCard("4000000000000002", "4000 0000 0000 0002", "declined"),
    TestCard("4000000000009995", "4000 0000 0000 9995", "insufficient funds"),
)


@dataclass(frozen=True)
class IncludedItem:
    name: str
    quantity: str
    repeat: str | None
    expiry: str


@dataclass(frozen=True)
class Summary:
    product_name: str
    price: str
    trial: str | None
    quantity: int
    total: str
    due_today: str
    items: list[IncludedItem]
    # A plan change: "Unused time on Pro" and its credit, taken off what is due today.
    credit_label: str | None = None
    credit: str | None = None
    # Tax on top of the price for this buyer's country ("VAT 20%"), included in due today.
    tax_label: str | None = None
    tax: str | None = None
    # A promo code on the checkout: its line ("Promo code SAVE20 (20% off)") and amount off,
    # or why it cannot be used now; ``promo_code`` fills the page's field.
    promo_code: str | None = None
    discount_label: str | None = None
    discount: str | None = None
    promo_error: str | None = None


def checkout_routes(get_runtime: Callable[[], Runtime]) -> list[Route]:
    """The checkout routes; ``get_runtime`` returns the running app's ``Runtime``."""

    async def show(request: Request) -> Response:
        return await _page(get_runtime(), request)

    async def complete(request: Request) -> Response:
        return await _complete(get_runtime(), request)

    async def done(request: Request) -> Response:
        return pages.render("checkout_done.html")

    async def promo(request: Request) -> Response:
        return await _promo(get_runtime(), request)

    return [Route("/checkout/{code}", show, methods=["GET"], name="checkout"),
            Route("/checkout/{code}/done", done, methods=["GET"], name="checkout_done"),
            Route("/checkout/{code}/complete", complete, methods=["POST"],
                  name="checkout_complete"),
            Route("/checkout/{code}/promo", promo, methods=["POST"], name="checkout_promo"),
            *checkout_stripe.routes(get_runtime, _page)]


async def _page(runtime: Runtime, request: Request, *, error: str | None = None,
                status: int = 200) -> Response:
    code = request.path_params["code"]
    try:
        checkout, _ = await service.get_checkout(runtime.db, code, clock=runtime.clock)
    except CheckoutUnavailable:
        return _gone()
    test_mode = (await runtime.payment_settings()).test_mode
    summary = await _with_switch(runtime, code, await _summary(runtime, checkout))

    def render(*, error: str | None = None, status: int = 200, **extra: Any) -> Response:
        return pages.render(
            "checkout.html", status=status, form_targets=[pages.origin(checkout.return_url)],
            summary=summary, error=error, live_notice=LIVE_NOTICE, test_mode=test_mode,
            test_cards=TEST_CARDS,
            cancel_url=pages.app_link(checkout.cancel_url, runtime.settings.allowed_return_urls),
            complete_path=request.url_for("checkout_complete", code=code).path,
            promo_path=request.url_for("checkout_promo", code=code).path, **extra)

    if not test_mode and checkout_stripe.stripe_of(runtime) is not None:
        return await checkout_stripe.page(runtime, request, checkout, render=render, error=error,
                                          status=status)
    return render(error=error, status=status)


async def _complete(runtime: Runtime, request: Request) -> Response:
    rails = await _test_rails(runtime)
    if rails is None and checkout_stripe.stripe_of(runtime) is not None:
        # Live mode with Stripe: only a free checkout completes here (cards go to Stripe).
        refused = await checkout_stripe.complete_free(runtime, request, _page)
        if refused is not None:
            return refused
        rails = checkout_stripe.stripe_of(runtime)
    if rails is None:
        return await _page(runtime, request, error=LIVE_NOTICE, status=409)
    test_mode = rails is runtime.test_rails
    try:
        done = await service.complete_checkout(
            runtime.db, request.path_params["code"], rails=rails, clock=runtime.clock,
            test_mode=test_mode, bus=runtime.bus, base_url=runtime.settings.base_url,
            payment_method=await _test_card(request) if test_mode else None)
    except CheckoutUnavailable:
        return _gone()
    except BillgateError as exc:
        return await _page(runtime, request, error=exc.message, status=409)
    return pages.back_to_app(done.return_url, request.path_params["code"],
                             runtime.settings.allowed_return_urls)


async def _promo(runtime: Runtime, request: Request) -> Response:
    """The "Promo code" field: the code goes on the checkout and the page shows the new
    total (303 back to it); a code that cannot be used shows the page with the reason (409)
    and changes nothing."""
    code = request.path_params["code"]
    text = str((await request.form()).get("promo_code") or "")[:100]
    try:
        await service.set_promo_code(runtime.db, code, text, clock=runtime.clock)
    except CheckoutUnavailable:
        return _gone()
    except BillgateError as exc:
        return await _page(runtime, request, error=exc.message, status=409)
    return RedirectResponse(request.url_for("checkout", code=code).path, status_code=303)


async def _test_card(request: Request) -> str | None:
    """The test card the buyer picked (test mode), as the test rails name it; only the
    listed cards, so a crafted form cannot make the rails see anything else."""
    number = (await request.form()).get("test_card")
    return f"pm_card_{number}" if number in {card.number for card in TEST_CARDS} else None


async def _test_rails(runtime: Runtime) -> PaymentRails | None:
    """The test rails when in test mode; None in live mode (not completed on this page yet)."""
    try:
        rails, test_mode = await runtime.rails()
    except PaymentFailed:  # live mode without a payment processor
        return None
    return rails if test_mode else None


def _gone() -> Response:
    return pages.render("checkout_gone.html", status=410)


async def _summary(runtime: Runtime, checkout: CheckoutSession) -> Summary:
    product = checkout.product  # the snapshot taken when the link was made
    price = next((p for p in product.get("prices") or []
                  if p["priceId"] == checkout.price_id), None)
    unit = int(price["amounts"].get(checkout.currency, 0)) if price else 0
    interval = price.get("interval") if price else None
    trial = (price.get("freeTrial") if price else None) or product.get("freeTrial")
    trial = trial if interval else None
    total = _amount(unit * checkout.quantity, checkout.currency, interval)
    return Summary(
        product_name=product["displayName"], price=_amount(unit, checkout.currency, interval),
        trial=f"{pages.trial_length(trial)} free trial, then {total}" if trial else None,
        quantity=checkout.quantity, total=total,
        due_today=pages.money(0 if trial else unit * checkout.quantity, checkout.currency),
        items=await _included(runtime, product.get("includedItems") or [], checkout.quantity))


async def _with_switch(runtime: Runtime, code: str, summary: Summary) -> Summary:
    """A checkout that changes the customer's plan (``checkout_switch``) shows the old
    plan's credit and the prorated amount due today, as completing it would charge now;
    any other shows the tax for the buyer's country (``invoices.tax_due``) it adds. A
    rule that fails now shows the plain summary; completing says why."""
    summary = replace(summary, promo_code=await service.promo_code_of(runtime.db, code))
    try:
        claim = await service.check_checkout(runtime.db, code, clock=runtime.clock)
    except PromoCodeInvalid as exc:  # the code on it cannot be used now: say why
        return replace(summary, promo_error=exc.message)
    except BillgateError:
        return summary
    if claim.discount_label is not None and claim.replaces is None:
        # During a free trial nothing is due today: the code takes its part off the first
        # charge after the trial.
        summary = replace(summary, discount_label=claim.discount_label,
                          discount=pages.money(-claim.discount, claim.currency)
                          if claim.discount or not summary.trial else "on the first charge",
                          due_today=pages.money(claim.amount, claim.currency))
    if claim.replaces is None:
        if claim.tax:  # what the buyer pays on top of the price, shown before paying
            return replace(summary, tax_label=claim.tax_label, tax=pages.money(claim.tax, claim.currency),
                           due_today=pages.money(claim.amount, claim.currency))
        return summary
    # A plan change is paid now: no trial, whatever the plan offers new customers.
    return replace(summary, trial=None, credit_label=f"Unused time on {claim.replaces}",
                   credit=pages.money(-claim.credit, claim.currency),
                   tax_label=claim.tax_label if claim.tax else None,
                   tax=pages.money(claim.tax, claim.currency) if claim.tax else None,
                   due_today=pages.money(claim.amount, claim.currency))


def _amount(minor: int, currency: str, interval: Mapping[str, Any] | None) -> str:
    text = pages.money(minor, currency)
    return f"{text} / {pages.period(interval)}" if interval else text


async def _included(runtime: Runtime, included: list[dict[str, Any]],
                    quantity: int) -> list[IncludedItem]:
    async with runtime.db.read_session() as session:
        names = {d.item_id: d.display_name
                 for d in await catalog.list_item_definitions(session, include_archived=True)}
    return [IncludedItem(
        name=names.get(entry["itemId"], entry["itemId"]),
        quantity=f"{int(entry['quantity']) * quantity:,}",
        repeat=f"every {pages.period(entry['repeat'])}" if entry.get("repeat") else None,
        expiry=EXPIRY_WORDING.get(entry.get("expires") or "NEVER", ""),
    ) for entry in included]
