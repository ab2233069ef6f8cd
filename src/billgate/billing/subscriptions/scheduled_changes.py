"""Plan changes at the period end: ``switchSubscription(when: PERIOD_END)``,
``cancelScheduledChange``, and the renewal that applies them (``apply_due``: the one call
``lifecycle._due`` makes). A price migration schedules the same changes
(``price_migration.py``). The rows and their statuses are described on
``db.models.ScheduledChange``; their queries are in ``scheduled_store.py``.

Choices where the issue is silent:

- Nothing is charged or credited when a change is scheduled. The renewal at the period end
  charges the new plan's price for a whole period starting then (no proration).
- Only an ACTIVE or TRIALING subscription without a pending cancel can schedule a change
  (a PAST_DUE one is paying an old period; a PAUSED one has no period end to wait for). A
  TRIALING one changes at its trial end: its first charge is of the new plan, no new trial.
- A new PERIOD_END switch replaces the pending change (REPLACED); the same switch clicked
  twice keeps the first one and writes nothing. An immediate switch, a cancel (at period
  end or now), a pause, or any ending of the subscription closes it (ENDED / CANCELED);
  undoing a pending cancel does not bring it back.
- The plan applied is the one announced (the snapshot stored with the change), provided the
  catalog still sells that product and price at the period end; otherwise the change is
  DROPPED (logged) and the old plan renews as before.
- Applying it is a switch at the period end: the old subscription ends then (its
  WHEN_PURCHASE_EXPIRES and WHEN_REPEATED grants expire, ``fulfil.end``) and a new one
  starts for the new plan, as an immediate switch does (a new subscription id; the old one
  names it in ``replaced_by_id``), with its included items granted. Its first period is the
  renewal charged in the same unit of work; a declined card leaves the new plan PAST_DUE in
  dunning like any renewal.
"""

from __future__ import annotations

import logging
from datetime import datetime

from billgate.billing import charges, locks, unit_of_work, webhook_events
from billgate.billing.context import Billing
from billgate.billing.purchases import fulfil, request
from billgate.billing.subscriptions import operations, scheduled_store
from billgate.billing.subscriptions.states import ACTIVE, TRIALING, transition
from billgate.billing.unit_of_work import UnitOfWork
from billgate.db.models import Purchase, ScheduledChange
from billgate.errors import BillgateError, InvalidInput, ProductNotSwitchable
from billgate.types import CustomerRef

log = logging.getLogger(__name__)

SCHEDULABLE = (ACTIVE, TRIALING)


async def schedule_switch(billing: Billing, ref: CustomerRef, *, from_product_id: str,
                          to_product_id: str, price_id: str | None, by_server: bool,
                          now: datetime | None = None) -> Purchase:
    """``switchSubscription(when: PERIOD_END)``: the same checks as an immediate switch
    (``operations.plan_switch``), then the change is recorded for the period end. Nothing is
    charged or credited now."""
    which = operations.Selector(product_id=from_product_id)

    async def work(uow: UnitOfWork) -> Purchase:
        sub = await operations.find(uow.session, uow.customer, which)
        target, _ = await operations.plan_switch(
            uow.session, ref, sub, to_product_id=to_product_id, price_id=price_id,
            by_server=by_server, now=uow.now)
        await require_schedulable(uow, sub)
        await put(uow, sub, target, origin=scheduled_store.SWITCH)
        return sub

    return await unit_of_work.run(billing, ref, work, now=now)


async def require_schedulable(uow: UnitOfWork, sub: Purchase) -> None:
    """ACTIVE or TRIALING, no pending cancel, and its period end still ahead with no
    renewal charge running (a change must wait for a period end that has not begun)."""
    if sub.status not in SCHEDULABLE:
        raise InvalidInput(f"a {sub.status.lower().replace('_', ' ')} subscription cannot change "
                           "plan at its period end", field=["fromProductId"])
    if sub.cancel_at_period_end:
        raise InvalidInput("the subscription is canceled at its period end; undo the cancel "
                           "first", field=["fromProductId"])
    if (sub.current_period_end is None or sub.current_period_end <= uow.now
            or await charges.pending_for(uow, sub.id) is not None):
        raise InvalidInput("the subscription is renewing now; try again in a moment",
                           field=["fromProductId"])


async def put(uow: UnitOfWork, sub: Purchase, target: request.PurchaseRequest, *,
              origin: str) -> ScheduledChange | None:
    """Record ``target`` as the subscription's change at its period end, replacing a pending
    one (REPLACED); None, and nothing written, when that very change is pending already
    (a second click). ``subscription.updated`` announces it (``customerChanged`` follows
    the unit of work)."""
    assert target.price is not None and sub.current_period_end is not None
    session = uow.session
    snapshot = target.snapshot()
    current = await scheduled_store.pending(session, sub.id)
    if current is not None and (current.to_product_id, current.price, current.product) == (
            target.product_id, target.price, snapshot):
        return None
    if current is not None:
        await scheduled_store.close(session, current, scheduled_store.REPLACED, now=uow.now)
    change = ScheduledChange(
        customer_pk=sub.customer_pk, purchase_id=sub.id, origin=origin,
        to_product_id=target.product_id, to_price_id=target.price["priceId"], product=snapshot,
        price=target.price, at=sub.current_period_end, status=scheduled_store.PENDING,
        created_at=uow.now)
    session.add(change)
    await session.flush()
    await webhook_events.subscription_changed(session, sub, previous_status=sub.status,
                                              now=uow.now, test_mode=uow.test_mode)
    return change


async def cancel(billing: Billing, ref: CustomerRef, subscription_id: int, *,
                 now: datetime | None = None) -> Purchase:
    """``cancelScheduledChange``: the subscription renews on its own plan again. None
    pending is ``INVALID_INPUT`` (a second click is told so)."""
    which = operations.Selector(subscription_id=subscription_id)

    async def work(uow: UnitOfWork) -> Purchase:
        sub = await operations.find(uow.session, uow.customer, which)
        change = await scheduled_store.pending(uow.session, sub.id)
        if change is None:
            raise InvalidInput("the subscription has no scheduled change",
                               field=["subscriptionId"])
        await scheduled_store.close(uow.session, change, scheduled_store.CANCELED, now=uow.now)
        await webhook_events.subscription_changed(uow.session, sub, previous_status=sub.status,
                                                  now=uow.now, test_mode=uow.test_mode)
        return sub

    return await unit_of_work.run(billing, ref, work, now=now)


async def apply_due(uow: UnitOfWork, sub: Purchase) -> Purchase:
    """The renewal's hook: at the period end of a subscription with a pending change, end
    it and start the new plan (see the module's docstring); returns the subscription whose
    renewal is to be charged now (``sub`` itself when nothing applies). A PAST_DUE
    subscription's retry is of its old period: nothing applies to it."""
    at = sub.current_period_end
    if (sub.status not in SCHEDULABLE or sub.open_invoice_id is not None or at is None
            or at > uow.now):
        return sub
    session = uow.session
    change = await scheduled_store.pending(session, sub.id)
    if change is None:
        return sub
    try:
        target = await _announced(uow, sub, change)
    except BillgateError as exc:
        log.warning("scheduled change %s of subscription %s dropped: %s", change.id, sub.id,
                    exc.message)
        await scheduled_store.close(session, change, scheduled_store.DROPPED, now=uow.now)
        return sub
    await scheduled_store.close(session, change, scheduled_store.APPLIED, now=at)
    previous_status = sub.status
    owned = await locks.owned_purchases(session, uow.customer.id)
    new, events = await fulfil.start(session, uow.customer, target, now=at, origin=change.origin,
                                     owned=owned)
    uow.events += events
    _first_period_due(new, old=sub, at=at)
    change.applied_purchase_id = new.id
    await session.flush()
    await webhook_events.scheduled_change_applied(session, uow.customer, sub, new,
                                                  previous_status=previous_status, now=at,
                                                  test_mode=uow.test_mode)
    return new


async def _announced(uow: UnitOfWork, sub: Purchase,
                     change: ScheduledChange) -> request.PurchaseRequest:
    """The plan as announced, if the catalog still sells it (``request.from_snapshot``)."""
    current = await request.resolve(
        uow.session, customer=unit_of_work.ref_of(uow.customer), product_id=change.to_product_id,
        inline=None, price_id=change.to_price_id, currency=sub.currency, quantity=sub.quantity,
        by_server=True, needs_price=True)
    if not current.is_subscription:
        raise ProductNotSwitchable(f"{change.to_product_id!r} has no recurring price")
    return request.from_snapshot(current, change.product)


def _first_period_due(new: Purchase, *, old: Purchase, at: datetime) -> None:
    """The new plan's first period starts at ``at`` and is due now: the renewal that follows
    in the same unit of work charges it (``lifecycle.next_period``: [at, at + interval))."""
    if new.status == TRIALING:  # a plan change is not a new customer: no second trial
        transition(new, ACTIVE, now=at)
        new.trial_ends_at = None
    new.billing_anchor_at, new.periods_billed = at, 0
    # Until it is paid, the period shown is the one that just ended (as for any renewal), so
    # the new plan's repeats wait for the payment (``paid_credits``).
    new.current_period_start, new.current_period_end = old.current_period_start, at
    new.next_action_at = at
