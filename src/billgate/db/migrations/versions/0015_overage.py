"""overage: products' ``overage`` terms (``[{"itemId", "unitAmounts", "limit"}]``)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 13:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('products') as batch:
        batch.add_column(sa.Column('overage', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('products') as batch:
        batch.drop_column('overage')
