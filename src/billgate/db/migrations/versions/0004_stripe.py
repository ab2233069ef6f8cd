"""stripe: webhook events taken once, checkout completion leases and failure notices

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 19:13:10.655306
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billgate.db.models

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('stripe_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('object_id', sa.String(length=255), nullable=True),
    sa.Column('received_at', billgate.db.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('processed_at', billgate.db.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_stripe_events_event_id'))
    )
    with op.batch_alter_table('checkout_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_until', billgate.db.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('failure_notified_ref', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('checkout_sessions', schema=None) as batch_op:
        batch_op.drop_column('failure_notified_ref')
        batch_op.drop_column('lease_until')

    op.drop_table('stripe_events')
