"""auto top-up: ``auto_top_ups`` (per customer and item) and ``auto_top_up_crossings``

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 13:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billgate.db.models

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TIME = billgate.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('auto_top_ups',
    sa.Column('id', PK, nullable=False),
    sa.Column('customer_pk', PK, nullable=False),
    sa.Column('item_pk', PK, nullable=False),
    sa.Column('threshold', sa.BigInteger(), nullable=False),
    sa.Column('product_id', sa.String(length=200), nullable=False),
    sa.Column('price_id', sa.String(length=200), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('max_per_month', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('last_triggered_at', TIME, nullable=True),
    sa.Column('disabled_reason', sa.Text(), nullable=True),
    sa.Column('created_at', TIME, nullable=False),
    sa.Column('updated_at', TIME, nullable=False),
    sa.ForeignKeyConstraint(['customer_pk'], ['customers.id'],
                            name=op.f('fk_auto_top_ups_customer_pk_customers')),
    sa.ForeignKeyConstraint(['item_pk'], ['item_definitions.id'],
                            name=op.f('fk_auto_top_ups_item_pk_item_definitions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auto_top_ups')),
    sa.UniqueConstraint('customer_pk', 'item_pk', name='uq_auto_top_ups_customer_item'),
    )
    op.create_table('auto_top_up_crossings',
    sa.Column('id', PK, nullable=False),
    sa.Column('auto_top_up_id', PK, nullable=False),
    sa.Column('customer_pk', PK, nullable=False),
    sa.Column('available_after', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('claim_id', sa.BigInteger(), nullable=True),
    sa.Column('purchase_id', sa.BigInteger(), nullable=True),
    sa.Column('failure_message', sa.Text(), nullable=True),
    sa.Column('created_at', TIME, nullable=False),
    sa.Column('updated_at', TIME, nullable=False),
    sa.ForeignKeyConstraint(['auto_top_up_id'], ['auto_top_ups.id'],
                            name=op.f('fk_auto_top_up_crossings_auto_top_up_id_auto_top_ups')),
    sa.ForeignKeyConstraint(['customer_pk'], ['customers.id'],
                            name=op.f('fk_auto_top_up_crossings_customer_pk_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auto_top_up_crossings')),
    )
    op.create_index('ix_auto_top_up_crossings_due', 'auto_top_up_crossings',
                    ['status', 'created_at'])
    op.create_index('ix_auto_top_up_crossings_month', 'auto_top_up_crossings',
                    ['auto_top_up_id', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_auto_top_up_crossings_month', table_name='auto_top_up_crossings')
    op.drop_index('ix_auto_top_up_crossings_due', table_name='auto_top_up_crossings')
    op.drop_table('auto_top_up_crossings')
    op.drop_table('auto_top_ups')
