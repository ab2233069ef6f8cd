"""promo codes: ``promo_codes`` and ``promo_redemptions`` (issue 28)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 13:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billgate.db.models

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TIME = billgate.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('promo_codes',
    sa.Column('id', PK, nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('percent_off', sa.String(length=12), nullable=True),
    sa.Column('amount_off', sa.JSON(), nullable=False),
    sa.Column('duration', sa.String(length=12), nullable=False),
    sa.Column('duration_in_months', sa.Integer(), nullable=True),
    sa.Column('max_redemptions', sa.Integer(), nullable=True),
    sa.Column('times_redeemed', sa.Integer(), nullable=False),
    sa.Column('expires_at', TIME, nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('product_ids', sa.JSON(), nullable=False),
    sa.Column('first_purchase_only', sa.Boolean(), nullable=False),
    sa.Column('created_at', TIME, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promo_codes')),
    sa.UniqueConstraint('code', name=op.f('uq_promo_codes_code')),
    )
    op.create_table('promo_redemptions',
    sa.Column('id', PK, nullable=False),
    sa.Column('promo_code_id', PK, nullable=False),
    sa.Column('checkout_id', PK, nullable=False),
    sa.Column('customer_pk', PK, nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('reserved_until', TIME, nullable=True),
    sa.Column('purchase_id', sa.BigInteger(), nullable=True),
    sa.Column('first_period_start', TIME, nullable=True),
    sa.Column('applied_at', TIME, nullable=True),
    sa.Column('created_at', TIME, nullable=False),
    sa.ForeignKeyConstraint(['promo_code_id'], ['promo_codes.id'],
                            name=op.f('fk_promo_redemptions_promo_code_id_promo_codes')),
    sa.ForeignKeyConstraint(['checkout_id'], ['checkout_sessions.id'],
                            name=op.f('fk_promo_redemptions_checkout_id_checkout_sessions')),
    sa.ForeignKeyConstraint(['customer_pk'], ['customers.id'],
                            name=op.f('fk_promo_redemptions_customer_pk_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promo_redemptions')),
    sa.UniqueConstraint('checkout_id', name=op.f('uq_promo_redemptions_checkout_id')),
    )
    op.create_index('ix_promo_redemptions_code', 'promo_redemptions', ['promo_code_id', 'status'])
    op.create_index('ix_promo_redemptions_purchase', 'promo_redemptions', ['purchase_id'])


def downgrade() -> None:
    op.drop_index('ix_promo_redemptions_purchase', table_name='promo_redemptions')
    op.drop_index('ix_promo_redemptions_code', table_name='promo_redemptions')
    op.drop_table('promo_redemptions')
    op.drop_table('promo_codes')
