"""Reservations (``reserveItemQuantity``, ``commitReservation``, ``releaseReservation``):
server callers only, like the balance changes they stand beside."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from billgate.billing import balances
from billgate.billing.items import holds
from billgate.errors import BillgateError, ReservationNotFound
from billgate.graphql.context import Info
from billgate.graphql.errors import UserError, user_error
from billgate.graphql.ids import global_id, parse_global_id, row_id
from billgate.graphql.scalars import BigInt
from billgate.graphql.types.common import CustomerRef, Node
from billgate.graphql.types.items import Item


@strawberry.enum
class ReservationStatus(Enum):
    HELD = "HELD"
    COMMITTED = "COMMITTED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"


@strawberry.type
class Reservation(Node):
    item_id: str
    amount: int
    status: ReservationStatus
    expires_at: datetime

    @classmethod
    def of(cls, r: holds.Reservation) -> Reservation:
        return cls(id=strawberry.ID(global_id("Reservation", str(r.id))), item_id=r.item_id,
                   amount=r.amount, status=ReservationStatus(r.status), expires_at=r.expires_at)


@strawberry.input
class ReserveItemQuantityInput:
    customer: CustomerRef
    item_id: str
    amount: BigInt  # type: ignore[valid-type]
    ttl_seconds: int = strawberry.field(
        default=300, description="The hold is released (EXPIRED) after this many seconds.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="A retry with the same key returns the first hold; the "
        "same key for a different request is IDEMPOTENCY_KEY_REUSED.")


@strawberry.input
class CommitReservationInput:
    reservation_id: strawberry.ID
    amount: BigInt | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="What was used, at most the amount held (default: all); "
        "the rest is released.")


@strawberry.input
class ReleaseReservationInput:
    reservation_id: strawberry.ID


@strawberry.type
class ReserveItemQuantityPayload:
    success: bool
    reservation: Reservation | None = None
    item: Item | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ReservationPayload:
    item: Item | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _reservation_row(value: str) -> int:
    _, node_id = parse_global_id(value, expected="Reservation")
    number = row_id(node_id)
    if number is None:
        raise ReservationNotFound(f"no reservation {value!r}", field=["reservationId"])
    return number


def _ended(ended: holds.Ended) -> ReservationPayload:
    return ReservationPayload(item=Item.from_snapshot(ended.customer, None, ended.balance))


@strawberry.type
class HoldMutations:
    @strawberry.mutation(description="Hold `amount` against `available` (quantity - reserved) "
                         "until committed, released or expired; like tryDecreaseItemQuantity: "
                         "success false with INSUFFICIENT_QUANTITY when it does not fit.")
    async def reserve_item_quantity(self, info: Info, input: ReserveItemQuantityInput
                                    ) -> ReserveItemQuantityPayload:
        info.context.principal.require_server("reserveItemQuantity")
        runtime = info.context.runtime
        ref = input.customer.to_domain()
        try:
            result = await balances.reserve(
                runtime.db, ref, input.item_id, amount=input.amount,
                ttl_seconds=input.ttl_seconds, clock=runtime.clock,
                idempotency_key=input.idempotency_key, bus=runtime.bus)
        except BillgateError as exc:
            return ReserveItemQuantityPayload(success=False, user_errors=[user_error(exc)])
        item = Item.from_snapshot(ref, None, result.balance)
        if not result.success:
            errors = [user_error(result.error)] if result.error else []
            return ReserveItemQuantityPayload(success=False, item=item, user_errors=errors)
        assert result.reservation is not None
        return ReserveItemQuantityPayload(success=True, item=item,
                                          reservation=Reservation.of(result.reservation))

    @strawberry.mutation(description="Use all or part of a held reservation: one ledger "
                         "change for what was used; the rest is released.")
    async def commit_reservation(self, info: Info,
                                 input: CommitReservationInput) -> ReservationPayload:
        info.context.principal.require_server("commitReservation")
        runtime = info.context.runtime
        try:
            return _ended(await balances.commit_reservation(
                runtime.db, _reservation_row(input.reservation_id), clock=runtime.clock,
                amount=input.amount, bus=runtime.bus))
        except BillgateError as exc:
            return ReservationPayload(user_errors=[user_error(exc)])

    @strawberry.mutation(description="Let go of a held reservation.")
    async def release_reservation(self, info: Info,
                                  input: ReleaseReservationInput) -> ReservationPayload:
        info.context.principal.require_server("releaseReservation")
        runtime = info.context.runtime
        try:
            return _ended(await balances.release_reservation(
                runtime.db, _reservation_row(input.reservation_id), clock=runtime.clock,
                bus=runtime.bus))
        except BillgateError as exc:
            return ReservationPayload(user_errors=[user_error(exc)])
