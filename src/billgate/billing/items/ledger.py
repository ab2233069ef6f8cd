"""Bucket arithmetic of one balance: pure Python, no database.

A ``Ledger`` is one locked balance row plus its active buckets (grants that can expire). Its
methods apply the credit rules and queue one ``Entry`` (a future ``item_changes`` row) per
change; ``repository.persist`` writes the result. Keeping the rules here, away from SQL, lets
the property tests hold the database against a model of the same rules.

The rules:

- ``quantity`` is the balance and may be negative (debt). ``tracked`` is the unused part of
  buckets; the rest of a positive balance, ``max(0, quantity) - tracked``, is the untracked
  pool of grants that never expire. Debt exists only when ``tracked == 0``.
- A removal of ``m`` consumes buckets first, soonest expiry first (dated buckets by
  ``expires_at``, then buckets that expire only with their source; ties by id), then the
  pool, then goes into debt.
- A grant first pays debt. A grant that can expire becomes a bucket holding only what is
  left after paying debt (no bucket when nothing is left); a grant that never expires just
  raises ``quantity``.
- At expiry only a bucket's unused ``remaining`` leaves the balance. A bucket expiring at
  ``T`` counts strictly before ``T``: at ``now >= T`` it is gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from billgate.errors import InvalidInput

# Balances are read through the GraphQL contract's ``Int`` (32-bit signed), so they are kept
# in its range: a change that would leave it is refused and rolled back, never committed and
# then unreadable. The columns are 64-bit, so widening this later needs no migration.
BALANCE_MIN = -(2**31)
BALANCE_MAX = 2**31 - 1
_NEVER = datetime.max.replace(tzinfo=UTC)


def due(expires_at: datetime | None, now: datetime) -> bool:
    """An expiry at ``T`` is due at ``now >= T``; None (never) is never due. SQL twin:
    ``rules.due`` (``tests/billing/test_ledger_rules.py`` holds them together)."""
    return expires_at is not None and expires_at <= now


@dataclass
class Bucket:
    """An ``item_grants`` row; ``id`` is None until inserted."""

    id: int | None
    quantity: int
    remaining: int
    expires_at: datetime | None
    source: str | None
    created_at: datetime
    expired_at: datetime | None = None
    dirty: bool = False

    @property
    def active(self) -> bool:
        return self.expired_at is None

    def due(self, now: datetime) -> bool:
        return self.active and due(self.expires_at, now)

    def consume_order(self) -> tuple[bool, datetime, bool, int]:
        # Dated buckets first by expiry, then source-only ones; ties by id, unsaved last.
        # SQL twin: ``rules.consume_order``.
        return (self.expires_at is None, self.expires_at or _NEVER,
                self.id is None, self.id or 0)


@dataclass(frozen=True)
class Entry:
    """One ledger row to write: the balance after the change and what it was."""

    version: int
    delta: int
    quantity_after: int
    reason: str
    created_at: datetime
    description: str | None = None
    expires_at: datetime | None = None
    source: str | None = None
    idempotency_key: str | None = None
    request_fingerprint: str | None = None
    reserved_after: int = 0


@dataclass(frozen=True)
class Meta:
    """What a change records besides its amount."""

    reason: str
    description: str | None = None
    expires_at: datetime | None = None
    source: str | None = None
    idempotency_key: str | None = None
    request_fingerprint: str | None = None


@dataclass
class Ledger:
    quantity: int
    tracked: int
    version: int
    buckets: list[Bucket] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    # The sum of the HELD reservations (``holds.py``); ``available`` is what they leave.
    reserved: int = 0

    @property
    def available(self) -> int:
        return self.quantity - self.reserved

    @property
    def next_expiry_at(self) -> datetime | None:
        """The earliest dated expiry that would still take something away."""
        dated = [b.expires_at for b in self.buckets
                 if b.active and b.remaining > 0 and b.expires_at is not None]
        return min(dated, default=None)

    @property
    def changed(self) -> bool:
        return bool(self.entries) or any(b.dirty or b.id is None for b in self.buckets)

    def settle(self, now: datetime) -> None:
        """Expire every bucket due at ``now``, in expiry order, each its own version,
        dated at its own ``expires_at`` (it expired then, whenever we noticed)."""
        expiring = sorted((b for b in self.buckets if b.due(now)), key=Bucket.consume_order)
        for bucket in expiring:
            assert bucket.expires_at is not None
            self._expire(bucket, at=bucket.expires_at)

    def expire_source(self, source: str, now: datetime) -> None:
        """Expire, at ``now``, the unused remainder of every active bucket of ``source``."""
        self.settle(now)
        for bucket in sorted(self.buckets, key=Bucket.consume_order):
            if bucket.active and bucket.source == source:
                self._expire(bucket, at=now)

    def take_from_source(self, m: int, source: str, *, now: datetime, meta: Meta) -> int:
        """Remove up to ``m`` from the unused remainder of ``source``'s active buckets
        (soonest expiry first), never from other grants and never into debt: a source that
        shrinks gives back what it granted and is still unused, as an expiry would. Returns
        what was taken (one ledger row when more than 0)."""
        self.settle(now)
        taken = 0
        for bucket in sorted(self.buckets, key=Bucket.consume_order):
            if taken == m:
                break
            if bucket.active and bucket.source == source and bucket.remaining > 0:
                take = min(m - taken, bucket.remaining)
                bucket.remaining -= take
                bucket.dirty = True
                taken += take
        if taken:
            self.tracked -= taken
            self.quantity -= taken
            self._record(-taken, now, meta)
        return taken

    def add(self, n: int, *, now: datetime, meta: Meta, bucket: bool,
            bucket_source: str | None = None) -> None:
        """Grant ``n``: debt is paid first; a bucket keeps only what is left of ``n``."""
        _check_range(self.quantity + n)
        if bucket:
            remaining = n - min(n, max(0, -self.quantity))
            if remaining > 0:
                self.buckets.append(Bucket(None, n, remaining, meta.expires_at, bucket_source, now))
                self.tracked += remaining
        self.quantity += n
        self._record(n, now, meta)

    def remove(self, m: int, *, now: datetime, meta: Meta) -> None:
        """Remove ``m``: soonest-expiring buckets first, then the pool, then debt."""
        _check_range(self.quantity - m)
        left = m
        for bucket in sorted(self.buckets, key=Bucket.consume_order):
            if left == 0:
                break
            if bucket.active and bucket.remaining > 0:
                take = min(left, bucket.remaining)
                bucket.remaining -= take
                bucket.dirty = True
                self.tracked -= take
                left -= take
        self.quantity -= m
        self._record(-m, now, meta)

    def hold(self, n: int, *, now: datetime, meta: Meta) -> None:
        """Hold ``n`` more (negative: let go of ``-n``) without changing the quantity: a
        ledger row of delta 0 that carries the new ``reserved``. The caller checked that
        ``available`` covers a new hold (SQL twin of that guard: ``rules.guard``)."""
        self.reserved += n
        assert self.reserved >= 0
        self._record(0, now, meta)

    def commit_hold(self, held: int, used: int, *, now: datetime, meta: Meta) -> None:
        """A hold of ``held`` ends using ``used`` of it: one ledger row removing ``used``
        (as ``remove``: may go into debt when expiries or a ``decrease`` took what was held),
        the whole hold let go."""
        self.reserved -= held
        assert self.reserved >= 0
        self.remove(used, now=now, meta=meta)

    def _expire(self, bucket: Bucket, *, at: datetime) -> None:
        amount = bucket.remaining
        bucket.remaining = 0
        bucket.expired_at = at
        bucket.dirty = True
        if amount > 0:
            self.tracked -= amount
            self.quantity -= amount
            self._record(-amount, at, Meta(reason="expire", source=bucket.source))

    def _record(self, delta: int, at: datetime, meta: Meta) -> None:
        self.version += 1
        self.entries.append(Entry(
            version=self.version, delta=delta, quantity_after=self.quantity, reason=meta.reason,
            created_at=at, description=meta.description, expires_at=meta.expires_at,
            source=meta.source, idempotency_key=meta.idempotency_key,
            request_fingerprint=meta.request_fingerprint, reserved_after=self.reserved,
        ))


def _check_range(quantity: int) -> None:
    if not BALANCE_MIN <= quantity <= BALANCE_MAX:
        raise InvalidInput(f"the resulting balance {quantity} would leave the range a balance can have "
                           f"({BALANCE_MIN} to {BALANCE_MAX})",
                           field=["amount"])
