"""The customer portal's routes under ``/portal``.

- ``GET /portal/enter?token=...``: a link from ``createCustomerPortalUrl``. A valid one sets
  the portal session (``links.py``) and redirects to ``/portal`` (the token leaves the
  address bar); an expired one answers 410, anything else 403, both with a page saying to
  open billing from the app again.
- ``GET /portal``: the page (``view.py``). Without a session: 403 and the same advice.
- Every change is a POST carrying the session's CSRF token (403 without it, before the
  form is read further or anything changes) that calls the billing function the matching
  mutation calls, then redirects back with a message (a user error as the message).
- Seats: a plan sold per seat has a field **Seats** and a button **Change seats**
  (``updateSubscriptionQuantity``), posted to ``/portal/subscriptions/{id}/seats``.
- Switch plan is a GET form leading to ``/portal/switch``: the preview
  (``previewSwitchSubscription``'s numbers and lines) with a button **Confirm switch**.
- ``GET /portal/pay/{public_id}``: an OPEN invoice's pay link (its page and PDF). It opens a
  pay-only session for the customer who owes it (``links.open_for_invoice``: the page,
  Pay now and Update card; switching, canceling, pausing and resuming answer 403) unless
  this browser already has a session of that customer; an invoice that is no longer OPEN
  sends the browser to its page.

Pages work without JavaScript. The only scripts: Stripe.js on the live-mode card page (as
the hosted checkout) and ``live.js``, which reloads the page when ``customerChanged``
reports a change made elsewhere (a renewal, another tab).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from billgate.billing import invoice_payments, invoices, payment_methods
from billgate.billing.subscriptions import operations, scheduled_changes, seats
from billgate.db.models import Invoice
from billgate.errors import BillgateError, InvalidInput
from billgate.runtime import Runtime
from billgate.web import checkout_stripe, csrf, pages
from billgate.web.checkout import TEST_CARDS
from billgate.web.portal import links, templating, view
from billgate.web.portal.links import PATH, PortalSession
from billgate.web.sessions import FLASH_SECONDS, TokenInvalid

STATIC = Path(__file__).parent / "static"
ADMIN_VENDOR = Path(__file__).parents[1] / "admin" / "static" / "vendor"
LIVE_TOKEN_SECONDS = 600
SUBSCRIPTION_OPS = ("cancel", "uncancel", "pause", "resume", "keep-plan")
DONE = {"cancel": "Your plan is canceled at the end of the period.",
        "keep-plan": "The scheduled change was canceled: your plan renews as before.",
        "uncancel": "The cancel was undone: your plan renews as before.",
        "pause": "Your plan is paused.", "resume": "Your plan is active again."}
ENDED = "Your billing session has ended. Open billing from the app again."
PAY_ONLY = ("This billing page was opened from an invoice: it can pay invoices and update the "
            "card. Nothing was changed; to change your plan, open billing from the app.")

Handler = Callable[[Runtime, Request, PortalSession], Awaitable[Response]]
Action = Callable[[Runtime, Request, PortalSession, FormData], Awaitable[Response]]


def portal_routes(get_runtime: Callable[[], Runtime]) -> list[BaseRoute]:
    def page_(handler: Handler, *, manage: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            runtime = get_runtime()
            session = links.session_of(runtime, request)
            if session is None:
                return _refused(403, ENDED)
            if manage and not session.manages:
                return _refused(403, PAY_ONLY)
            return await handler(runtime, request, session)
        return endpoint

    def action(handler: Action, *, manage: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            runtime = get_runtime()
            session = links.session_of(runtime, request)
            if session is None:
                return _refused(403, ENDED)
            form = await request.form()
            if not csrf.valid(form, session.csrf):
                return _refused(403, "This form is out of date or did not come from this page. "
                                "Nothing was changed; reload the page and try again.")
            if manage and not session.manages:
                return _refused(403, PAY_ONLY)
            return await handler(runtime, request, session, form)
        return endpoint

    async def enter(request: Request) -> Response:
        return _enter(get_runtime(), request)

    async def enter_to_pay(request: Request) -> Response:
        return await _enter_to_pay(get_runtime(), request)

    routes: list[BaseRoute] = [
        Route("/enter", enter, methods=["GET"]),
        Route("/pay/{public_id}", enter_to_pay, methods=["GET"]),
        Route("/switch", page_(_preview, manage=True), methods=["GET"]),
        Route("/switch", action(_switch, manage=True), methods=["POST"]),
        Route("/subscriptions/{id:int}/seats", action(_seats, manage=True), methods=["POST"]),
        Route("/subscriptions/{id:int}/{op}", action(_subscription, manage=True), methods=["POST"]),
        Route("/card", page_(_card_page), methods=["GET"]),
        Route("/card", action(_save_test_card), methods=["POST"]),
        Route("/card/return", page_(_card_return), methods=["GET"]),
        Route("/invoices/{id:int}/pay", action(_pay), methods=["POST"]),
        Route("/live-token", page_(_live_token), methods=["GET"]),
        Mount("/static/vendor", StaticFiles(directory=ADMIN_VENDOR), name="portal-vendor"),
        Mount("/static", StaticFiles(directory=STATIC), name="portal-static"),
    ]
    return [Route(PATH, page_(_page), methods=["GET"]), Mount(PATH, routes=routes)]


# Rendering ------------------------------------------------------------------------------


def _refused(status: int, message: str) -> Response:
    return HTMLResponse(templating.render("portal/refused.html", message=message),
                        status_code=status, headers=templating.headers())


async def _render(runtime: Runtime, request: Request, session: PortalSession, template: str, *,
                  headers: dict[str, str] | None = None, **context: Any) -> Response:
    flash = _flash_of(runtime, request)
    back = pages.app_link(session.return_url, runtime.settings.allowed_return_urls)
    context.setdefault("test_mode", (await runtime.payment_settings()).test_mode)
    html = templating.render(template, csrf_token=session.csrf, flash=flash, return_url=back,
                             manage=session.manages, **context)
    return HTMLResponse(html, headers=headers or templating.headers())


def _back(runtime: Runtime, message: str, *, level: str = "ok", to: str = PATH) -> Response:
    """After a POST: back to a page with a message. The message rides in the redirect's
    address (signed, one minute), not in a cookie: a cookie is shared by every tab, and
    another portal tab reloading at that moment (``live.js``) would take it."""
    token = links.keys(runtime).sign({"typ": "flash", "msg": message[:500], "lvl": level,
                                      "exp": int(time.time()) + FLASH_SECONDS})
    return RedirectResponse(f"{to}?{urlencode({'flash': token})}", status_code=303)


def _flash_of(runtime: Runtime, request: Request) -> tuple[str, str] | None:
    value = request.query_params.get("flash")
    if not value:
        return None
    try:
        claims = links.keys(runtime).read(value[:2000], "flash")
    except TokenInvalid:
        return None
    return str(claims.get("lvl") or "ok"), str(claims.get("msg") or "")


# Pages ----------------------------------------------------------------------------------


def _enter(runtime: Runtime, request: Request) -> Response:
    try:
        session = links.open_link(runtime, request.query_params.get("token", ""))
    except TokenInvalid as exc:
        if str(exc) == "expired":
            return _refused(410, "This billing link has expired (links are valid for one "
                            "hour). Open billing from the app again.")
        return _refused(403, "This billing link is not valid. Open billing from the app again.")
    response = RedirectResponse(PATH, status_code=303, headers={"Referrer-Policy": "no-referrer"})
    links.store(runtime, response, session)
    return response


async def pay_url(runtime: Runtime, invoice: Invoice) -> str | None:
    """An OPEN invoice's pay link (``web/invoices.invoice_routes``' ``pay_url_for``): a
    stable address, so a PDF keeps it; the session is opened when it is followed."""
    return f"{runtime.settings.base_url}{PATH}/pay/{invoice.public_id}"


async def _enter_to_pay(runtime: Runtime, request: Request) -> Response:
    public_id = request.path_params["public_id"][:100]
    customer = await invoices.open_invoice_payer(runtime.db, public_id)
    if customer is None:  # paid, void or unknown: its page says which
        return RedirectResponse(f"/invoices/{quote(public_id, safe='')}", status_code=303)
    response = RedirectResponse(PATH, status_code=303, headers={"Referrer-Policy": "no-referrer"})
    current = links.session_of(runtime, request)
    if current is None or current.customer != customer:
        links.store(runtime, response, links.open_for_invoice(customer))
    return response


async def _page(runtime: Runtime, request: Request, session: PortalSession) -> Response:
    portal = await view.read(runtime, session.customer)
    return await _render(runtime, request, session, "portal/portal.html", portal=portal,
                         live=_live_config(runtime, session))


def _live_config(runtime: Runtime, session: PortalSession) -> dict[str, str]:
    return {"type": session.customer.type.value, "customer_id": session.customer.customer_id,
            "token": _scoped(runtime, session), "token_url": f"{PATH}/live-token"}


def _scoped(runtime: Runtime, session: PortalSession) -> str:
    keys = links.keys(runtime)
    return keys.encode_scoped(keys.scoped_token(session.customer, ttl_seconds=LIVE_TOKEN_SECONDS))


async def _live_token(runtime: Runtime, request: Request, session: PortalSession) -> Response:
    return JSONResponse({"token": _scoped(runtime, session)}, headers={"Cache-Control": "no-store"})


def _target(value: str) -> tuple[str, str | None]:
    product_id, _, price_id = value.partition("|")
    if not product_id:
        raise InvalidInput("choose a plan to switch to", field=["toProductId"])
    return product_id, price_id or None


async def _preview(runtime: Runtime, request: Request, session: PortalSession) -> Response:
    params = request.query_params
    from_product = params.get("from", "")[:100]
    try:
        to_product, price_id = _target(params.get("to", "")[:200])
        preview = await operations.preview_switch(
            await runtime.billing(), session.customer, from_product_id=from_product,
            to_product_id=to_product, price_id=price_id, by_server=False,
            now=runtime.clock.now())
    except BillgateError as exc:
        return _back(runtime, exc.message, level="error")
    portal = await view.read(runtime, session.customer)
    plan = next((p for p in portal.plans if p.product_id == from_product), None)
    target = next((o.label for p in portal.plans for o in p.switch_options
                   if o.value == f"{to_product}|{price_id or ''}"), to_product)
    # A downgrade (nothing due now) waits for the period end by default, keeping what was
    # paid for; the immediate credit is the other choice. An upgrade applies now by default.
    return await _render(runtime, request, session, "portal/switch.html", preview=preview,
                   plan=plan, target=target, from_product=from_product, to_product=to_product,
                   price_id=price_id or "", money=pages.money,
                   later_by_default=preview.amount_due_now == 0)


# Actions --------------------------------------------------------------------------------


async def _switch(runtime: Runtime, request: Request, session: PortalSession,
                  form: FormData) -> Response:
    """Now (prorated) or at the period end (``when=period_end``: nothing charged now)."""
    later = form.get("when") == "period_end"
    try:
        sub = await (scheduled_changes.schedule_switch if later else operations.switch)(
            await runtime.billing(), session.customer,
            from_product_id=str(form.get("from_product_id") or "")[:100],
            to_product_id=str(form.get("to_product_id") or "")[:100],
            price_id=str(form.get("price_id") or "")[:100] or None, by_server=False,
            now=runtime.clock.now())
    except BillgateError as exc:
        return _back(runtime, exc.message, level="error")
    if later:
        return _back(runtime, f"Your plan changes at the end of the period, on "
                              f"{view.day(sub.current_period_end)}.")
    return _back(runtime, f"You are now on {sub.product['displayName']}.")


async def _subscription(runtime: Runtime, request: Request, session: PortalSession,
                        form: FormData) -> Response:
    op = request.path_params["op"]
    if op not in SUBSCRIPTION_OPS:
        return _refused(404, "There is no such action.")
    billing, now = await runtime.billing(), runtime.clock.now()
    which = operations.Selector(subscription_id=request.path_params["id"])
    try:
        if op == "cancel":
            await operations.cancel(billing, session.customer, which, immediately=False, now=now)
        elif op == "uncancel":
            await operations.uncancel(billing, session.customer, which, now=now)
        elif op == "pause":
            await operations.pause(billing, session.customer, which, resumes_at=None, now=now)
        elif op == "keep-plan":
            assert which.subscription_id is not None
            await scheduled_changes.cancel(billing, session.customer, which.subscription_id,
                                           now=now)
        else:
            await operations.resume(billing, session.customer, which, now=now)
    except BillgateError as exc:
        return _back(runtime, exc.message, level="error")
    return _back(runtime, DONE[op])


async def _seats(runtime: Runtime, request: Request, session: PortalSession,
                 form: FormData) -> Response:
    """``updateSubscriptionQuantity`` from the plan's Seats field: more seats are charged
    now (prorated), fewer credited toward the next invoices."""
    try:
        sub = await seats.update_quantity(
            await runtime.billing(), session.customer, request.path_params["id"],
            quantity=_quantity(form.get("quantity")), now=runtime.clock.now())
    except BillgateError as exc:
        return _back(runtime, exc.message, level="error")
    return _back(runtime, f"{sub.product['displayName']} now has {pages.count(sub.quantity, 'seat')}.")


def _quantity(value: object) -> int:
    text = str(value or "").strip()[:12]
    if not text.isdigit():
        raise InvalidInput("enter a whole number of seats", field=["quantity"])
    return int(text)


async def _pay(runtime: Runtime, request: Request, session: PortalSession,
               form: FormData) -> Response:
    try:
        await invoice_payments.pay(await runtime.billing(), session.customer,
                                   request.path_params["id"], now=runtime.clock.now())
    except BillgateError as exc:
        return _back(runtime, f"{exc.message} The invoice is still open.", level="error")
    return _back(runtime, "Thank you: the invoice is paid.")


# The card -------------------------------------------------------------------------------


async def _card_page(runtime: Runtime, request: Request, session: PortalSession) -> Response:
    test_mode = (await runtime.payment_settings()).test_mode
    portal = await view.read(runtime, session.customer)
    if test_mode:
        return await _render(runtime, request, session, "portal/card.html", card=portal.card,
                       test_mode=True, test_cards=TEST_CARDS)
    stripe, key = checkout_stripe.stripe_of(runtime), runtime.settings.stripe_publishable_key
    if stripe is None or not key:
        return await _render(runtime, request, session, "portal/card.html", card=portal.card,
                       test_mode=False, notice="Saving a card needs Stripe configuration "
                       "(BILLGATE_STRIPE_SECRET_KEY and BILLGATE_STRIPE_PUBLISHABLE_KEY).")
    try:
        intent = await payment_methods.create_setup_intent(runtime.db, stripe, session.customer)
    except BillgateError as exc:
        return _back(runtime, exc.message, level="error")
    form = checkout_stripe.StripeForm(
        kind="setup", publishable_key=key, client_secret=intent.client_secret,
        return_url=f"{runtime.settings.base_url}{PATH}/card/return", due_today="")
    return await _render(runtime, request, session, "portal/card.html", card=portal.card,
                   test_mode=False, stripe=form, stripe_js=checkout_stripe.STRIPE_JS,
                   page_js=checkout_stripe.PAGE_JS, headers=templating.stripe_headers())


async def _save_test_card(runtime: Runtime, request: Request, session: PortalSession,
                          form: FormData) -> Response:
    number = form.get("test_card")
    if number not in {card.number for card in TEST_CARDS}:
        return _back(runtime, "Choose one of the test cards.", level="error", to=f"{PATH}/card")
    try:
        await payment_methods.set_test_card(await runtime.billing(), session.customer,
                                            str(number), now=runtime.clock.now())
    except BillgateError as exc:
        return _back(runtime, exc.message, level="error")
    return _back(runtime, f"Your card ending {str(number)[-4:]} is saved.")


async def _card_return(runtime: Runtime, request: Request, session: PortalSession) -> Response:
    """Live mode: Stripe.js sends the browser here after confirming the SetupIntent; the
    intent is read from Stripe (never trusted from the address) and its card made the
    default, then PAST_DUE subscriptions are retried, as ``setDefaultPaymentMethodFromSetupIntent``."""
    intent_id = request.query_params.get("setup_intent", "")[:255]
    try:
        stripe = payment_methods.require_stripe(
            runtime.live_rails, test_mode=(await runtime.payment_settings()).test_mode)
        card = await payment_methods.set_default_from_setup_intent(
            runtime.db, stripe, session.customer, intent_id)
        pk = await payment_methods.customer_pk(runtime.db, session.customer)
        if pk is not None:
            await payment_methods.retry_past_due(await runtime.billing(), pk,
                                                 now=runtime.clock.now())
    except BillgateError as exc:
        return _back(runtime, exc.message, level="error")
    return _back(runtime, f"Your card ending {card.get('last4')} is saved.")
