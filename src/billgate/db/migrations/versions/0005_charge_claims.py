"""one owner of a billing change: charge claims, purchase state versions, Stripe event retries

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 06:22:20.614196
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billgate.db.models

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('charge_claims',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('operation', sa.String(length=20), nullable=False),
    sa.Column('purchase_id', sa.BigInteger(), nullable=True),
    sa.Column('subject_version', sa.Integer(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('payment_method', sa.String(length=200), nullable=True),
    sa.Column('test_mode', sa.Boolean(), nullable=False),
    sa.Column('invoice_id', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('payment_reference', sa.String(length=200), nullable=True),
    sa.Column('failure_message', sa.Text(), nullable=True),
    sa.Column('lease_until', billgate.db.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', billgate.db.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', billgate.db.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_pk'], ['customers.id'], name=op.f('fk_charge_claims_customer_pk_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_charge_claims')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_charge_claims_idempotency_key'))
    )
    with op.batch_alter_table('charge_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_charge_claims_customer_pk'), ['customer_pk'], unique=False)
        batch_op.create_index('ix_charge_claims_due', ['status', 'lease_until'], unique=False)
        batch_op.create_index('uq_charge_claims_open_purchase', ['purchase_id'], unique=True, sqlite_where=sa.text("status = 'PENDING'"), postgresql_where=sa.text("status = 'PENDING'"))

    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_column('pending_charge_key')

    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
        batch_op.drop_column('lease_until')

    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_until', billgate.db.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('next_attempt_at', billgate.db.models.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('last_error')
        batch_op.drop_column('attempts')
        batch_op.drop_column('lease_until')

    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_until', billgate.db.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.drop_column('version')

    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_charge_key', sa.VARCHAR(length=200), nullable=True))

    with op.batch_alter_table('charge_claims', schema=None) as batch_op:
        batch_op.drop_index('uq_charge_claims_open_purchase', sqlite_where=sa.text("status = 'PENDING'"), postgresql_where=sa.text("status = 'PENDING'"))
        batch_op.drop_index('ix_charge_claims_due')
        batch_op.drop_index(batch_op.f('ix_charge_claims_customer_pk'))

    op.drop_table('charge_claims')
