"""Catalog and settings administration: secret key only."""

from __future__ import annotations

import strawberry

from billgate.billing import catalog, catalog_archive, payment_settings
from billgate.billing.catalog_spec import parse_item, parse_product, parse_product_line
from billgate.errors import BillgateError
from billgate.graphql.context import Info
from billgate.graphql.errors import UserError, user_error
from billgate.graphql.inputs.catalog import (
    ArchiveItemDefinitionInput,
    ArchiveProductInput,
    ArchiveProductLineInput,
    UpdatePaymentSettingsInput,
    UpsertItemDefinitionInput,
    UpsertProductInput,
    UpsertProductLineInput,
)
from billgate.graphql.types.catalog import ItemDefinition, Product, ProductLine
from billgate.graphql.types.settings import PaymentSettings


@strawberry.type
class UpsertItemDefinitionPayload:
    item_definition: ItemDefinition | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpsertProductLinePayload:
    product_line: ProductLine | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpsertProductPayload:
    product: Product | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpdatePaymentSettingsPayload:
    settings: PaymentSettings | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ArchiveCatalogEntryPayload:
    archived_id: str | None = strawberry.field(
        default=None, description="The itemId, productLineId or productId archived.")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


async def _archive(info: Info, kind: str, entry_id: str, what: str) -> ArchiveCatalogEntryPayload:
    try:
        info.context.principal.require_server(what)
        runtime = info.context.runtime
        await catalog_archive.archive(runtime.db, kind, entry_id, now=runtime.clock.now())
    except BillgateError as exc:
        return ArchiveCatalogEntryPayload(user_errors=[user_error(exc)])
    return ArchiveCatalogEntryPayload(archived_id=entry_id)


@strawberry.type
class CatalogMutations:
    @strawberry.mutation(description="Take an item out of the live catalog (refused while a live "
                         "product includes it). Saving it again restores it. A billgate addition.")
    async def archive_item_definition(self, info: Info, input: ArchiveItemDefinitionInput
                                      ) -> ArchiveCatalogEntryPayload:
        return await _archive(info, "item", input.item_id, "archiveItemDefinition")

    @strawberry.mutation(description="Take a product line out of the live catalog (refused while "
                         "live products belong to it). A billgate addition.")
    async def archive_product_line(self, info: Info, input: ArchiveProductLineInput
                                   ) -> ArchiveCatalogEntryPayload:
        return await _archive(info, "productLine", input.product_line_id, "archiveProductLine")

    @strawberry.mutation(description="Take a product out of the live catalog: it can no longer be "
                         "bought or granted; what customers own keeps working from its snapshot "
                         "(refused while a live add-on names it as base). A billgate addition.")
    async def archive_product(self, info: Info, input: ArchiveProductInput
                              ) -> ArchiveCatalogEntryPayload:
        return await _archive(info, "product", input.product_id, "archiveProduct")

    @strawberry.mutation
    async def upsert_item_definition(self, info: Info,
                                     input: UpsertItemDefinitionInput) -> UpsertItemDefinitionPayload:
        try:
            info.context.principal.require_server("upsertItemDefinition")
            spec = parse_item({"itemId": input.item_id, "displayName": input.display_name,
                               "customerType": input.customer_type.value,
                               "lowBalanceThresholds": input.low_balance_thresholds})
            row = await catalog.save(info.context.runtime.db, catalog.upsert_item, spec)
        except BillgateError as exc:
            return UpsertItemDefinitionPayload(user_errors=[user_error(exc)])
        return UpsertItemDefinitionPayload(item_definition=ItemDefinition.from_row(row))

    @strawberry.mutation
    async def upsert_product_line(self, info: Info,
                                  input: UpsertProductLineInput) -> UpsertProductLinePayload:
        try:
            info.context.principal.require_server("upsertProductLine")
            spec = parse_product_line({"productLineId": input.product_line_id,
                                       "displayName": input.display_name,
                                       "customerType": input.customer_type.value})
            row = await catalog.save(info.context.runtime.db, catalog.upsert_product_line, spec)
        except BillgateError as exc:
            return UpsertProductLinePayload(user_errors=[user_error(exc)])
        return UpsertProductLinePayload(product_line=ProductLine.from_row(row))

    @strawberry.mutation
    async def upsert_product(self, info: Info, input: UpsertProductInput) -> UpsertProductPayload:
        try:
            info.context.principal.require_server("upsertProduct")
            spec = parse_product(input.product.to_document(input.product_id))
            row = await catalog.save(info.context.runtime.db, catalog.upsert_product, spec)
        except BillgateError as exc:
            return UpsertProductPayload(user_errors=[user_error(exc)])
        return UpsertProductPayload(product=Product.from_row(row, show_server_only_prices=True))

    @strawberry.mutation
    async def update_payment_settings(
        self, info: Info, input: UpdatePaymentSettingsInput
    ) -> UpdatePaymentSettingsPayload:
        try:
            info.context.principal.require_server("updatePaymentSettings")
            settings = await payment_settings.save(
                    info.context.runtime.db,
                    test_mode=input.test_mode,
                    block_new_purchases=input.block_new_purchases,
                    grace_period_days=input.grace_period_days,
                    dunning_retry_days=(tuple(input.dunning_retry_days)
                                        if input.dunning_retry_days is not None else None),
                    payment_method_types=input.payment_method_types,
                    seller=input.seller_changes(),
                    invoice_number_prefix=input.invoice_number_prefix,
                    tax_rates=input.tax_rate_list(),
                )
        except BillgateError as exc:
            return UpdatePaymentSettingsPayload(user_errors=[user_error(exc)])
        return UpdatePaymentSettingsPayload(settings=PaymentSettings.of(settings))
