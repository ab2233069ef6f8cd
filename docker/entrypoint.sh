#!/bin/sh
# Migrate, then run the given billgate command (serve by default, or worker).
# Migrations are safe to run from every replica: Alembic takes a lock on PostgreSQL and a
# migrated database is left as it is.
set -e
billgate migrate
if [ -n "$BILLGATE_CATALOG_FILE" ]; then
  billgate catalog apply "$BILLGATE_CATALOG_FILE" >&2
fi
exec billgate "$@"
