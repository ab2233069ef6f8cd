"""Answers to catalog-only queries, kept and checked against the catalog version.

A storefront asks ``products(first: 20) { ... prices ... includedItems ... }`` on every page
view; executing it resolves about a hundred fields. The answer changes only when the catalog
does, and every catalog write (``upsertItemDefinition``, ``upsertProductLine``,
``upsertProduct``, ``billgate catalog apply``) stores a new catalog version in its own
transaction (``billing/catalog.bump_version``). So a query whose every root field is a
catalog field is answered from this cache when the version read now (one direct statement)
is the version read before the kept answer was executed. Each request reads the version,
so a write by any process or replica on the same database is seen by the next request;
nothing expires by time and nothing needs to be told.

Kept per (query text, operation name, variables, whether the caller uses a server key): the
answer hides server-only products and prices from other callers. Only a 200 JSON answer
without errors is kept. A version that cannot be read at once (``db/direct.py``) means the
query runs as usual.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse

from billgate.billing.catalog import VERSION_KEY
from billgate.db.direct import DirectDatabase, Statement, json_of, or_none
from billgate.ops.metrics import CATALOG_CACHE

CATALOG_FIELDS = frozenset({"products", "product", "productLines", "itemDefinitions",
                            "__typename"})
VERSION = Statement("SELECT value FROM app_settings WHERE key = :version_key")
# Longer documents are executed as usual: the parsed-document memo below stays small.
MAX_QUERY_CHARS = 8192
# The version of a catalog never written (no row): a string no token can equal.
_NO_VERSION = "-"
Key = tuple[str, str | None, str, bool]


@dataclass(frozen=True)
class Entry:
    version: str
    body: bytes


class CatalogCache:
    def __init__(self, direct: DirectDatabase, *, max_entries: int = 512,
                 max_body_bytes: int = 1 << 20) -> None:
        self.direct = direct
        self.max_entries = max_entries
        self.max_body_bytes = max_body_bytes
        self._entries: OrderedDict[Key, Entry] = OrderedDict()

    def key(self, body: bytes, *, server: bool) -> Key | None:
        """The cache key of a request body, or None when it is not a catalog-only query."""
        try:
            request = json.loads(body)
        except (ValueError, RecursionError):
            return None
        if not isinstance(request, dict):
            return None
        query, name = request.get("query"), request.get("operationName")
        variables = request.get("variables") or {}
        if not (isinstance(query, str) and len(query) <= MAX_QUERY_CHARS
                and isinstance(variables, dict) and (name is None or isinstance(name, str))):
            return None
        if not catalog_only(query, name):
            return None
        return query, name, json.dumps(variables, sort_keys=True), server

    async def version(self) -> str | None:
        """The catalog version now; None when it cannot be read at once."""
        async def read() -> str:
            async with self.direct.read() as conn:
                row = await conn.fetchone(VERSION, version_key=VERSION_KEY)
            return _NO_VERSION if row is None else str(json_of(row[0]))

        return await or_none(read())

    def get(self, key: Key, version: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None or entry.version != version:
            CATALOG_CACHE.labels("miss").inc()
            return None
        self._entries.move_to_end(key)
        CATALOG_CACHE.labels("hit").inc()
        return entry.body

    def put(self, key: Key, version: str, body: bytes) -> None:
        """Keep ``body``, the answer executed after ``version`` was read (so a catalog write
        racing with the execution leaves it tagged with the older version: a miss later)."""
        if len(body) > self.max_body_bytes:
            return
        self._entries[key] = Entry(version, body)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


@lru_cache(maxsize=1024)
def catalog_only(query: str, operation_name: str | None) -> bool:
    """Whether the operation that would run is a query whose every root field reads the
    catalog (fragments at the root and unparsable documents are left to the normal path,
    which also gives their errors)."""
    try:
        document = parse(query)
    except (GraphQLError, RecursionError):
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation is not OperationType.QUERY:
        return False
    selections = operations[0].selection_set.selections
    names = [s.name.value if isinstance(s, FieldNode) and not s.directives else None
             for s in selections]
    # ``{ __typename }`` alone costs less to execute than to look up.
    return all(name in CATALOG_FIELDS for name in names) and set(names) != {"__typename"}
