from __future__ import annotations

from datetime import datetime

import strawberry

from billgate.graphql.scalars import BigInt
from billgate.graphql.types.common import CustomerRef


@strawberry.input
class ChangeItemQuantityInput:
    customer: CustomerRef
    item_id: str
    amount: BigInt  # type: ignore[valid-type]
    description: str | None = None
    idempotency_key: str | None = strawberry.field(
        default=None, description="A retry with the same key returns the first result and "
        "changes nothing more; the same key for a different request is IDEMPOTENCY_KEY_REUSED.")
    expires_at: datetime | None = strawberry.field(
        default=None, description="increaseItemQuantity only: the grant's unused remainder "
        "expires then.")
