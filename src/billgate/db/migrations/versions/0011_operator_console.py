"""operator console: the operator actions log, and indexes for cross-customer reads

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-04 10:00:00

(The lead re-chains ``down_revision`` when merging beside 0009 and 0010.)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billgate.db.models

revision: str = '0011'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TIME = billgate.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('operator_actions',
    sa.Column('id', PK, nullable=False),
    sa.Column('at', TIME, nullable=False),
    sa.Column('key_fingerprint', sa.String(length=20), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=300), nullable=True),
    sa.Column('outcome', sa.String(length=64), nullable=False),
    sa.Column('via', sa.String(length=20), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_actions'))
    )
    op.create_index('ix_customers_email', 'customers', ['email'], unique=False)
    op.create_index('ix_transactions_created', 'transactions', ['created_at'], unique=False)
    op.create_index('ix_transactions_revenue', 'transactions', ['currency', 'test_mode', 'created_at'],
                    unique=False, postgresql_include=['kind', 'amount'])
    op.create_index('ix_invoices_status', 'invoices', ['status', 'id'], unique=False)
    op.create_index('ix_purchases_kind_status', 'purchases', ['kind', 'status'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_purchases_kind_status', table_name='purchases')
    op.drop_index('ix_invoices_status', table_name='invoices')
    op.drop_index('ix_transactions_revenue', table_name='transactions')
    op.drop_index('ix_transactions_created', table_name='transactions')
    op.drop_index('ix_customers_email', table_name='customers')
    op.drop_table('operator_actions')
