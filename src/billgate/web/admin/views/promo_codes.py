"""Promo codes (``/admin/promo-codes``): every code with its discount, duration, scope and
redemptions (applied / maximum); create one, disable or enable it. The same billing
functions as ``createPromoCode`` and ``updatePromoCode`` (through ``calls``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData
from starlette.responses import Response
from starlette.routing import Route

from billgate.billing import promo_codes
from billgate.db.models import PromoCode
from billgate.errors import BillgateError, InvalidInput
from billgate.graphql.ids import global_id
from billgate.web.admin import calls, forms
from billgate.web.admin.actions import perform
from billgate.web.admin.catalog_forms import amounts_of, amounts_text
from billgate.web.admin.console import Ctx
from billgate.web.admin.forms import FormState

MAX_SHOWN = 200
# A billing error's field -> the form's input.
FIELDS = {"code": "code", "displayName": "display_name", "percentOff": "percent_off",
          "amountOff": "amount_off", "duration": "duration",
          "durationInMonths": "duration_in_months", "maxRedemptions": "max_redemptions",
          "expiresAt": "expires_at", "productIds": "product_ids"}
DURATIONS = [("ONCE", "Once (first invoice)"), ("FOREVER", "Forever (every invoice)"),
             ("REPEATING", "Repeating (months below)")]


@dataclass(frozen=True)
class Row:
    """One code as the table shows it."""

    id: int
    code: str
    name: str
    off: str
    duration: str
    redemptions: str
    expires: Any
    products: str
    first_purchase_only: bool
    enabled: bool


def row_of(code: PromoCode) -> Row:
    off = (f"{code.percent_off}% off" if code.percent_off is not None
           else f"{amounts_text(code.amount_off or {})} off")
    duration = {"ONCE": "Once", "FOREVER": "Forever"}.get(
        code.duration, f"{code.duration_in_months} months")
    limit = "(no limit)" if code.max_redemptions is None else f"of {code.max_redemptions}"
    return Row(id=code.id, code=code.code, name=code.display_name or "", off=off,
               duration=duration, redemptions=f"{code.times_redeemed} {limit}",
               expires=code.expires_at, products=", ".join(code.product_ids or []) or "Every product",
               first_purchase_only=code.first_purchase_only, enabled=code.enabled)


async def render(ctx: Ctx, *, form: FormState | None = None, status: int = 200,
                 error: str | None = None) -> Response:
    rows = await promo_codes.list_page(ctx.runtime.db, before_id=None, limit=MAX_SHOWN)
    return ctx.render("admin/promo_codes.html", status=status, rows=[row_of(r) for r in rows],
                      f=form or FormState(name="promo"), durations=DURATIONS, error=error)


async def page(ctx: Ctx) -> Response:
    return await render(ctx)


def spec_of(form: FormData) -> promo_codes.NewPromoCode:
    """The typed form as ``createPromoCode``'s input (each value checked by billing)."""
    amounts = forms.text(form, "amount_off")
    return promo_codes.NewPromoCode(
        duration=forms.text(form, "duration"), code=forms.text(form, "code") or None,
        display_name=forms.text(form, "display_name") or None,
        percent_off=forms.text(form, "percent_off").rstrip("%").strip() or None,
        amount_off=[(a["currency"], a["amount"])
                    for a in (amounts_of(amounts, ["amountOff"]) if amounts else [])],
        duration_in_months=forms.whole_number(form, "duration_in_months", "Months",
                                              required=False),
        max_redemptions=forms.whole_number(form, "max_redemptions", "Max redemptions",
                                           required=False),
        expires_at=forms.utc_time(form, "expires_at", "Expires at"),
        product_ids=[p for p in forms.text(form, "product_ids").replace(",", " ").split() if p],
        first_purchase_only=form.get("first_purchase_only") == "on")


async def create(ctx: Ctx, form: FormData) -> Response:
    async def work() -> PromoCode:
        return await calls.create_promo_code(ctx.runtime, spec_of(form))

    try:
        made = await perform(ctx, "createPromoCode", forms.text(form, "code") or None, work)
    except BillgateError as exc:
        return await render(ctx, form=forms.failed_form("promo", form, exc, FIELDS), status=400)
    return ctx.redirect("/admin/promo-codes", flash=f"Created promo code {made.code}.")


async def toggle(ctx: Ctx, form: FormData) -> Response:
    op = forms.text(form, "op")
    raw = forms.text(form, "promo_code_id")

    async def work() -> PromoCode:
        if op not in ("enable", "disable") or not raw.isdigit():
            raise InvalidInput("unknown promo code action")
        return await calls.set_promo_code_enabled(ctx.runtime, int(raw), op == "enable")

    try:
        row = await perform(ctx, "updatePromoCode", global_id("PromoCode", raw), work, detail=op)
    except BillgateError as exc:
        return await render(ctx, status=409, error=exc.message)
    return ctx.redirect("/admin/promo-codes",
                        flash=f"{row.code} {'enabled' if row.enabled else 'disabled'}.")


def routes(page_: Callable[..., Any], action: Callable[..., Any]) -> list[Route]:
    back = lambda form: "/admin/promo-codes"  # noqa: E731
    return [Route("/promo-codes", page_(page), methods=["GET"]),
            Route("/promo-codes/create", action(create, back=back), methods=["POST"]),
            Route("/promo-codes/toggle", action(toggle, back=back), methods=["POST"])]
