"""Outgoing webhooks against a real receiver that verifies every request with the
``standardwebhooks`` library: delivery, retries, order per customer, disabling, rotation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from helpers import POLICY, deliver, deliveries, delivery_of, emit, endpoint, endpoint_row
from receiver import Receiver
from sqlalchemy import func, select

from billgate.clock import FrozenClock
from billgate.db.engine import Database
from billgate.db.models import WebhookEvent
from billgate.notifications.webhooks import backoff, endpoints
from billgate.notifications.webhooks.events import record_event
from billgate.ops.metrics import REGISTRY
from billgate.types import CustomerRef, CustomerType


def counter(outcome: str) -> float:
    return REGISTRY.get_sample_value("billgate_webhook_delivery_attempts_total",
                                     {"outcome": outcome}) or 0.0


async def test_an_event_arrives_signed_with_the_documented_body(
        db: Database, clock: FrozenClock, receiver: Receiver) -> None:
    created = await endpoint(db, receiver.url("/hook"), clock.now())
    assert created.signing_secret.startswith("whsec_")
    receiver.secrets["/hook"] = [created.signing_secret]
    delivered_before = counter("delivered")
    event_id = await emit(db, clock.now(), "u1", data={"itemId": "credits", "quantity": 3,
                                                       "threshold": 5},
                          event_type="item.balance_low")

    assert await deliver(db, clock.now()) == 1

    [got] = receiver.at("/hook")
    assert got.verified_with == [created.signing_secret]
    assert got.headers["webhook-id"] == event_id and event_id.startswith("evt_")
    assert got.headers["content-type"] == "application/json"
    assert got.payload == {"id": event_id, "type": "item.balance_low",
                           "createdAt": clock.now().isoformat(), "testMode": True,
                           "customer": {"type": "USER", "customerId": "u1"},
                           "data": {"itemId": "credits", "quantity": 3, "threshold": 5}}
    row = await delivery_of(db, event_id)
    assert (row.status, row.attempts, row.last_response_status) == ("DELIVERED", 1, 200)
    assert counter("delivered") == delivered_before + 1
    assert await deliver(db, clock.now() + timedelta(days=10)) == 0  # once


async def test_a_500_is_retried_later_with_the_same_webhook_id(
        db: Database, clock: FrozenClock, receiver: Receiver) -> None:
    created = await endpoint(db, receiver.url("/flaky"), clock.now())
    receiver.secrets["/flaky"] = [created.signing_secret]
    receiver.answers["/flaky"] = [500, 200]
    failed_before = counter("failed")
    event_id = await emit(db, clock.now())

    assert await deliver(db, clock.now()) == 1
    row = await delivery_of(db, event_id)
    assert (row.status, row.attempts, row.last_response_status) == ("PENDING", 1, 500)
    assert row.last_error is not None and row.last_error.startswith("HTTP 500")
    assert len(row.last_error) <= 1000  # the 100 kB answer was not kept (nor read whole)
    assert row.next_attempt_at is not None
    wait = row.next_attempt_at - clock.now()
    assert timedelta(seconds=24) <= wait <= timedelta(seconds=36)  # 30 s, +/-20% jitter
    assert counter("failed") == failed_before + 1

    assert await deliver(db, clock.now()) == 0  # not due yet
    clock.advance(wait.total_seconds())
    assert await deliver(db, clock.now()) == 1

    first, second = receiver.at("/flaky")
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event_id
    assert first.verified_with and second.verified_with
    row = await delivery_of(db, event_id)
    assert (row.status, row.attempts, row.last_response_status, row.last_error) == (
        "DELIVERED", 2, 200, None)


async def test_a_customer_s_later_event_waits_while_an_earlier_one_is_retried(
        db: Database, clock: FrozenClock, receiver: Receiver) -> None:
    created = await endpoint(db, receiver.url("/ordered"), clock.now())
    receiver.secrets["/ordered"] = [created.signing_secret]
    receiver.answers["/ordered"] = [500, 200]
    a1 = await emit(db, clock.now(), "alice")
    a2 = await emit(db, clock.now(), "alice")
    b1 = await emit(db, clock.now(), "bob")

    await deliver(db, clock.now())  # a1 fails; b1 (another customer) goes; a2 waits
    await deliver(db, clock.now())
    sent = [r.headers["webhook-id"] for r in receiver.at("/ordered")]
    assert sent == [a1, b1]
    assert (await delivery_of(db, a2)).attempts == 0

    clock.advance(3600)
    await deliver(db, clock.now())  # a1 again: delivered
    await deliver(db, clock.now())  # now a2
    sent = [r.headers["webhook-id"] for r in receiver.at("/ordered")]
    assert sent == [a1, b1, a1, a2]
    assert {(await delivery_of(db, e)).status for e in (a1, a2, b1)} == {"DELIVERED"}


async def test_an_endpoint_failing_for_three_days_is_disabled_and_resumes_when_enabled(
        db: Database, clock: FrozenClock, receiver: Receiver) -> None:
    created = await endpoint(db, receiver.url("/down"), clock.now())
    receiver.secrets["/down"] = [created.signing_secret]
    receiver.answers["/down"] = [503]
    started = clock.now()
    first = await emit(db, clock.now(), "carol")
    waiting = await emit(db, clock.now(), "carol")  # behind `first`, never tried

    for _ in range(backoff.MAX_ATTEMPTS):
        assert await deliver(db, clock.now()) == 1
        row = await delivery_of(db, first)
        if row.next_attempt_at is not None:
            clock.at = row.next_attempt_at
    row = await delivery_of(db, first)
    assert (row.status, row.attempts) == ("FAILED", backoff.MAX_ATTEMPTS)
    assert clock.now() - started > timedelta(days=3)
    disabled = await endpoint_row(db, created.endpoint.id)
    assert not disabled.enabled
    assert disabled.disabled_reason and "HTTP 503" in disabled.disabled_reason

    ignored = await emit(db, clock.now(), "dave")  # a disabled endpoint gets nothing
    clock.advance(7 * 24 * 3600)
    assert await deliver(db, clock.now()) == 0
    assert [r.headers["webhook-id"] for r in receiver.at("/down")] == [first] * backoff.MAX_ATTEMPTS

    receiver.answers["/down"] = [200]
    await endpoints.update_endpoint(db, created.endpoint.id, enabled=True,
                                    policy=POLICY, now=clock.now())
    assert (await endpoint_row(db, created.endpoint.id)).disabled_reason is None
    assert await deliver(db, clock.now()) == 1
    assert receiver.at("/down")[-1].headers["webhook-id"] == waiting
    assert (await delivery_of(db, waiting)).status == "DELIVERED"
    assert ignored not in {e for _, e in await deliveries(db)}


async def test_after_a_rotation_both_secrets_sign_for_24_hours(
        db: Database, clock: FrozenClock, receiver: Receiver) -> None:
    created = await endpoint(db, receiver.url("/rotate"), clock.now())
    rotated = await endpoints.rotate_secret(db, created.endpoint.id, now=clock.now())
    assert rotated.signing_secret != created.signing_secret
    receiver.secrets["/rotate"] = [created.signing_secret, rotated.signing_secret]

    await emit(db, clock.now())
    clock.advance(23 * 3600)
    await emit(db, clock.now())
    clock.advance(2 * 3600)  # 25 h after the rotation
    await emit(db, clock.now(), "someone-else")
    await deliver(db, clock.now() - timedelta(hours=25))
    await deliver(db, clock.now() - timedelta(hours=2))
    await deliver(db, clock.now())

    old, new = created.signing_secret, rotated.signing_secret
    assert [r.verified_with for r in receiver.at("/rotate")] == [[old, new], [old, new], [new]]


async def test_a_rolled_back_change_emits_nothing(db: Database, clock: FrozenClock,
                                                  receiver: Receiver) -> None:
    await endpoint(db, receiver.url("/hook"), clock.now())

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with db.session() as session, session.begin():
            await record_event(session, event_type="invoice.paid",
                               customer=CustomerRef(CustomerType.USER, "u1"), data={},
                               now=clock.now(), test_mode=True)
            raise Boom

    assert await deliver(db, clock.now()) == 0
    async with db.read_session() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
    assert receiver.received == []


async def test_event_types_filter_what_an_endpoint_gets(db: Database, clock: FrozenClock,
                                                        receiver: Receiver) -> None:
    await endpoints.create(db, url=receiver.url("/invoices"), event_types=["invoice.paid"],
                           description="invoices only", policy=POLICY, now=clock.now())
    await emit(db, clock.now(), event_type="subscription.updated")
    paid = await emit(db, clock.now(), event_type="invoice.paid")
    await deliver(db, clock.now())
    assert [r.headers["webhook-id"] for r in receiver.at("/invoices")] == [paid]


async def test_redirects_are_not_followed(db: Database, clock: FrozenClock,
                                          receiver: Receiver) -> None:
    await endpoint(db, receiver.url("/redirect"), clock.now())
    event_id = await emit(db, clock.now())
    await deliver(db, clock.now())
    assert len(receiver.at("/redirect")) == 1 and receiver.at("/final") == []
    row = await delivery_of(db, event_id)
    assert (row.status, row.last_response_status) == ("PENDING", 307)
    assert row.last_error is not None and "redirect" in row.last_error


async def test_redeliver_and_test_events(db: Database, clock: FrozenClock, receiver: Receiver) -> None:
    created = await endpoint(db, receiver.url("/hook"), clock.now())
    receiver.secrets["/hook"] = [created.signing_secret]
    event_id = await emit(db, clock.now())
    await deliver(db, clock.now())
    row = await delivery_of(db, event_id)
    again = await endpoints.redeliver(db, row.id, now=clock.now())
    assert again.delivery.status == "PENDING"
    await deliver(db, clock.now())
    test = await endpoints.send_test(db, created.endpoint.id, now=clock.now(), test_mode=True)
    assert test.event_type == "webhook.test"
    await deliver(db, clock.now())
    got = receiver.at("/hook")
    assert [r.headers["webhook-id"] for r in got[:2]] == [event_id, event_id]
    assert got[2].payload is not None and got[2].payload["type"] == "webhook.test"
    assert got[2].payload["customer"] is None
    assert all(r.verified_with for r in got)


async def test_the_oldest_pending_gauge(db: Database, clock: FrozenClock, receiver: Receiver) -> None:
    from billgate.notifications.webhooks.delivery import update_oldest_pending

    created = await endpoint(db, receiver.url("/slow"), clock.now())
    receiver.answers["/slow"] = [500, 200]
    assert created.endpoint.enabled
    await emit(db, clock.now())
    await deliver(db, clock.now())
    clock.advance(90)
    assert await update_oldest_pending(db, clock.now()) == 90
    assert REGISTRY.get_sample_value("billgate_webhook_oldest_pending_seconds") == 90
    await deliver(db, clock.now())
    assert await update_oldest_pending(db, clock.now()) == 0
