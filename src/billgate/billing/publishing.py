"""Publishing committed changes to the event bus.

Two kinds of topic:

* ``item:<customer type>:<customer id>:<item id>``: one balance. Payloads carry the new
  quantity and the balance's version, so a live subscriber can tell a gap and re-read the
  ledger (see ``graphql/subscriptions.py``).
* ``customer:<customer type>:<customer id>``: the customer's products, subscriptions or
  invoices changed. The payload is empty: ``customerChanged`` subscribers re-read the
  state, which also covers any event they missed.

Publish only after the commit: a rolled-back change must never be announced.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from billgate.billing.items.results import ChangeEvent
from billgate.ops.metrics import ITEM_CHANGES

log = logging.getLogger(__name__)


def item_topic(customer_type: str, customer_id: str, item_id: str) -> str:
    return f"item:{customer_type}:{customer_id}:{item_id}"


def customer_topic(customer_type: str, customer_id: str) -> str:
    return f"customer:{customer_type}:{customer_id}"


async def publish_customer_changed(bus: Any, customer_type: str, customer_id: str) -> None:
    """Announce a committed change of the customer's products, subscriptions or invoices.

    Never raises: the change is committed whatever happens here, and a subscriber that
    misses the event sees the state at its next event or reconnect."""
    if bus is None:
        return
    try:
        await bus.publish(customer_topic(customer_type, customer_id), {})
    except Exception:
        log.exception("could not publish the change of customer %s:%s", customer_type, customer_id)


async def publish_changes(bus: Any, events: Sequence[ChangeEvent]) -> None:
    for event in events:
        ITEM_CHANGES.labels(event.reason).inc()
        if bus is None:
            continue
        try:
            await bus.publish(
                item_topic(event.customer_type, event.customer_id, event.item_id),
                {"quantity": event.quantity, "version": event.version, "delta": event.delta,
                 "reason": event.reason, "reserved": event.reserved},
            )
        except Exception:  # the change is committed; subscribers recover from the ledger
            log.exception("could not publish item change %s v%s", event.item_id, event.version)
