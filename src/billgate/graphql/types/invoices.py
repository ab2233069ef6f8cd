"""Invoices and transactions, built from their rows in the parent resolver (plain fields)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from billgate import types as domain
from billgate.billing import invoices
from billgate.billing.payment_settings import Party as DomainParty
from billgate.db.models import CreditNote as CreditNoteRow
from billgate.db.models import Invoice as InvoiceRow
from billgate.db.models import Transaction as TransactionRow
from billgate.graphql.context import Info
from billgate.graphql.ids import global_id
from billgate.graphql.types.common import Currency, InvoiceStatus, Node
from billgate.graphql.types.settings import Party

if TYPE_CHECKING:
    from billgate.graphql.types.customer import Customer

CustomerT = Annotated["Customer", strawberry.lazy("billgate.graphql.types.customer")]


@strawberry.type
class InvoiceLine:
    kind: str = strawberry.field(description="plan | proration_credit | proration_debit | overage | "
                                 "discount | tax | credit (account credit applied).")
    description: str
    quantity: int | None = strawberry.field(description="Units of a plan line; null for "
                                            "prorations and credit.")
    amount: int = strawberry.field(description="Minor units; negative for credits.")
    period_start: datetime | None = strawberry.field(description="The period a plan line pays for.")
    period_end: datetime | None

    @classmethod
    def from_json(cls, line: dict[str, Any]) -> InvoiceLine:
        return cls(kind=line["kind"], description=line["description"],
                   quantity=line.get("quantity"), amount=int(line["amount"]),
                   period_start=_time(line.get("periodStart")),
                   period_end=_time(line.get("periodEnd")))


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@strawberry.type
class Invoice(Node):
    status: InvoiceStatus
    amount_total: int = strawberry.field(description="Minor units (JPY: yen), after account credit.")
    currency: Currency
    created_at: datetime
    paid_at: datetime | None
    hosted_invoice_url: str = strawberry.field(description="The invoice's page on billgate "
                                               "(absolute; the link is unguessable).")
    lines: list[InvoiceLine]
    number: str | None = strawberry.field(description="INV-2026-000042: assigned when the "
                                          "invoice leaves DRAFT, never reused, gapless per "
                                          "prefix; null while DRAFT.")
    subtotal: int = strawberry.field(description="Minor units: the charge lines before discount, "
                                     "tax and credit.")
    discount: int = strawberry.field(description="Minor units taken off by discounts.")
    tax: int = strawberry.field(description="Minor units of tax (exclusive, on the subtotal "
                                "after discount).")
    seller: Party = strawberry.field(description="Who the invoice is from, as when it was issued.")
    buyer: Party = strawberry.field(description="Who it is to, as when it was issued.")
    pdf_url: str = strawberry.field(description="The invoice as a PDF (absolute; unguessable "
                                    "like hostedInvoiceUrl).")
    row_id: strawberry.Private[int]
    base_url: strawberry.Private[str]

    @strawberry.field(description="One per refund of this invoice's charge.")
    async def credit_notes(self, info: Info) -> list[CreditNote]:
        async with info.context.runtime.db.read_session() as session:
            rows = await invoices.credit_notes_of(session, self.row_id)
        return [CreditNote.from_row(row, base_url=self.base_url) for row in rows]

    @classmethod
    def from_row(cls, row: InvoiceRow, *, base_url: str) -> Invoice:
        totals = invoices.totals(row)
        return cls(
            id=strawberry.ID(global_id("Invoice", str(row.id))), status=InvoiceStatus(row.status),
            amount_total=row.amount_total, currency=Currency(row.currency),
            created_at=row.created_at, paid_at=row.paid_at,
            hosted_invoice_url=invoices.hosted_url(base_url, row),
            lines=[InvoiceLine.from_json(line) for line in row.lines or []],
            number=row.number, subtotal=totals.subtotal, discount=totals.discount, tax=totals.tax,
            seller=Party.of(DomainParty.from_json(row.seller)),
            buyer=Party.of(DomainParty.from_json(row.buyer)),
            pdf_url=invoices.pdf_url(base_url, row), row_id=row.id, base_url=base_url)


@strawberry.type(description="A refund of an invoiced charge.")
class CreditNote:
    number: str = strawberry.field(description="CN-2026-000001.")
    amount: int = strawberry.field(description="Minor units refunded.")
    created_at: datetime
    pdf_url: str = strawberry.field(description="The credit note as a PDF (absolute; unguessable).")

    @classmethod
    def from_row(cls, row: CreditNoteRow, *, base_url: str) -> CreditNote:
        return cls(number=row.number, amount=row.amount, created_at=row.created_at,
                   pdf_url=invoices.credit_note_pdf_url(base_url, row))


@strawberry.type(description="Money recorded for a customer (secret key only).")
class Transaction(Node):
    kind: str = strawberry.field(description="purchase | renewal | proration | refund | grant.")
    amount: int = strawberry.field(description="Minor units; a proration is negative when the "
                                   "customer was credited, a grant is 0.")
    currency: Currency | None = strawberry.field(description="Null for a grant of an unpriced product.")
    quantity: int
    product_id: str | None = strawberry.field(description="Null for an inline product.")
    created_at: datetime
    test_mode: bool
    refunded_amount: int
    customer_pk: strawberry.Private[int]
    customer_ref: strawberry.Private[domain.CustomerRef | None] = None

    @strawberry.field(description="The customer the transaction belongs to.")
    async def customer(self, info: Info) -> CustomerT:
        from billgate.billing import reports
        from billgate.graphql.types.customer import Customer

        ref = self.customer_ref
        if ref is None:
            async with info.context.runtime.db.read_session() as session:
                ref = await reports.customer_of(session, self.customer_pk)
            assert ref is not None  # a transaction's customer is never deleted
        return Customer.of(ref)

    @classmethod
    def from_row(cls, row: TransactionRow, customer: domain.CustomerRef | None = None) -> Transaction:
        """``customer``: the row's customer when the caller has it already (lists)."""
        return cls(
            id=strawberry.ID(global_id("Transaction", str(row.id))), kind=row.kind,
            amount=row.amount, currency=Currency(row.currency) if row.currency else None,
            quantity=row.quantity, product_id=row.product.get("productId"),
            created_at=row.created_at, test_mode=row.test_mode,
            refunded_amount=row.refunded_amount, customer_pk=row.customer_pk,
            customer_ref=customer)
