"""Balance changes: server callers only (clients read balances, never change them)."""

from __future__ import annotations

import strawberry

from billgate.billing import balances, items
from billgate.billing.items.requests import Kind
from billgate.errors import BillgateError, InsufficientQuantity
from billgate.graphql.context import Info
from billgate.graphql.errors import UserError, user_error
from billgate.graphql.inputs.items import ChangeItemQuantityInput
from billgate.graphql.types.items import Item


@strawberry.type
class TryDecreaseItemQuantityPayload:
    success: bool
    item: Item | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ChangeItemQuantityPayload:
    item: Item | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


async def _item(info: Info, input: ChangeItemQuantityInput, result: items.ChangeResult) -> Item:
    # The display name is looked up only if the caller selects it (see Item.display_name).
    return Item.from_snapshot(input.customer.to_domain(), None, result.balance)


_KINDS: dict[str, Kind] = {
    "tryDecrease": "try_decrease", "increase": "increase", "decrease": "decrease"}


async def _change(info: Info, input: ChangeItemQuantityInput, kind: str) -> items.ChangeResult:
    info.context.principal.require_server(f"{kind}ItemQuantity")
    runtime = info.context.runtime
    return await balances.change(
        runtime.db, input.customer.to_domain(), input.item_id, _KINDS[kind], amount=input.amount,
        clock=runtime.clock, description=input.description,
        idempotency_key=input.idempotency_key, expires_at=input.expires_at, bus=runtime.bus)


@strawberry.type
class ItemMutations:
    @strawberry.mutation(description="Consume `amount` only if the balance stays >= 0; "
                         "otherwise success is false, INSUFFICIENT_QUANTITY, nothing changes.")
    async def try_decrease_item_quantity(self, info: Info, input: ChangeItemQuantityInput
                                         ) -> TryDecreaseItemQuantityPayload:
        try:
            result = await _change(info, input, "tryDecrease")
        except BillgateError as exc:
            return TryDecreaseItemQuantityPayload(success=False, user_errors=[user_error(exc)])
        item = await _item(info, input, result)
        if not result.success:
            error = result.error or InsufficientQuantity(input.item_id, input.amount,
                                                         result.balance.quantity)
            return TryDecreaseItemQuantityPayload(success=False, item=item,
                                                  user_errors=[user_error(error)])
        return TryDecreaseItemQuantityPayload(success=True, item=item)

    @strawberry.mutation(description="Grant `amount` (optionally expiring at `expiresAt`).")
    async def increase_item_quantity(self, info: Info,
                                     input: ChangeItemQuantityInput) -> ChangeItemQuantityPayload:
        return await _payload(info, input, "increase")

    @strawberry.mutation(description="Remove `amount`; the balance may go negative (debt).")
    async def decrease_item_quantity(self, info: Info,
                                     input: ChangeItemQuantityInput) -> ChangeItemQuantityPayload:
        return await _payload(info, input, "decrease")


async def _payload(info: Info, input: ChangeItemQuantityInput,
                   kind: str) -> ChangeItemQuantityPayload:
    try:
        result = await _change(info, input, kind)
    except BillgateError as exc:
        return ChangeItemQuantityPayload(user_errors=[user_error(exc)])
    return ChangeItemQuantityPayload(item=await _item(info, input, result))
