"""Cross-customer reads for internal tools (secret key only): ``transactions``,
``invoices``, ``payouts``, ``revenue`` and ``operatorActions``; keyset pages, newest first."""

from __future__ import annotations

from datetime import datetime

from billgate.billing import operator_actions, reports
from billgate.errors import BillgateError, PaymentFailed
from billgate.graphql.context import Info
from billgate.graphql.errors import raise_query_error
from billgate.graphql.inputs.reports import InvoiceFilter, TransactionFilter
from billgate.graphql.pagination import (
    Connection,
    Page,
    build_connection,
    decode_id_cursor,
    decode_text_cursor,
    page_size,
)
from billgate.graphql.types.common import Currency
from billgate.graphql.types.invoices import Invoice, Transaction
from billgate.graphql.types.reports import OperatorAction, Payout, RevenueReport
from billgate.payments import stripe_payouts
from billgate.payments.stripe_rails import ProcessorError, StripeRails


def _keyset(info: Info, what: str, kind: str, first: int | None,
            after: str | None) -> tuple[int, int | None]:
    try:
        info.context.principal.require_server(what)
        return page_size(first), decode_id_cursor(kind, after)
    except BillgateError as exc:
        raise_query_error(exc)


async def transactions_page(info: Info, first: int | None, after: str | None,
                            filter: TransactionFilter | None) -> Connection[Transaction]:
    size, before = _keyset(info, "transactions", "all-transactions", first, after)
    try:
        wanted = filter.to_domain() if filter else reports.TransactionFilter()
    except BillgateError as exc:
        raise_query_error(exc)
    async with info.context.runtime.db.read_session() as session:
        rows = await reports.transactions_page(session, wanted, before_id=before, limit=size + 1)
    return build_connection(Page(rows=rows, size=size, had_cursor=after is not None),
                            kind="all-transactions", key=lambda owned: owned.row.id,
                            node=lambda owned: Transaction.from_row(owned.row, owned.customer))


async def invoices_page(info: Info, first: int | None, after: str | None,
                        filter: InvoiceFilter | None) -> Connection[Invoice]:
    size, before = _keyset(info, "invoices", "all-invoices", first, after)
    try:
        wanted = filter.to_domain() if filter else reports.InvoiceFilter()
    except BillgateError as exc:
        raise_query_error(exc)
    base_url = info.context.runtime.settings.base_url
    async with info.context.runtime.db.read_session() as session:
        rows = await reports.invoices_page(session, wanted, before_id=before, limit=size + 1)
    return build_connection(Page(rows=rows, size=size, had_cursor=after is not None),
                            kind="all-invoices", key=lambda owned: owned.row.id,
                            node=lambda owned: Invoice.from_row(owned.row, base_url=base_url))


async def operator_actions_page(info: Info, first: int | None,
                                after: str | None) -> Connection[OperatorAction]:
    size, before = _keyset(info, "operatorActions", "operator-actions", first, after)
    await operator_actions.flush(info.context.runtime.db)  # this process's latest actions too
    async with info.context.runtime.db.read_session() as session:
        rows = await operator_actions.list_page(session, before_id=before, limit=size + 1)
    return build_connection(Page(rows=rows, size=size, had_cursor=after is not None),
                            kind="operator-actions", key=lambda row: row.id,
                            node=OperatorAction.from_row)


async def revenue(info: Info, currency: Currency, start: datetime, end: datetime) -> RevenueReport:
    runtime = info.context.runtime
    try:
        info.context.principal.require_server("revenue")
        test_mode = (await runtime.payment_settings()).test_mode
        async with runtime.db.read_session() as session:
            report = await reports.revenue(session, currency.value, start=start, end=end,
                                           test_mode=test_mode)
    except BillgateError as exc:
        raise_query_error(exc)
    return RevenueReport.of(report)


async def live_stripe(info: Info) -> StripeRails | None:
    """Stripe when payouts can be read: live mode with Stripe configured; else None."""
    runtime = info.context.runtime
    if (await runtime.payment_settings()).test_mode:
        return None
    rails = runtime.live_rails
    return rails if isinstance(rails, StripeRails) else None


async def payouts_page(info: Info, first: int | None, after: str | None) -> Connection[Payout]:
    """Stripe's payouts in live mode (Stripe's order, newest first); empty in test mode,
    where no real money moves."""
    try:
        info.context.principal.require_server("payouts")
        size = page_size(first)
        starting_after = decode_text_cursor("payouts", after)
        stripe = await live_stripe(info)
        if stripe is None:
            payouts, more = [], False
        else:
            payouts, more = await stripe_payouts.list_payouts(stripe, limit=size,
                                                              starting_after=starting_after)
    except ProcessorError as exc:
        raise_query_error(PaymentFailed(f"Stripe did not list the payouts: {exc.message}"))
    except BillgateError as exc:
        raise_query_error(exc)
    rows = payouts + ([payouts[-1]] if more and payouts else [])  # one more: a next page
    return build_connection(Page(rows=rows, size=len(payouts), had_cursor=after is not None),
                            kind="payouts", key=lambda payout: payout.id, node=Payout.of)


async def operator_action_node(info: Info, node_id: str) -> OperatorAction | None:
    from billgate.db.models import OperatorAction as Row

    if not info.context.principal.is_server or not node_id.isdigit():
        return None
    async with info.context.runtime.db.read_session() as session:
        row = await session.get(Row, int(node_id))
    return OperatorAction.from_row(row) if row else None


async def payout_node(info: Info, node_id: str) -> Payout | None:
    stripe = await live_stripe(info) if info.context.principal.is_server else None
    if stripe is None:
        return None
    try:
        return Payout.of(await stripe_payouts.retrieve_payout(stripe, node_id))
    except ProcessorError:
        return None
