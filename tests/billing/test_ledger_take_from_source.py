"""``Ledger.take_from_source``: fewer seats take back only the unused remainder of the
plan's own expiring grants, soonest expiry first, never other grants, never into debt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from billgate.billing.items.ledger import Bucket, Ledger, Meta

NOW = datetime(2026, 3, 1, tzinfo=UTC)
SEATS = Meta(reason="seats", source="purchase:7")


def ledger() -> Ledger:
    """60 in all: 10 untracked (NEVER), 20 left of purchase:7's monthly grant, 25 of its
    plan-long grant, 5 of another purchase's grant."""
    buckets = [
        Bucket(1, 30, 20, NOW + timedelta(days=10), "purchase:7", NOW),
        Bucket(2, 25, 25, None, "purchase:7", NOW),
        Bucket(3, 5, 5, NOW + timedelta(days=1), "purchase:8", NOW),
    ]
    return Ledger(quantity=60, tracked=50, version=4, buckets=buckets)


def test_the_soonest_expiring_grant_of_the_source_goes_first() -> None:
    book = ledger()
    assert book.take_from_source(30, "purchase:7", now=NOW, meta=SEATS) == 30
    assert [b.remaining for b in book.buckets] == [0, 15, 5]
    assert (book.quantity, book.tracked, book.version) == (30, 20, 5)
    [entry] = book.entries
    assert (entry.delta, entry.quantity_after, entry.reason) == (-30, 30, "seats")


def test_never_more_than_the_source_has_left() -> None:
    book = ledger()
    assert book.take_from_source(100, "purchase:7", now=NOW, meta=SEATS) == 45
    assert [b.remaining for b in book.buckets] == [0, 0, 5], "purchase:8's grant is untouched"
    assert book.quantity == 15 and book.tracked == 5, "the NEVER pool of 10 stays"


def test_nothing_left_writes_nothing() -> None:
    book = ledger()
    assert book.take_from_source(5, "purchase:9", now=NOW, meta=SEATS) == 0
    assert book.entries == [] and book.quantity == 60


def test_expiries_due_are_settled_first() -> None:
    book = ledger()
    later = NOW + timedelta(days=11)  # the monthly grant (20 left) expired at day 10
    assert book.take_from_source(30, "purchase:7", now=later, meta=SEATS) == 25
    assert [(e.delta, e.reason) for e in book.entries] == [
        (-5, "expire"), (-20, "expire"), (-25, "seats")]
    assert book.quantity == 10
