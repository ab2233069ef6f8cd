"""Settings (``/admin/settings``): test mode, blocking new purchases, the grace period and
dunning retries, the payment method types offered on Stripe checkout, the seller printed
on invoices, the invoice number prefix and the tax rates by buyer country (one per line:
``DE, VAT, 19``). One form, one ``updatePaymentSettings``; the same checks and messages."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import fields as dataclass_fields
from typing import Any

from starlette.datastructures import FormData
from starlette.responses import Response
from starlette.routing import Route

from billgate.billing.payment_settings import DEFAULT_INVOICE_PREFIX, PaymentSettings
from billgate.billing.taxes import TaxRate
from billgate.errors import BillgateError, InvalidInput
from billgate.web.admin import calls, forms
from billgate.web.admin.actions import perform
from billgate.web.admin.console import Ctx
from billgate.web.admin.forms import FormState

# Stripe's names for common payment method types (card is always on: renewals use it).
METHOD_TYPES = (("link", "Link"), ("us_bank_account", "US bank account (ACH)"),
                ("sepa_debit", "SEPA Direct Debit"), ("bacs_debit", "Bacs Direct Debit"),
                ("ideal", "iDEAL"), ("bancontact", "Bancontact"), ("eps", "EPS"),
                ("p24", "Przelewy24"), ("klarna", "Klarna"), ("affirm", "Affirm"),
                ("afterpay_clearpay", "Afterpay / Clearpay"), ("paypal", "PayPal"),
                ("cashapp", "Cash App Pay"), ("amazon_pay", "Amazon Pay"))
ADDRESS_PARTS = (("line1", "Address line 1"), ("line2", "Address line 2"), ("city", "City"),
                 ("postal_code", "Postal code"), ("state", "State or region"),
                 ("country", "Country"))
FIELDS = {"gracePeriodDays": "grace_period_days", "dunningRetryDays": "dunning_retry_days",
          "paymentMethodTypes": "other_types", "sellerName": "seller_name",
          "sellerEmail": "seller_email", "sellerTaxId": "seller_tax_id",
          "invoiceNumberPrefix": "invoice_number_prefix", "taxRates": "tax_rates",
          **{f"sellerAddress.{'postalCode' if k == 'postal_code' else k}": f"seller_{k}"
             for k, _ in ADDRESS_PARTS}}


def values_of(settings: PaymentSettings) -> dict[str, str]:
    """The form's fields as the stored settings fill them."""
    seller, address = settings.seller, settings.seller.address
    known = {t for t, _ in METHOD_TYPES}
    values = {"grace_period_days": str(settings.grace_period_days),
              "dunning_retry_days": ", ".join(map(str, settings.dunning_retry_days)),
              "other_types": ", ".join(t for t in settings.payment_method_types
                                       if t not in known and t != "card"),
              "seller_name": seller.name or "", "seller_email": seller.email or "",
              "seller_tax_id": seller.tax_id or "",
              "invoice_number_prefix": settings.invoice_number_prefix,
              "tax_rates": "\n".join(f"{r.country}, {r.name}, {r.percent}"
                                      for r in settings.tax_rates)}
    for key, _ in ADDRESS_PARTS:
        values[f"seller_{key}"] = (getattr(address, key) or "") if address else ""
    flags = {"test_mode": settings.test_mode, "block_new_purchases": settings.block_new_purchases}
    values.update({name: "on" for name, on in flags.items() if on})
    values.update({f"method_{t}": "on" for t in settings.payment_method_types if t in known})
    return values


async def render(ctx: Ctx, *, form: FormState | None = None, status: int = 200) -> Response:
    settings = await ctx.runtime.payment_settings()
    state = form or FormState(name="settings", values=values_of(settings))
    return ctx.render("admin/settings.html", status=status, test_mode=settings.test_mode,
                      f=state, method_types=METHOD_TYPES, address_parts=ADDRESS_PARTS,
                      stripe_configured=ctx.runtime.live_rails is not None)


async def page(ctx: Ctx) -> Response:
    return await render(ctx)


def _days(form: FormData) -> tuple[int, ...]:
    raw = forms.text(form, "dunning_retry_days")
    parts = [p for p in re.split(r"[,\s]+", raw) if p]
    if not all(p.isdigit() and len(p) < 6 for p in parts):
        raise InvalidInput("dunningRetryDays: write whole numbers of days, like 3, 5, 7",
                           field=["dunningRetryDays"])
    return tuple(int(p) for p in parts)


def _method_types(form: FormData) -> list[str]:
    chosen = ["card", *(t for t, _ in METHOD_TYPES if form.get(f"method_{t}") == "on")]
    extra = [t for t in re.split(r"[,\s]+", forms.text(form, "other_types")) if t]
    return chosen + [t for t in extra if t not in chosen]


def _tax_rates(form: FormData) -> list[TaxRate] | None:
    """``country, name, percent`` per line (``DE, VAT, 19``; ``*`` for any country). A form
    without the field (an older page) leaves the rates as they are."""
    if "tax_rates" not in form:
        return None
    rates = []
    for number, line in enumerate(forms.text(form, "tax_rates").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != 3:
            raise InvalidInput(f"Tax rates, line {number}: write country, name, percent, "
                               "like DE, VAT, 19", field=["taxRates"])
        rates.append(TaxRate(country=parts[0], name=parts[1], percent=parts[2].rstrip("% ")))
    return rates


def _prefix(form: FormData) -> str | None:
    if "invoice_number_prefix" not in form:
        return None
    return forms.text(form, "invoice_number_prefix") or DEFAULT_INVOICE_PREFIX


def _changes(form: FormData) -> dict[str, Any]:
    grace = forms.whole_number(form, "grace_period_days", "Grace period (days)")
    return {"invoice_number_prefix": _prefix(form), "tax_rates": _tax_rates(form),
            "test_mode": form.get("test_mode") == "on",
            "block_new_purchases": form.get("block_new_purchases") == "on",
            "grace_period_days": grace, "dunning_retry_days": _days(form),
            "payment_method_types": _method_types(form),
            "seller": {"name": forms.text(form, "seller_name"),
                       "email": forms.text(form, "seller_email"),
                       "tax_id": forms.text(form, "seller_tax_id"),
                       "address": {k: forms.text(form, f"seller_{k}") for k, _ in ADDRESS_PARTS}}}


def _changed(before: PaymentSettings, after: PaymentSettings) -> str:
    names = [f.name for f in dataclass_fields(PaymentSettings)
             if getattr(before, f.name) != getattr(after, f.name)]
    return ", ".join(names) or "nothing changed"


async def save(ctx: Ctx, form: FormData) -> Response:
    before = await ctx.runtime.payment_settings()
    detail: list[str] = []

    async def work() -> PaymentSettings:
        changes = _changes(form)
        after = await calls.update_settings(ctx.runtime, **changes)
        detail.append(_changed(before, after))
        return after

    try:
        await perform(ctx, "updatePaymentSettings", None, work)
    except BillgateError as exc:
        return await render(ctx, form=forms.failed_form("settings", form, exc, FIELDS), status=400)
    return ctx.redirect("/admin/settings", flash=f"Settings saved ({detail[0] if detail else ''}).")


def routes(page_: Callable[..., Any], action: Callable[..., Any]) -> list[Route]:
    return [Route("/settings", page_(page), methods=["GET"]),
            Route("/settings", action(save, back=lambda form: "/admin/settings"), methods=["POST"])]
