"""SQLAlchemy typed models. One table per concept; money in minor units; times aware UTC.

Timestamps are set in Python (never ``server_default=now()``): SQLite stores those without
microseconds, which breaks keyset cursors (STACK-NOTES.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# BIGINT primary keys do not alias SQLite's rowid (no autoincrement there): use INTEGER on SQLite.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes; always returns them aware in UTC (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ItemDefinition(Base):
    __tablename__ = "item_definitions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    item_id: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    customer_type: Mapped[str] = mapped_column(String(10))
    # Balances at which ``item.balance_low`` fires when a change crosses them downward.
    low_balance_thresholds: Mapped[list[int]] = mapped_column(JSON, default=list)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now, onupdate=_now)


class ProductLine(Base):
    __tablename__ = "product_lines"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    product_line_id: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    customer_type: Mapped[str] = mapped_column(String(10))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now, onupdate=_now)


class Product(Base):
    """A catalog product. Prices and included items are validated JSON documents
    (``billing.catalog`` owns their shape), so a purchase can snapshot the product whole."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    product_id: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    customer_type: Mapped[str] = mapped_column(String(10), index=True)
    product_line_id: Mapped[str | None] = mapped_column(
        String(100), ForeignKey("product_lines.product_line_id"), index=True
    )
    server_only: Mapped[bool] = mapped_column(Boolean, default=False)
    stackable: Mapped[bool] = mapped_column(Boolean, default=False)
    included_by_default: Mapped[bool] = mapped_column(Boolean, default=False)
    free_trial: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    is_add_on_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    prices: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    included_items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Consumption past zero a plan allows and bills (``billing/items/overage.py``):
    # ``[{"itemId", "unitAmounts": {"USD": 2}, "limit"}]``; NULL: none (rows from before 0015).
    overage: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now, onupdate=_now)


class Customer(Base):
    """A USER, TEAM or CUSTOM customer, created the first time anything refers to it."""

    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("type", "customer_id", name="uq_customers_type_id"),
                      # The console's search by email (``billing/reports.search_customers``).
                      Index("ix_customers_email", "email"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    type: Mapped[str] = mapped_column(String(10))
    customer_id: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    # The saved card charged for renewals: {"id", "brand", "last4", "expMonth", "expYear"}.
    default_payment_method: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    # The catalog version (``billing/catalog.catalog_version``) this customer's
    # include-by-default products were last brought up to date with: while it matches, a
    # read need not check them again.
    included_version: Mapped[str | None] = mapped_column(String(40))
    # The buyer printed on its invoices (``updateCustomer``): name, address
    # (``payment_settings.Address`` as JSON) and tax id.
    name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    tax_id: Mapped[str | None] = mapped_column(String(50))


class AppSetting(Base):
    """Run-time settings (payment settings, the generated development key, test clock offset)."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now, onupdate=_now)


class ItemBalance(Base):
    """The materialized balance of one item for one customer.

    ``quantity`` may be negative (debt). ``tracked_remaining`` is the unused part of grants
    that can expire (see ``ItemGrant``); the rest of a positive balance never expires.
    ``next_expiry_at`` is the earliest dated expiry among those grants, so reads and writes
    know without a scan whether an expiry is due. ``reserved`` is the sum of the balance's
    HELD reservations (``ItemReservation``), kept on this row so a ``try_decrease`` guards
    ``quantity - reserved >= amount`` on the row it updates.
    """

    __tablename__ = "item_balances"
    __table_args__ = (UniqueConstraint("customer_pk", "item_pk", name="uq_item_balances_customer_item"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    item_pk: Mapped[int] = mapped_column(ForeignKey("item_definitions.id"))
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    tracked_remaining: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    next_expiry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ItemReservation(Base):
    """A hold on part of a balance's ``available`` (``billing/items/holds.py``).

    ``status``: HELD (counted in ``ItemBalance.reserved``), then exactly one of COMMITTED
    (``committed`` used, one ledger row), RELEASED, EXPIRED (released by the scheduler at
    ``expires_at``)."""

    __tablename__ = "item_reservations"
    __table_args__ = (
        UniqueConstraint("customer_pk", "idempotency_key", name="uq_item_reservations_idempotency"),
        Index("ix_item_reservations_held", "status", "expires_at"),
        Index("ix_item_reservations_balance", "balance_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    balance_id: Mapped[int] = mapped_column(ForeignKey("item_balances.id"))
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    committed: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_fingerprint: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AutoTopUp(Base):
    """A customer's auto top-up of one item (``billing/auto_top_up.py``): when a change takes
    the balance's ``available`` from above ``threshold`` to at or below it, ``quantity`` of
    the product is bought (at most ``max_per_month`` a calendar month). A declined charge
    turns it off (``enabled`` false) with ``disabled_reason``."""

    __tablename__ = "auto_top_ups"
    __table_args__ = (UniqueConstraint("customer_pk", "item_pk", name="uq_auto_top_ups_customer_item"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    item_pk: Mapped[int] = mapped_column(ForeignKey("item_definitions.id"))
    threshold: Mapped[int] = mapped_column(BigInteger)
    product_id: Mapped[str] = mapped_column(String(200))
    price_id: Mapped[str | None] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    max_per_month: Mapped[int] = mapped_column(Integer, default=10)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_triggered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class AutoTopUpCrossing(Base):
    """One downward crossing of an auto top-up's threshold, written in the transaction of
    the balance change that made it (so each crossing is recorded exactly once), then
    bought by the scheduler: PENDING -> CHARGING (a ``ChargeClaim``, ``claim_id``) ->
    PURCHASED (``purchase_id``) | FAILED; SKIPPED when the top-up was turned off first."""

    __tablename__ = "auto_top_up_crossings"
    __table_args__ = (
        Index("ix_auto_top_up_crossings_due", "status", "created_at"),
        Index("ix_auto_top_up_crossings_month", "auto_top_up_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    auto_top_up_id: Mapped[int] = mapped_column(ForeignKey("auto_top_ups.id"))
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    available_after: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    claim_id: Mapped[int | None] = mapped_column(BigInteger)
    purchase_id: Mapped[int | None] = mapped_column(BigInteger)
    failure_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class ItemGrant(Base):
    """A grant that can expire: a bucket whose unused ``remaining`` expires at ``expires_at``
    or when its ``source`` ends (WHEN_REPEATED, WHEN_PURCHASE_EXPIRES). Grants that never
    expire need no bucket: they are the untracked part of the balance."""

    __tablename__ = "item_grants"
    __table_args__ = (
        Index("ix_item_grants_active", "balance_id", "expired_at", "expires_at"),
        Index("ix_item_grants_source", "source"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    balance_id: Mapped[int] = mapped_column(ForeignKey("item_balances.id"))
    quantity: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ItemChange(Base):
    """The append-only ledger: one row per change of a balance, numbered by ``version``."""

    __tablename__ = "item_changes"
    __table_args__ = (
        UniqueConstraint("balance_id", "version", name="uq_item_changes_balance_version"),
        UniqueConstraint("customer_pk", "idempotency_key", name="uq_item_changes_idempotency"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    balance_id: Mapped[int] = mapped_column(ForeignKey("item_balances.id"))
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    version: Mapped[int] = mapped_column(BigInteger)
    delta: Mapped[int] = mapped_column(BigInteger)
    quantity_after: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # What the keyed request asked for ("try_decrease:5"), to refuse a key reused differently.
    request_fingerprint: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    # The balance's ``reserved`` after the change (holds write delta-0 rows), so a live
    # subscriber catching up from the ledger sees ``available`` too.
    reserved_after: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class Purchase(Base):
    """One owned product: a one-time purchase, a subscription, or an include-by-default
    product. ``product`` is the snapshot as sold; editing the catalog never changes it.

    ``status``: subscriptions use TRIALING, ACTIVE, PAST_DUE, PAUSED, CANCELED; one-time
    purchases ACTIVE or REFUNDED; included products ACTIVE or SUSPENDED (stepped aside for a
    paid product of their line). The subscription columns are null for the others.
    """

    __tablename__ = "purchases"
    __table_args__ = (
        Index("ix_purchases_customer_status", "customer_pk", "status"),
        Index("ix_purchases_customer_line", "customer_pk", "product_line_id"),
        # The console's subscription counts and MRR (``billing/reports.py``).
        Index("ix_purchases_kind_status", "kind", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(20))  # ONE_TIME | SUBSCRIPTION | INCLUDED
    status: Mapped[str] = mapped_column(String(20))
    origin: Mapped[str] = mapped_column(String(20))  # checkout | grant | default
    product_id: Mapped[str | None] = mapped_column(String(100), index=True)
    product_line_id: Mapped[str | None] = mapped_column(String(100))
    product: Mapped[dict[str, Any]] = mapped_column(JSON)
    price_id: Mapped[str | None] = mapped_column(String(100))
    price: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    currency: Mapped[str | None] = mapped_column(String(3))
    unit_amount: Mapped[int | None] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    current_period_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    trial_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    replaced_by_id: Mapped[int | None] = mapped_column(BigInteger)
    # Billing periods are counted from this anchor on the calendar (first paid period).
    billing_anchor_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    periods_billed: Mapped[int] = mapped_column(Integer, default=0)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resumes_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    past_due_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    open_invoice_id: Mapped[int | None] = mapped_column(BigInteger)
    # When billing next needs to look at this subscription (renewal, trial end, retry,
    # resume); the scheduler takes the customer's lock before acting on it.
    next_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now, onupdate=_now)
    # The state version: SQLAlchemy adds one on every ORM update of the row. A charge claims
    # the version it priced (``billing/charges.py``); recording it checks the version again.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class ScheduledChange(Base):
    """A plan change waiting for a subscription's period end (``switchSubscription(when:
    PERIOD_END)`` or ``migrateSubscriptionsPrice``), applied by its renewal
    (``billing/subscriptions/scheduled_changes.py``).

    ``status``: PENDING, then exactly one of APPLIED (``applied_purchase_id`` is the
    subscription it started), CANCELED (``cancelScheduledChange``, a cancel or a pause),
    REPLACED (a newer switch), ENDED (the subscription ended first) or DROPPED (the plan or
    price was no longer sold at the period end). At most one PENDING row per subscription:
    a partial unique index. Rows are kept as the subscription's history."""

    __tablename__ = "scheduled_changes"
    __table_args__ = (
        Index("uq_scheduled_changes_pending", "purchase_id", unique=True,
              sqlite_where=text("status = 'PENDING'"),
              postgresql_where=text("status = 'PENDING'")),
        Index("ix_scheduled_changes_customer", "customer_pk", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchases.id"))
    origin: Mapped[str] = mapped_column(String(20))  # switch | migration
    to_product_id: Mapped[str] = mapped_column(String(100))
    to_price_id: Mapped[str | None] = mapped_column(String(100))
    # The plan as announced (``PurchaseRequest.snapshot()`` and the price): the deal applied
    # at ``at`` if the catalog still sells that product and price.
    product: Mapped[dict[str, Any]] = mapped_column(JSON)
    price: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    applied_purchase_id: Mapped[int | None] = mapped_column(BigInteger)


class ItemSchedule(Base):
    """A repeating grant of one included item of one purchase: due at ``next_at``, then
    every ``interval`` after ``anchor_at`` on the calendar (Jan 31 -> Feb 28 -> Mar 31)."""

    __tablename__ = "item_schedules"
    __table_args__ = (Index("ix_item_schedules_due", "active", "next_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchases.id"), index=True)
    item_id: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(BigInteger)
    interval: Mapped[dict[str, Any]] = mapped_column(JSON)
    expires: Mapped[str] = mapped_column(String(30))
    anchor_at: Mapped[datetime] = mapped_column(UTCDateTime())
    repeat_count: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CheckoutSession(Base):
    """A hosted checkout link: single use, expires after 24 h. ``code`` is unguessable."""

    __tablename__ = "checkout_sessions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    product_id: Mapped[str | None] = mapped_column(String(100))
    product: Mapped[dict[str, Any]] = mapped_column(JSON)
    price_id: Mapped[str | None] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    quantity: Mapped[int] = mapped_column(Integer)
    return_url: Mapped[str] = mapped_column(Text)
    # Where the hosted page's "Cancel" link leads (allow-listed like ``return_url``).
    cancel_url: Mapped[str | None] = mapped_column(Text)
    by_server: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="OPEN")  # OPEN | COMPLETED | EXPIRED
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    purchase_id: Mapped[int | None] = mapped_column(BigInteger)
    payment_reference: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    # While a completion charges (status PROCESSING), nobody else may: a lease on real time,
    # so a process that dies mid-charge does not hold the link for ever.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The failed payment attempt the customer was last told about (one email per attempt,
    # whether the server-side confirmation or Stripe's webhook reports it first).
    failure_notified_ref: Mapped[str | None] = mapped_column(String(200))


class Transaction(Base):
    """Money (or a free grant) recorded: what was charged, for what, in minor units."""

    __tablename__ = "transactions"
    __table_args__ = (Index("ix_transactions_customer", "customer_pk", "id"),
                      # Date filters of the cross-customer list (``billing/reports.py``).
                      Index("ix_transactions_created", "created_at"),
                      # The revenue report's window, answered from the index alone on
                      # PostgreSQL (kind and amount carried in it).
                      Index("ix_transactions_revenue", "currency", "test_mode", "created_at",
                            postgresql_include=["kind", "amount"]))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    purchase_id: Mapped[int | None] = mapped_column(ForeignKey("purchases.id"))
    kind: Mapped[str] = mapped_column(String(20))  # purchase | renewal | proration | refund | grant
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    product: Mapped[dict[str, Any]] = mapped_column(JSON)
    test_mode: Mapped[bool] = mapped_column(Boolean, default=True)
    payment_reference: Mapped[str | None] = mapped_column(String(200))
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class Invoice(Base):
    """An invoice for a charge. ``public_id`` is the unguessable part of its hosted URL."""

    __tablename__ = "invoices"
    __table_args__ = (Index("ix_invoices_customer", "customer_pk", "id"),
                      Index("ix_invoices_status", "status", "id"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    purchase_id: Mapped[int | None] = mapped_column(ForeignKey("purchases.id"))
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"))
    status: Mapped[str] = mapped_column(String(20))  # DRAFT | OPEN | PAID | UNCOLLECTIBLE | VOID
    currency: Mapped[str] = mapped_column(String(3))
    amount_total: Mapped[int] = mapped_column(BigInteger)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Charge attempts of a renewal: each attempt's key names the invoice and the attempt.
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    payment_reference: Mapped[str | None] = mapped_column(String(200))
    # ``INV-2026-000042``: assigned when the invoice leaves DRAFT (``invoices.issue``), from
    # ``InvoiceCounter``, and kept whatever happens to the invoice after (VOID included).
    number: Mapped[str | None] = mapped_column(String(60), unique=True)
    # Who it is from and to, as they were when it was issued (``Party`` as JSON): editing
    # the seller or the customer later does not rewrite an issued invoice.
    seller: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    buyer: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class InvoiceCounter(Base):
    """The last number given per prefix and year (``INV-`` 2026 -> 42). Incremented by an
    UPDATE in the transaction that issues the invoice: the row lock is held to commit, so
    concurrent issuers wait for each other and a rolled-back issue gives its number back,
    which keeps the numbers gapless."""

    __tablename__ = "invoice_counters"

    prefix: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(BigInteger, default=0)


class SubscriptionReminder(Base):
    """A reminder email sent about a subscription (``billing/reminders.py``): one per kind
    and the moment it announces (the trial's end, the period's end). The unique key makes
    "sent once" hold with any number of scheduler processes."""

    __tablename__ = "subscription_reminders"
    __table_args__ = (UniqueConstraint("purchase_id", "kind", "due_for",
                                       name="uq_subscription_reminders"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchases.id"))
    kind: Mapped[str] = mapped_column(String(20))  # trial_ending | renewal_upcoming
    due_for: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class CreditNote(Base):
    """A refund of an invoiced charge: ``CN-2026-000001``, numbered like invoices.
    ``public_id`` is the unguessable part of its PDF's URL."""

    __tablename__ = "credit_notes"
    __table_args__ = (Index("ix_credit_notes_invoice", "invoice_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    number: Mapped[str] = mapped_column(String(60), unique=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class CustomerCredit(Base):
    """Money the customer is owed (a downgrade's unused time), used on its next invoices."""

    __tablename__ = "customer_credits"
    __table_args__ = (UniqueConstraint("customer_pk", "currency", name="uq_customer_credits"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger, default=0)


class EmailOutbox(Base):
    """Emails to send. Written in the transaction of what they report, sent later by the
    scheduler, so a mail server outage delays mail but loses none."""

    __tablename__ = "email_outbox"
    __table_args__ = (Index("ix_email_outbox_due", "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    to_address: Mapped[str] = mapped_column(String(320))
    template: Mapped[str] = mapped_column(String(50))
    context: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class StripeEvent(Base):
    """A Stripe webhook event taken in: each event id once, so a replayed delivery is
    acknowledged and ignored. ``processed_at`` is set when its handling committed."""

    __tablename__ = "stripe_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # While one delivery handles the event nobody else may; a handler that died (its lease
    # ran out) is taken over by Stripe's redelivery or the scheduler's retry.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


OPEN_CLAIM = "status = 'PENDING'"


class ChargeClaim(Base):
    """Money about to leave through the payment rails, claimed under the customer's lock
    before the processor is called (``billing/charges.py``): claim -> charge -> record.

    ``idempotency_key`` is derived from the operation and the state it acted on, so a racing
    twin collides on it and a crashed run charges again with the same key (the processor
    deduplicates). At most one PENDING claim per purchase (a partial unique
    index). ``subject_version`` is the purchase's ``version`` the charge was priced on:
    recording checks it under the lock and refunds when the state moved meanwhile.
    """

    __tablename__ = "charge_claims"
    __table_args__ = (
        Index("uq_charge_claims_open_purchase", "purchase_id", unique=True,
              sqlite_where=text(OPEN_CLAIM), postgresql_where=text(OPEN_CLAIM)),
        Index("ix_charge_claims_due", "status", "lease_until"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    operation: Mapped[str] = mapped_column(String(20))  # switch | resume | renewal
    purchase_id: Mapped[int | None] = mapped_column(BigInteger)
    subject_version: Mapped[int | None] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(Text)
    payment_method: Mapped[str | None] = mapped_column(String(200))
    test_mode: Mapped[bool] = mapped_column(Boolean, default=True)
    invoice_id: Mapped[int | None] = mapped_column(BigInteger)  # the invoice a renewal pays
    # PENDING -> RECORDED | FAILED | COMPENSATING -> COMPENSATED
    status: Mapped[str] = mapped_column(String(20), default="PENDING")
    payment_reference: Mapped[str | None] = mapped_column(String(200))
    failure_message: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now, onupdate=_now)


class WebhookEndpoint(Base):
    """Where outgoing webhook events go. ``event_types`` empty means every type. After a
    rotation ``previous_secret`` keeps signing beside ``secret`` until
    ``previous_secret_until``, so receivers can switch secrets without losing events."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now, onupdate=_now)


class WebhookEvent(Base):
    """An outgoing event, written in the transaction of the change it reports (an outbox).
    ``event_id`` is the public ``evt_...`` id sent as ``webhook-id``; ``payload`` is the
    whole JSON body."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(50))
    customer_type: Mapped[str | None] = mapped_column(String(10))
    customer_id: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    test_mode: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class WebhookDelivery(Base):
    """One event to one endpoint: PENDING until a 2xx (DELIVERED) or its retries run out
    (FAILED). ``customer_key`` copies the event's customer so the in-order rule (an event
    waits for the earlier ones of its customer and endpoint) is one indexed lookup."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_order", "endpoint_id", "customer_key", "status", "event_pk"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    event_pk: Mapped[int] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    customer_key: Mapped[str | None] = mapped_column(String(220))
    status: Mapped[str] = mapped_column(String(20), default="PENDING")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_response_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class OperatorAction(Base):
    """One write made with a secret key, through GraphQL or the operator console: who
    (``key_fingerprint``, "…" and the key's last 4 characters), what (``action``, the
    mutation's name), on what (``target``: "USER:u-1" or a node id) and how it ended
    (``outcome``: "ok" or the first user error's code). ``via`` is "graphql", "rest" or "console";
    ``detail`` a short human summary (the console's amounts and reasons)."""

    __tablename__ = "operator_actions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    key_fingerprint: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(300))
    outcome: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)


class PromoCode(Base):
    """A promo code (``createPromoCode``): percent or amount off, for one invoice, every
    invoice or ``duration_in_months``. ``code`` is stored upper-cased (codes are
    case-insensitive). ``times_redeemed`` counts APPLIED redemptions and is raised by a
    conditional UPDATE under the code's row lock (``billing/promo_codes.py``)."""

    __tablename__ = "promo_codes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    percent_off: Mapped[str | None] = mapped_column(String(12))  # a decimal string: "12.5"
    amount_off: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # currency -> minor
    duration: Mapped[str] = mapped_column(String(12))  # ONCE | FOREVER | REPEATING
    duration_in_months: Mapped[int | None] = mapped_column(Integer)
    max_redemptions: Mapped[int | None] = mapped_column(Integer)
    times_redeemed: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    product_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every product
    first_purchase_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class PromoRedemption(Base):
    """A promo code on one checkout: ATTACHED (chosen, counts nothing), RESERVED while the
    checkout's completion charges (counts until ``reserved_until``, real time, like the
    checkout's lease), APPLIED once paid (counts for ever; the discount lines of the
    purchase's invoices name it). A failed or abandoned payment gives the reservation back
    (ATTACHED again)."""

    __tablename__ = "promo_redemptions"
    __table_args__ = (Index("ix_promo_redemptions_code", "promo_code_id", "status"),
                      Index("ix_promo_redemptions_purchase", "purchase_id"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    promo_code_id: Mapped[int] = mapped_column(ForeignKey("promo_codes.id"))
    checkout_id: Mapped[int] = mapped_column(ForeignKey("checkout_sessions.id"), unique=True)
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(String(12))  # ATTACHED | RESERVED | APPLIED
    reserved_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    purchase_id: Mapped[int | None] = mapped_column(BigInteger)
    # The start of the first paid period of the subscription it discounts (ONCE: that
    # period only; REPEATING: periods starting within ``duration_in_months`` of it).
    first_period_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
