"""The customer portal's link, switch previews and paying an open invoice.

``createCustomerPortalUrl`` signs a link to ``/portal`` for one customer (the caller's own,
a team it administers, or any with a secret key), valid one hour; the portal itself is
``web/portal/``. ``previewSwitchSubscription`` answers what ``switchSubscription`` would
charge and write now, writing nothing. ``payInvoice`` charges an OPEN invoice to the
default card (``billing/invoice_payments.py``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import strawberry

from billgate.billing import invoice_payments, return_urls
from billgate.billing.subscriptions import operations
from billgate.errors import BillgateError, InvalidInput
from billgate.graphql.context import Info
from billgate.graphql.errors import UserError, user_error
from billgate.graphql.ids import parse_global_id, row_id
from billgate.graphql.inputs.subscriptions import SwitchSubscriptionInput, SwitchTiming
from billgate.graphql.types.common import Currency, CustomerRef
from billgate.graphql.types.invoices import Invoice, InvoiceLine
from billgate.web.portal import links


@strawberry.input
class CreateCustomerPortalUrlInput:
    customer: CustomerRef
    return_url: str = strawberry.field(description="The portal's link back to the app; checked "
                                       "against BILLGATE_ALLOWED_RETURN_URLS.")


@strawberry.type
class CreateCustomerPortalUrlPayload:
    url: str | None = strawberry.field(default=None, description="Open within an hour; it then "
                                       "becomes a session cookie bound to this customer.")
    expires_at: datetime | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="What switchSubscription would do if called now.")
class SwitchPreview:
    currency: Currency
    amount_due_now: int = strawberry.field(description="Minor units charged at once "
                                           "(0 for a downgrade).")
    credit_to_account: int = strawberry.field(description="Minor units credited toward future "
                                              "invoices (0 for an upgrade).")
    lines: list[InvoiceLine] = strawberry.field(description="Exactly the lines "
                                                "switchSubscription would write now.")

    @classmethod
    def of(cls, preview: operations.SwitchPreview) -> SwitchPreview:
        return cls(currency=Currency(preview.currency), amount_due_now=preview.amount_due_now,
                   credit_to_account=preview.credit_to_account,
                   lines=[InvoiceLine.from_json(line) for line in preview.lines])


@strawberry.type
class PreviewSwitchSubscriptionPayload:
    preview: SwitchPreview | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class PayInvoiceInput:
    customer: CustomerRef
    invoice_id: strawberry.ID = strawberry.field(description="The Relay Invoice.id.")


@strawberry.type
class PayInvoicePayload:
    invoice: Invoice | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def invoice_pk(value: str) -> int:
    try:
        _, node_id = parse_global_id(value, expected="Invoice")
    except InvalidInput:
        raise InvalidInput(f"{value!r} is not an Invoice id", field=["invoiceId"]) from None
    pk = row_id(node_id)
    if pk is None:
        raise InvalidInput(f"{value!r} is not an Invoice id", field=["invoiceId"])
    return pk


@strawberry.type
class PortalMutations:
    @strawberry.mutation(description="A link to the customer portal for this customer, valid "
                         "one hour (the customer's own token, a team admin's, or a secret key).")
    async def create_customer_portal_url(
            self, info: Info, input: CreateCustomerPortalUrlInput,
    ) -> CreateCustomerPortalUrlPayload:
        runtime = info.context.runtime
        try:
            ref = input.customer.to_domain()
            info.context.principal.require_manage(ref)
            back = return_urls.check(input.return_url, runtime.settings.allowed_return_urls)
            link = links.mint(runtime, ref, back)
        except BillgateError as exc:
            return CreateCustomerPortalUrlPayload(user_errors=[user_error(exc)])
        return CreateCustomerPortalUrlPayload(
            url=link.url, expires_at=datetime.fromtimestamp(link.expires_at, UTC))

    @strawberry.mutation(description="What switchSubscription would charge now, credit, and "
                         "write as invoice lines (none for when: PERIOD_END). Writes nothing.")
    async def preview_switch_subscription(
            self, info: Info, input: SwitchSubscriptionInput,
    ) -> PreviewSwitchSubscriptionPayload:
        runtime = info.context.runtime
        try:
            ref = input.customer.to_domain()
            info.context.principal.require_manage(ref)
            preview = await operations.preview_switch(
                await runtime.billing(), ref, from_product_id=input.from_product_id,
                to_product_id=input.to_product_id, price_id=input.price_id,
                by_server=info.context.principal.is_server, now=runtime.clock.now())
        except BillgateError as exc:
            return PreviewSwitchSubscriptionPayload(user_errors=[user_error(exc)])
        if input.when == SwitchTiming.PERIOD_END:  # nothing is charged, credited or written now
            preview = replace(preview, amount_due_now=0, credit_to_account=0, lines=[])
        return PreviewSwitchSubscriptionPayload(preview=SwitchPreview.of(preview))

    @strawberry.mutation(description="Pay an OPEN invoice with the default card: PAID, and its "
                         "PAST_DUE subscription ACTIVE again. A decline answers PAYMENT_FAILED and "
                         "the invoice stays OPEN.")
    async def pay_invoice(self, info: Info, input: PayInvoiceInput) -> PayInvoicePayload:
        runtime = info.context.runtime
        try:
            ref = input.customer.to_domain()
            info.context.principal.require_manage(ref)
            row = await invoice_payments.pay(await runtime.billing(), ref,
                                             invoice_pk(str(input.invoice_id)),
                                             now=runtime.clock.now())
        except BillgateError as exc:
            return PayInvoicePayload(user_errors=[user_error(exc)])
        return PayInvoicePayload(invoice=Invoice.from_row(row, base_url=runtime.settings.base_url))
