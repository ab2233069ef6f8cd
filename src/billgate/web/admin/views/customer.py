"""A customer's page (``/admin/customers/{TYPE}/{customerId}``) and its actions: adjust a
balance (with an optional expiry), grant a product, cancel / undo / pause / resume a
subscription, change its seats, change its plan at the period end (or cancel that change),
refund a charge (optionally taking back what it granted).

Each action is a POST through ``actions.perform`` to one function of ``calls.py``; on
success the browser goes back to the page with a message, on a user error the page is shown
again with the error next to the field and what was typed kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from starlette.datastructures import FormData
from starlette.responses import Response
from starlette.routing import Route

from billgate.billing import customer_view
from billgate.billing.operator_actions import customer_target
from billgate.billing.purchases.request import quantity_max
from billgate.errors import BillgateError, InvalidInput
from billgate.types import CustomerRef, CustomerType
from billgate.web import pages
from billgate.web.admin import calls, forms
from billgate.web.admin.actions import perform
from billgate.web.admin.console import Ctx, customer_path
from billgate.web.admin.forms import FormState
from billgate.web.admin.live import live_config
from billgate.web.admin.templating import money

SUBSCRIPTION_OPS = {"cancel": ("cancelSubscription", "Canceled at the end of the period"),
                    "cancel_now": ("cancelSubscription", "Canceled now"),
                    "uncancel": ("uncancelSubscription", "The cancel was undone"),
                    "pause": ("pauseSubscription", "Paused"),
                    "resume": ("resumeSubscription", "Resumed"),
                    "cancel_change": ("cancelScheduledChange", "The scheduled change was canceled")}
ADJUST_FIELDS = {"amount": "amount", "expiresAt": "expires_at", "itemId": "item",
                 "description": "reason"}
GRANT_FIELDS = {"productId": "product", "priceId": "product", "currency": "product",
                "product": "product", "customer": "product"}
REFUND_FIELDS = {"amount": "amount", "transactionId": "amount"}
SEATS_FIELDS = {"quantity": "quantity", "subscriptionId": "quantity"}


@dataclass(frozen=True)
class SubscriptionView:
    state: customer_view.SubscriptionState
    buttons: list[tuple[str, str]]  # (op, label)
    price: str
    seats_max: int = 1  # > 1: sold per seat, the Seats field is shown (``seats_of``)
    scheduled: str | None = None  # "Changes to Pro, pro-monthly on 28 Feb 2026"
    # (productId|priceId, label) of the plans of its line to change to at the period end.
    later_options: list[tuple[str, str]] = field(default_factory=list)


def seats_of(row: Any) -> int:
    """The most seats the subscription's price (as sold) allows; 1 when it changes none
    (one-time, or not ACTIVE/TRIALING: ``updateSubscriptionQuantity`` would refuse)."""
    if row.status not in ("TRIALING", "ACTIVE") or not (row.price or {}).get("interval"):
        return 1
    return quantity_max(row.price)


def _scheduled_text(change: Any) -> str:
    return (f"Changes to {change.product['displayName']}, {change.to_price_id} on "
            f"{change.at.astimezone(UTC):%-d %b %Y}")


def _later_options(row: Any, detail: customer_view.CustomerDetail) -> list[tuple[str, str]]:
    """Other plans of the subscription's line with a recurring price (billing checks the
    choice again: ``scheduled_changes.schedule_switch``)."""
    if row.status not in ("ACTIVE", "TRIALING") or row.cancel_at_period_end \
            or row.product_line_id is None:
        return []
    return [(f"{p.product_id}|{price['priceId']}", f"{p.display_name}, {price['priceId']}")
            for p in detail.grantable if p.product_line_id == row.product_line_id
            and not p.included_by_default and not p.is_add_on_to
            for price in p.prices or []
            if price.get("interval") and (p.product_id, price["priceId"]) != (
                row.product_id, row.price_id)]


def _view(state: customer_view.SubscriptionState,
          detail: customer_view.CustomerDetail) -> SubscriptionView:
    row = state.row
    change = detail.scheduled.get(row.id)
    buttons = _buttons(row.status, row.cancel_at_period_end)
    if change is not None:
        buttons.insert(0, ("cancel_change", "Cancel scheduled change"))
    return SubscriptionView(state, buttons, _price_text(row), seats_of(row),
                            _scheduled_text(change) if change is not None else None,
                            _later_options(row, detail))


def _buttons(status: str, cancel_at_period_end: bool) -> list[tuple[str, str]]:
    """The actions a subscription in this state takes (billing checks them again)."""
    live = status in ("TRIALING", "ACTIVE", "PAST_DUE")
    buttons = []
    if live and not cancel_at_period_end:
        buttons.append(("cancel", "Cancel at period end"))
    if cancel_at_period_end and status != "CANCELED":
        buttons.append(("uncancel", "Undo cancel"))
    if live or status == "PAUSED":
        buttons.append(("cancel_now", "Cancel now"))
    if status in ("TRIALING", "ACTIVE") and not cancel_at_period_end:
        buttons.append(("pause", "Pause"))
    if status == "PAUSED":
        buttons.append(("resume", "Resume"))
    return buttons


def _price_text(row: Any) -> str:
    if row.unit_amount is None or not row.currency:
        return "granted" if row.origin == "grant" else "—"
    text = money(row.unit_amount * row.quantity, row.currency)
    interval = (row.price or {}).get("interval")
    if interval:
        count, unit = int(interval.get("count", 1)), str(interval["unit"]).lower()
        text += f" / {unit}" if count == 1 else f" / {count} {unit}s"
    return text + (" (granted, not charged)" if row.origin == "grant" else "")


def _grant_options(detail: customer_view.CustomerDetail) -> list[tuple[str, str]]:
    options = [("", "Choose a product…")]
    for product in detail.grantable:
        prices = product.prices or []
        if len(prices) <= 1:
            options.append((product.product_id, f"{product.display_name} ({product.product_id})"))
            continue
        for price in prices:
            options.append((f"{product.product_id}|{price['priceId']}",
                            f"{product.display_name}, {price['priceId']}"))
    return options


def ref_from(type_name: str, customer_id: str) -> CustomerRef | None:
    if type_name not in CustomerType.__members__ or not customer_id:
        return None
    return CustomerRef(CustomerType(type_name), customer_id)


def _ledger_params(ctx: Ctx) -> tuple[str | None, int | None]:
    """``?ledger=<item>&before=<version>``: a page of one item's ledger."""
    params = ctx.request.query_params
    before = params.get("before") or ""
    return (params.get("ledger") or None)[:100] if params.get("ledger") else None, \
        int(before) if before.isdigit() and len(before) < 19 else None


async def render(ctx: Ctx, ref: CustomerRef, *, forms_: dict[str, FormState] | None = None,
                 status: int = 200) -> Response:
    runtime = ctx.runtime
    settings = await runtime.payment_settings()
    ledger_item, before = _ledger_params(ctx)
    detail = await customer_view.read(runtime.db, ref, clock=runtime.clock,
                                      grace_period_days=settings.grace_period_days,
                                      bus=runtime.bus, ledger_item=ledger_item,
                                      before_version=before)
    if detail is None:
        return ctx.render("admin/customer_missing.html", status=404, test_mode=settings.test_mode,
                          ref=ref)
    subscriptions = [_view(s, detail) for s in detail.subscriptions]
    return ctx.render(
        "admin/customer.html", status=status, test_mode=settings.test_mode, ref=ref,
        detail=detail, subscriptions=subscriptions, grant_options=_grant_options(detail),
        refundable=customer_view.refundable, forms=forms_ or {}, ledger_item=ledger_item,
        ledger_before=before, ledger_page=customer_view.LEDGER_PAGE,
        back=customer_path(ref.type.value, ref.customer_id),
        live=live_config(ctx, ref, [b.item.item_id for b in detail.balances]))


async def page(ctx: Ctx) -> Response:
    params = ctx.request.path_params
    ref = ref_from(params["type"], params["customer_id"])
    if ref is None:
        return ctx.render("admin/customer_missing.html", status=404, ref=None)
    return await render(ctx, ref)


def _form_ref(form: FormData) -> CustomerRef | None:
    return ref_from(forms.text(form, "type"), str(form.get("customer_id") or ""))


async def _act(ctx: Ctx, ref: CustomerRef, form: FormData, *, name: str, fields: dict[str, str],
               action: str, target: str, work: Callable[[], Awaitable[Any]], detail: str,
               done: Callable[[Any], str]) -> Response:
    """Run one action: back to the page with ``done(result)``, or the page again with the
    error on the form ``name`` (400 for bad input, 409 for a rule that refused)."""
    try:
        result = await perform(ctx, action, target, work, detail=detail)
    except BillgateError as exc:
        state = forms.failed_form(name, form, exc, fields)
        return await render(ctx, ref, forms_={name: state},
                            status=400 if isinstance(exc, InvalidInput) else 409)
    return ctx.redirect(customer_path(ref.type.value, ref.customer_id), flash=done(result))


async def adjust(ctx: Ctx, form: FormData) -> Response:
    ref = _form_ref(form)
    if ref is None:
        return ctx.redirect("/admin/customers")
    item_id = forms.text(form, "item")
    raw_amount = forms.text(form, "amount")
    action = "decreaseItemQuantity" if raw_amount.startswith("-") else "increaseItemQuantity"

    async def work() -> Any:
        amount = forms.whole_number(form, "amount", "Amount")
        assert amount is not None
        expires_at = forms.utc_time(form, "expires_at", "Expires at")
        return await calls.adjust_balance(ctx.runtime, ref, item_id, amount=amount,
                                          expires_at=expires_at, reason=forms.text(form, "reason"))

    return await _act(
        ctx, ref, form, name="adjust", fields=ADJUST_FIELDS, action=action,
        target=customer_target(ref), work=work,
        detail=f"{raw_amount} {item_id}: {forms.text(form, 'reason')}".strip(": "),
        done=lambda result: f"Balance adjusted: {item_id} is now {result.balance.quantity:,}.")


async def grant(ctx: Ctx, form: FormData) -> Response:
    ref = _form_ref(form)
    if ref is None:
        return ctx.redirect("/admin/customers")
    product_id, _, price_id = forms.text(form, "product").partition("|")

    async def work() -> Any:
        if not product_id:
            raise InvalidInput("choose a product to grant", field=["product"])
        return await calls.grant_product(ctx.runtime, ref, product_id, price_id or None)

    return await _act(
        ctx, ref, form, name="grant", fields=GRANT_FIELDS, action="grantProduct",
        target=customer_target(ref), work=work, detail=forms.text(form, "product"),
        done=lambda purchase: f"Granted {purchase.product['displayName']}.")


async def subscription(ctx: Ctx, form: FormData) -> Response:
    ref = _form_ref(form)
    if ref is None:
        return ctx.redirect("/admin/customers")
    op = forms.text(form, "op")
    sub_id = forms.text(form, "subscription_id")
    action, done = SUBSCRIPTION_OPS.get(op, ("changeSubscription", ""))

    async def work() -> Any:
        if op not in SUBSCRIPTION_OPS or not sub_id.isdigit():
            raise InvalidInput("unknown subscription action")
        return await calls.change_subscription(ctx.runtime, ref, int(sub_id), op)

    return await _act(
        ctx, ref, form, name=f"sub-{sub_id}", fields={}, action=action,
        target=customer_target(ref), work=work, detail=f"subscription {sub_id}: {op}",
        done=lambda sub: f"{sub.product['displayName']}: {done}.")


async def seats(ctx: Ctx, form: FormData) -> Response:
    """``updateSubscriptionQuantity`` from a subscription's Seats field."""
    ref = _form_ref(form)
    if ref is None:
        return ctx.redirect("/admin/customers")
    sub_id = forms.text(form, "subscription_id")

    async def work() -> Any:
        quantity = forms.whole_number(form, "quantity", "Seats")
        if not sub_id.isdigit() or quantity is None:
            raise InvalidInput("unknown subscription", field=["subscriptionId"])
        return await calls.change_seats(ctx.runtime, ref, int(sub_id), quantity)

    return await _act(
        ctx, ref, form, name=f"seats-{sub_id}", fields=SEATS_FIELDS,
        action="updateSubscriptionQuantity", target=customer_target(ref), work=work,
        detail=f"subscription {sub_id}: {forms.text(form, 'quantity')} seats",
        done=lambda sub: f"{sub.product['displayName']}: {pages.count(sub.quantity, 'seat')}.")


async def schedule_switch(ctx: Ctx, form: FormData) -> Response:
    """Change plan at the period end (``switchSubscription(when: PERIOD_END)``)."""
    ref = _form_ref(form)
    if ref is None:
        return ctx.redirect("/admin/customers")
    sub_id = forms.text(form, "subscription_id")
    from_product = forms.text(form, "from_product_id")
    product_id, _, price_id = forms.text(form, "to").partition("|")

    async def work() -> Any:
        if not product_id:
            raise InvalidInput("choose a plan to change to", field=["toProductId"])
        return await calls.schedule_switch(ctx.runtime, ref, from_product_id=from_product,
                                           to_product_id=product_id, price_id=price_id or None)

    return await _act(
        ctx, ref, form, name=f"sub-{sub_id}", fields={}, action="switchSubscription",
        target=customer_target(ref), work=work,
        detail=f"{from_product} -> {forms.text(form, 'to')} at period end",
        done=lambda sub: f"{sub.product['displayName']}: changes at the period end.")


async def refund(ctx: Ctx, form: FormData) -> Response:
    ref = _form_ref(form)
    if ref is None:
        return ctx.redirect("/admin/customers")
    tx_id = forms.text(form, "transaction_id")
    revoke = form.get("revoke_grants") == "on"

    async def work() -> Any:
        original = await calls.transaction_of(ctx.runtime, int(tx_id)) if tx_id.isdigit() else None
        if original is None:
            raise InvalidInput(f"no transaction {tx_id[:20]!r}", field=["transactionId"])
        amount = forms.amount(form, "amount", original.currency or "USD")
        return await calls.refund(ctx.runtime, original.id, amount=amount, revoke_grants=revoke)

    def refunded(outcome: Any) -> str:
        taken = " and took back what it granted" if outcome.revoked else ""
        return f"Refunded {money(-outcome.refund.amount, outcome.refund.currency)}{taken}."

    return await _act(
        ctx, ref, form, name=f"refund-{tx_id}", fields=REFUND_FIELDS, action="refundTransaction",
        target=tx_id, work=work, done=refunded,
        detail=f"{forms.text(form, 'amount') or 'all'}"
               f"{', taking back what it granted' if revoke else ''}")


def _back(form: FormData) -> str:
    ref = _form_ref(form)
    return customer_path(ref.type.value, ref.customer_id) if ref else "/admin/customers"


def routes(page_: Callable[..., Any], action: Callable[..., Any]) -> list[Route]:
    return [
        Route("/customers/{type}/{customer_id:path}", page_(page), methods=["GET"]),
        Route("/customer/adjust-balance", action(adjust, back=_back), methods=["POST"]),
        Route("/customer/grant-product", action(grant, back=_back), methods=["POST"]),
        Route("/customer/subscription", action(subscription, back=_back), methods=["POST"]),
        Route("/customer/seats", action(seats, back=_back), methods=["POST"]),
        Route("/customer/schedule-switch", action(schedule_switch, back=_back), methods=["POST"]),
        Route("/customer/refund", action(refund, back=_back), methods=["POST"]),
    ]
