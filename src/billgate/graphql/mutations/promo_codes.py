"""Promo codes: secret key only. Each mutation checks the caller, calls one function of
``billing.promo_codes`` and maps its errors; ``promoCodes`` lists them newest first."""

from __future__ import annotations

import strawberry

from billgate.billing import promo_codes
from billgate.errors import BillgateError, InvalidInput
from billgate.graphql.context import Info
from billgate.graphql.errors import UserError, raise_query_error, user_error
from billgate.graphql.inputs.promo_codes import CreatePromoCodeInput, UpdatePromoCodeInput
from billgate.graphql.pagination import (
    Connection,
    Page,
    build_connection,
    decode_id_cursor,
    page_size,
)
from billgate.graphql.resolvers.webhooks import global_row_id
from billgate.graphql.types.promo_codes import PromoCode


@strawberry.type
class CreatePromoCodePayload:
    promo_code: PromoCode | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpdatePromoCodePayload:
    promo_code: PromoCode | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def spec_of(input: CreatePromoCodeInput) -> promo_codes.NewPromoCode:
    return promo_codes.NewPromoCode(
        duration=input.duration.value, code=input.code, display_name=input.display_name,
        percent_off=input.percent_off,
        amount_off=[(m.currency.value, m.amount) for m in input.amount_off or []],
        duration_in_months=input.duration_in_months, max_redemptions=input.max_redemptions,
        expires_at=input.expires_at, product_ids=input.product_ids or [],
        first_purchase_only=input.first_purchase_only)


@strawberry.type
class PromoCodeMutations:
    @strawberry.mutation(description="A new promo code (secret key only).")
    async def create_promo_code(self, info: Info,
                                input: CreatePromoCodeInput) -> CreatePromoCodePayload:
        runtime = info.context.runtime
        try:
            info.context.principal.require_server("createPromoCode")
            row = await promo_codes.create(runtime.db, spec_of(input), clock=runtime.clock)
        except BillgateError as exc:
            return CreatePromoCodePayload(user_errors=[user_error(exc)])
        return CreatePromoCodePayload(promo_code=PromoCode.from_row(row))

    @strawberry.mutation(description="Enable or disable a promo code (secret key only); what "
                         "was redeemed keeps its discount.")
    async def update_promo_code(self, info: Info,
                                input: UpdatePromoCodeInput) -> UpdatePromoCodePayload:
        runtime = info.context.runtime
        try:
            info.context.principal.require_server("updatePromoCode")
            pk = global_row_id(input.id, "PromoCode", "id")
            row = (await promo_codes.set_enabled(runtime.db, pk, input.enabled)
                   if input.enabled is not None else await promo_codes.get(runtime.db, pk))
            if row is None:
                raise InvalidInput("no such promo code", field=["id"])
        except BillgateError as exc:
            return UpdatePromoCodePayload(user_errors=[user_error(exc)])
        return UpdatePromoCodePayload(promo_code=PromoCode.from_row(row))


async def promo_codes_page(info: Info, first: int | None,
                           after: str | None) -> Connection[PromoCode]:
    try:
        info.context.principal.require_server("promoCodes")
        size = page_size(first)
        before = decode_id_cursor("promo_codes", after)
    except BillgateError as exc:
        raise_query_error(exc)
    rows = await promo_codes.list_page(info.context.runtime.db, before_id=before, limit=size + 1)
    return build_connection(Page(rows=rows, size=size, had_cursor=after is not None),
                            kind="promo_codes", key=lambda row: row.id, node=PromoCode.from_row)


async def promo_code_node(info: Info, node_id: str) -> PromoCode | None:
    from billgate.graphql.ids import row_id

    pk = row_id(node_id)
    if not info.context.principal.is_server or pk is None:
        return None
    row = await promo_codes.get(info.context.runtime.db, pk)
    return PromoCode.from_row(row) if row else None
