"""Item balances: read one (client), change one (secret key)."""

from __future__ import annotations

from billgate.billing import balances, items
from billgate.billing.items.requests import Kind
from billgate.billing.purchases import service as purchases
from billgate.errors import InsufficientQuantity, InvalidInput
from billgate.rest.endpoint import Call
from billgate.rest.models import Empty, ItemOut, UpdateQuantityBody, UpdateQuantityQuery


async def get_item(call: Call) -> ItemOut:
    """``Customer.item``: the customer exists from this first reference, with its
    include-by-default products (a new user's Free plan credits read here already)."""
    runtime, item_id = call.runtime, call.path["item_id"]
    await purchases.ensure_customer(runtime.db, call.customer, clock=runtime.clock,
                                    bus=runtime.bus)
    display_name, balance = await items.read_item(runtime.db, call.customer, item_id,
                                                  clock=runtime.clock, bus=runtime.bus)
    return ItemOut(id=item_id, display_name=display_name, quantity=balance.quantity,
                   non_negative_quantity=balance.non_negative_quantity)


def kind_of(delta: int, *, allow_negative: bool) -> Kind:
    """Stack Auth's one endpoint as billgate's three changes: a positive delta grants; a
    negative one is the atomic tryDecrease unless ``allow_negative``."""
    if delta == 0:
        raise InvalidInput("delta must not be 0", field=["delta"])
    if delta > 0:
        return "increase"
    return "decrease" if allow_negative else "try_decrease"


async def update_quantity(call: Call) -> Empty:
    """The same billing change as ``tryDecreaseItemQuantity`` / ``increaseItemQuantity`` /
    ``decreaseItemQuantity``."""
    body: UpdateQuantityBody = call.body
    query: UpdateQuantityQuery = call.query
    runtime, item_id = call.runtime, call.path["item_id"]
    kind = kind_of(body.delta, allow_negative=query.allow_negative == "true")
    result = await balances.change(runtime.db, call.customer, item_id, kind,
                                   amount=abs(body.delta), clock=runtime.clock,
                                   description=body.description,
                                   idempotency_key=body.idempotency_key,
                                   expires_at=body.expires_at, bus=runtime.bus)
    if not result.success:
        raise result.error or InsufficientQuantity(item_id, abs(body.delta),
                                                   result.balance.quantity)
    return Empty()
