"""Assembles the schema from the query, mutation and subscription pieces."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter

from billgate.graphql.context import Info
from billgate.graphql.error_logging import log_error
from billgate.graphql.errors import DomainErrorCodes, should_mask
from billgate.graphql.input_builders import plan_inputs
from billgate.graphql.input_guard import InputGuard, StringLiteralsRule
from billgate.graphql.inputs.reports import InvoiceFilter, TransactionFilter
from billgate.graphql.mutations.auto_top_up import AutoTopUpMutations
from billgate.graphql.mutations.billing import BillingMutations
from billgate.graphql.mutations.catalog import CatalogMutations
from billgate.graphql.mutations.customers import CustomerMutations
from billgate.graphql.mutations.holds import HoldMutations
from billgate.graphql.mutations.items import ItemMutations
from billgate.graphql.mutations.portal import PortalMutations
from billgate.graphql.mutations.promo_codes import PromoCodeMutations, promo_codes_page
from billgate.graphql.mutations.purchases import PurchaseMutations
from billgate.graphql.mutations.scheduled_changes import ScheduledChangeMutations
from billgate.graphql.mutations.seats import SeatMutations
from billgate.graphql.mutations.subscriptions import SubscriptionMutations
from billgate.graphql.mutations.webhooks import WebhookMutations
from billgate.graphql.operator_log import record_mutations
from billgate.graphql.pagination import Connection
from billgate.graphql.query_limits import QueryLimits, create_rule
from billgate.graphql.resolvers import catalog as catalog_resolvers
from billgate.graphql.resolvers import customers as customer_resolvers
from billgate.graphql.resolvers import node as node_resolvers
from billgate.graphql.resolvers import reports as report_resolvers
from billgate.graphql.scalars import SCALAR_MAP
from billgate.graphql.shared_results import SharedEventExecutionContext
from billgate.graphql.subscriptions import Subscription
from billgate.graphql.types.catalog import ItemDefinition, Product, ProductLine
from billgate.graphql.types.common import Currency, CustomerRef, CustomerType, Node
from billgate.graphql.types.customer import Customer
from billgate.graphql.types.invoices import Invoice, Transaction
from billgate.graphql.types.items import Item, ItemChange
from billgate.graphql.types.promo_codes import PromoCode
from billgate.graphql.types.purchases import CustomerSubscription
from billgate.graphql.types.reports import OperatorAction, Payout, RevenueReport
from billgate.graphql.types.settings import PaymentSettings
from billgate.graphql.types.webhooks import WebhookDelivery, WebhookEndpoint
from billgate.ops.metrics import OperationMetrics

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000
DEFAULT_MAX_QUERY_COST = 5000
DEFAULT_MAX_QUERY_BYTES = 64 * 1024


@strawberry.type
class Query:
    @strawberry.field
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await node_resolvers.node(info, id)

    @strawberry.field
    async def products(self, info: Info, customer_type: CustomerType | None = None,
                       first: int | None = None, after: str | None = None) -> Connection[Product]:
        return await catalog_resolvers.products_page(info, customer_type, first, after)

    @strawberry.field
    async def product(self, info: Info, product_id: str) -> Product | None:
        return await catalog_resolvers.product(info, product_id)

    @strawberry.field
    async def product_lines(self, info: Info) -> list[ProductLine]:
        return await catalog_resolvers.product_lines(info)

    @strawberry.field
    async def item_definitions(self, info: Info) -> list[ItemDefinition]:
        return await catalog_resolvers.item_definitions(info)

    @strawberry.field
    async def customer(self, info: Info, customer: CustomerRef) -> Customer:
        return await customer_resolvers.customer(info, customer)

    @strawberry.field(description="Customers that exist, of `type` if given, oldest first "
                      "(ascending internal id: the order billgate first saw them). Secret key only: "
                      "FORBIDDEN for customer tokens and anonymous callers. A plain read: unlike "
                      "`customer`, it creates no customer and grants no include-by-default "
                      "product. A billgate addition to the API contract.")
    async def customers(self, info: Info, type: CustomerType | None = None,
                        first: int | None = None,
                        after: str | None = None) -> Connection[Customer]:
        return await customer_resolvers.customers_page(info, type, first, after)

    @strawberry.field(description="The user named by a customer token; null for a server key.")
    async def me(self, info: Info) -> Customer | None:
        return await customer_resolvers.me(info)

    @strawberry.field(description="Run-time payment settings (secret key only).")
    async def payment_settings(self, info: Info) -> PaymentSettings:
        from billgate.graphql.resolvers.settings import payment_settings

        return await payment_settings(info)

    @strawberry.field(description="Transactions of every customer, newest first (secret key only).")
    async def transactions(self, info: Info, first: int | None = None, after: str | None = None,
                           filter: TransactionFilter | None = None) -> Connection[Transaction]:
        return await report_resolvers.transactions_page(info, first, after, filter)

    @strawberry.field(description="Invoices of every customer, newest first (secret key only).")
    async def invoices(self, info: Info, first: int | None = None, after: str | None = None,
                       filter: InvoiceFilter | None = None) -> Connection[Invoice]:
        return await report_resolvers.invoices_page(info, first, after, filter)

    @strawberry.field(description="Stripe's payouts to the merchant's bank, newest first: from "
                      "Stripe in live mode, empty in test mode (secret key only).")
    async def payouts(self, info: Info, first: int | None = None,
                      after: str | None = None) -> Connection[Payout]:
        return await report_resolvers.payouts_page(info, first, after)

    @strawberry.field(description="Money in `currency` over [from, to) of the current mode's "
                      "transactions, and subscriptions now (secret key only).")
    async def revenue(self, info: Info, currency: Currency,
                      from_: Annotated[datetime, strawberry.argument(name="from")],
                      to: datetime) -> RevenueReport:
        return await report_resolvers.revenue(info, currency, from_, to)

    @strawberry.field(description="Writes made with a secret key (GraphQL and the console), "
                      "newest first (secret key only).")
    async def operator_actions(self, info: Info, first: int | None = None,
                               after: str | None = None) -> Connection[OperatorAction]:
        return await report_resolvers.operator_actions_page(info, first, after)

    @strawberry.field(description="Outgoing webhook endpoints, oldest first (secret key only).")
    async def webhook_endpoints(self, info: Info, first: int | None = None,
                                after: str | None = None) -> Connection[WebhookEndpoint]:
        from billgate.graphql.resolvers.webhooks import endpoints_page

        return await endpoints_page(info, first, after)

    @strawberry.field(description="Promo codes, newest first (secret key only).")
    async def promo_codes(self, info: Info, first: int | None = None,
                          after: str | None = None) -> Connection[PromoCode]:
        return await promo_codes_page(info, first, after)


@strawberry.type
class Mutation(PurchaseMutations, SubscriptionMutations, ItemMutations, HoldMutations,
               CustomerMutations, BillingMutations, CatalogMutations, WebhookMutations,
               PortalMutations, SeatMutations, PromoCodeMutations,
               ScheduledChangeMutations, AutoTopUpMutations):
    pass


def _extensions(max_query_cost: int, max_query_bytes: int) -> list[object]:
    # Validation rules are built once: a limiter built per request defeats the
    # validation cache (strawberry issue 4635, STACK-NOTES.md). Depth, aliases and cost
    # are one rule that memoises fragments (query_limits.py): Strawberry's limiters
    # expand every fragment spread, exponential in a fragment fan-out.
    limits = QueryLimits(max_depth=MAX_DEPTH, max_aliases=MAX_ALIASES, max_cost=max_query_cost)
    rules = [create_rule(limits), StringLiteralsRule]
    return [
        # First: refuses an oversized document before anything parses it.
        lambda: InputGuard(max_query_bytes=max_query_bytes),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: AddValidationRules(rules),
        ParserCache,
        ValidationCache,
        OperationMetrics,
        DomainErrorCodes,
    ]


def build_schema(*, debug: bool = False, max_query_cost: int = DEFAULT_MAX_QUERY_COST,
                 max_query_bytes: int = DEFAULT_MAX_QUERY_BYTES) -> strawberry.Schema:
    record_mutations(Mutation)  # every secret-key write is an OperatorAction
    extensions = _extensions(max_query_cost, max_query_bytes)
    if not debug:
        extensions.append(lambda: _MaskErrors(should_mask_error=_mask))
    schema = _Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Customer, Product, Item, ItemChange, CustomerSubscription, Invoice, Transaction,
               WebhookEndpoint, WebhookDelivery, OperatorAction, Payout, PromoCode],
        extensions=extensions,  # type: ignore[arg-type]
        # "Did you mean ...?" for a mistyped field, as graphql-core gives for enum values
        # (the schema is public: schema.graphql).
        config=StrawberryConfig(disable_field_suggestions=False, scalar_map=SCALAR_MAP,
                                name_converter=_KnownNames()),
        execution_context_class=SharedEventExecutionContext,
    )
    plan_inputs(schema)
    return schema


class _KnownNames(NameConverter):
    """Strawberry's names, each worked out once. Strawberry converts every argument and
    input field's Python name to camelCase again on every request that passes it (a tenth
    of a balance read's GraphQL work); the set of names is the schema's, so it is small."""

    def __init__(self) -> None:
        super().__init__()
        self._known: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        known = self._known.get(name)
        if known is None:
            known = self._known[name] = super().apply_naming_config(name)
        return known


class _Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        for error in errors:
            log_error(error)

    def create_extensions_runner(self, execution_context: Any,
                                 extensions: list[SchemaExtension]) -> SchemaExtensionsRunner:
        return _LeanRunner(execution_context, extensions)


class _LeanRunner(SchemaExtensionsRunner):
    """Strawberry's runner, without its per-result costs where our extensions do nothing.

    Strawberry collects every extension's results and re-inspects every extension's hooks
    for each streamed result: for a live update sent to 1,000 subscribers that was a third
    of the work. None of our extensions returns results, and the only one with a streamed-
    result hook (``MaskErrors``) acts on errors only, so an error-free result skips both.
    """

    def __init__(self, execution_context: Any, extensions: list[SchemaExtension]) -> None:
        super().__init__(execution_context, extensions)
        self._returns_results = any(type(e).get_results is not SchemaExtension.get_results
                                    for e in self.extensions)

    async def get_extensions_results(self, ctx: Any) -> dict[str, Any]:
        if self._returns_results:
            return await super().get_extensions_results(ctx)
        return dict(ctx.extensions_results)

    def on_stream_result(self, result: Any) -> Any:
        if getattr(result, "errors", None):
            return super().on_stream_result(result)
        return _NO_HOOKS


class _NoHooks:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


_NO_HOOKS = _NoHooks()


class _MaskErrors(MaskErrors):
    # Strawberry checks each streamed result against a runtime Protocol, which costs more
    # than the rest of a live update; a plain attribute read does the same job.
    def _process_result(self, result: object) -> None:
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]


def _mask(error: GraphQLError) -> bool:
    return should_mask(error)
