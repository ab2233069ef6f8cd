"""reservations: holds on item balances (``item_balances.reserved``, ``item_reservations``)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 11:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billgate.db.models

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TIME = billgate.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('item_balances') as batch:
        batch.add_column(sa.Column('reserved', sa.BigInteger(), server_default='0',
                                   nullable=False))
    with op.batch_alter_table('item_changes') as batch:
        batch.add_column(sa.Column('reserved_after', sa.BigInteger(), server_default='0',
                                   nullable=False))
    op.create_table('item_reservations',
    sa.Column('id', PK, nullable=False),
    sa.Column('balance_id', PK, nullable=False),
    sa.Column('customer_pk', PK, nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('committed', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('expires_at', TIME, nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('request_fingerprint', sa.String(length=200), nullable=True),
    sa.Column('created_at', TIME, nullable=False),
    sa.Column('settled_at', TIME, nullable=True),
    sa.ForeignKeyConstraint(['balance_id'], ['item_balances.id'],
                            name=op.f('fk_item_reservations_balance_id_item_balances')),
    sa.ForeignKeyConstraint(['customer_pk'], ['customers.id'],
                            name=op.f('fk_item_reservations_customer_pk_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_item_reservations')),
    sa.UniqueConstraint('customer_pk', 'idempotency_key',
                        name='uq_item_reservations_idempotency'),
    )
    op.create_index('ix_item_reservations_held', 'item_reservations', ['status', 'expires_at'])
    op.create_index('ix_item_reservations_balance', 'item_reservations',
                    ['balance_id', 'status'])


def downgrade() -> None:
    op.drop_index('ix_item_reservations_balance', table_name='item_reservations')
    op.drop_index('ix_item_reservations_held', table_name='item_reservations')
    op.drop_table('item_reservations')
    with op.batch_alter_table('item_changes') as batch:
        batch.drop_column('reserved_after')
    with op.batch_alter_table('item_balances') as batch:
        batch.drop_column('reserved')
