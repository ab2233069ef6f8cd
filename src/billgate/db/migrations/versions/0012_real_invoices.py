"""real invoices: numbers (a counter per prefix and year), seller and buyer snapshots,
credit notes, the buyer's name, address and tax id on the customer, and the reminder
emails sent (trial ending, yearly renewal)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 09:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billgate.db.models

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TIME = billgate.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('customers') as batch:
        batch.add_column(sa.Column('name', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('address', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('tax_id', sa.String(length=50), nullable=True))
    with op.batch_alter_table('invoices') as batch:
        batch.add_column(sa.Column('number', sa.String(length=60), nullable=True))
        batch.add_column(sa.Column('seller', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('buyer', sa.JSON(), nullable=True))
        batch.create_unique_constraint('uq_invoices_number', ['number'])
    op.create_table('invoice_counters',
    sa.Column('prefix', sa.String(length=20), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('prefix', 'year', name=op.f('pk_invoice_counters'))
    )
    op.create_table('credit_notes',
    sa.Column('id', PK, nullable=False),
    sa.Column('public_id', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=60), nullable=False),
    sa.Column('invoice_id', PK, nullable=False),
    sa.Column('transaction_id', PK, nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('created_at', TIME, nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'],
                            name=op.f('fk_credit_notes_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'],
                            name=op.f('fk_credit_notes_transaction_id_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_notes')),
    sa.UniqueConstraint('public_id', name=op.f('uq_credit_notes_public_id')),
    sa.UniqueConstraint('number', name=op.f('uq_credit_notes_number'))
    )
    op.create_index('ix_credit_notes_invoice', 'credit_notes', ['invoice_id', 'id'], unique=False)
    op.create_table('subscription_reminders',
    sa.Column('id', PK, nullable=False),
    sa.Column('purchase_id', PK, nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('due_for', TIME, nullable=False),
    sa.Column('created_at', TIME, nullable=False),
    sa.ForeignKeyConstraint(['purchase_id'], ['purchases.id'],
                            name=op.f('fk_subscription_reminders_purchase_id_purchases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_reminders')),
    sa.UniqueConstraint('purchase_id', 'kind', 'due_for', name='uq_subscription_reminders')
    )


def downgrade() -> None:
    op.drop_table('subscription_reminders')
    op.drop_index('ix_credit_notes_invoice', table_name='credit_notes')
    op.drop_table('credit_notes')
    op.drop_table('invoice_counters')
    with op.batch_alter_table('invoices') as batch:
        batch.drop_constraint('uq_invoices_number', type_='unique')
        batch.drop_column('buyer')
        batch.drop_column('seller')
        batch.drop_column('number')
    with op.batch_alter_table('customers') as batch:
        batch.drop_column('tax_id')
        batch.drop_column('address')
        batch.drop_column('name')
