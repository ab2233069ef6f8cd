"""customers remember the catalog version their include-by-default products match

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 14:10:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import billgate.db.models

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSION_KEY = "catalog.version"


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('included_version', sa.String(length=40), nullable=True))
    # A version no customer has yet: every existing customer is checked once more.
    settings = sa.table('app_settings', sa.column('key', sa.String), sa.column('value', sa.JSON),
                        sa.column('updated_at', billgate.db.models.UTCDateTime()))
    op.execute(settings.delete().where(settings.c.key == VERSION_KEY))
    op.bulk_insert(settings, [{"key": VERSION_KEY, "value": "migrated-0008",
                               "updated_at": datetime.now(UTC)}])


def downgrade() -> None:
    settings = sa.table('app_settings', sa.column('key', sa.String))
    op.execute(settings.delete().where(settings.c.key == VERSION_KEY))
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('included_version')
