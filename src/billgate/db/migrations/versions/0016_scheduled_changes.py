"""scheduled changes: plan changes waiting for a subscription's period end (``scheduled_changes``)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 13:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billgate.db.models

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TIME = billgate.db.models.UTCDateTime(timezone=True)
PENDING = sa.text("status = 'PENDING'")


def upgrade() -> None:
    op.create_table('scheduled_changes',
    sa.Column('id', PK, nullable=False),
    sa.Column('customer_pk', PK, nullable=False),
    sa.Column('purchase_id', PK, nullable=False),
    sa.Column('origin', sa.String(length=20), nullable=False),
    sa.Column('to_product_id', sa.String(length=100), nullable=False),
    sa.Column('to_price_id', sa.String(length=100), nullable=True),
    sa.Column('product', sa.JSON(), nullable=False),
    sa.Column('price', sa.JSON(), nullable=False),
    sa.Column('at', TIME, nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', TIME, nullable=False),
    sa.Column('resolved_at', TIME, nullable=True),
    sa.Column('applied_purchase_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['customer_pk'], ['customers.id'],
                            name=op.f('fk_scheduled_changes_customer_pk_customers')),
    sa.ForeignKeyConstraint(['purchase_id'], ['purchases.id'],
                            name=op.f('fk_scheduled_changes_purchase_id_purchases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_changes')),
    )
    # At most one PENDING change per subscription, whatever races to schedule one.
    op.create_index('uq_scheduled_changes_pending', 'scheduled_changes', ['purchase_id'],
                    unique=True, sqlite_where=PENDING, postgresql_where=PENDING)
    op.create_index('ix_scheduled_changes_customer', 'scheduled_changes', ['customer_pk', 'id'])


def downgrade() -> None:
    op.drop_index('ix_scheduled_changes_customer', table_name='scheduled_changes')
    op.drop_index('uq_scheduled_changes_pending', table_name='scheduled_changes')
    op.drop_table('scheduled_changes')
