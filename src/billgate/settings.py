"""Process settings, read once from ``BILLGATE_*`` environment variables.

Every variable is documented in the README. Payment settings that change at run time
(test mode, blocked purchases, grace period, retry days) live in the database; the
environment only seeds them at start-up (see ``billing.payment_settings``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from billgate.db.budget import BUS_CONNECTIONS, DEFAULT_MAX_CONNECTIONS, ConnectionBudget
from billgate.db.urls import DatabaseUrlError, normalise_database_url

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./billgate.db"


class ConfigError(ValueError):
    """A ``BILLGATE_*`` variable that cannot be used; the message names it and says what to do."""


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _bool(value: str | None, default: bool, name: str = "") -> bool:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    prefix = f"BILLGATE_{name}: " if name else ""
    raise ConfigError(f"{prefix}expected true or false, got {_shown(value)}")


def _number(env: Mapping[str, str], name: str, default: float, *, whole: bool,
            low: float, high: float) -> float:
    """``BILLGATE_<name>`` as a number from ``low`` to ``high``, or ``default`` when unset."""
    raw = env.get(f"BILLGATE_{name}")
    if raw is None or raw.strip() == "":
        return default
    kind = "a whole number" if whole else "a number"
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        raise ConfigError(f"BILLGATE_{name}: expected {kind} from {low:g} to {high:g}, "
                          f"got {_shown(raw)}; set it to such a number or unset it "
                          f"(default {default:g})") from None
    if not low <= value <= high:
        raise ConfigError(f"BILLGATE_{name}: must be from {low:g} to {high:g}, got {_shown(raw)}")
    return value


def _list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _interval(value: str | None) -> float:
    if not value:
        return 1.0
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(f"BILLGATE_SCHEDULER_INTERVAL: expected seconds, got {_shown(value)}") from None
    if not 0.01 <= seconds <= 3600:
        raise ConfigError(f"BILLGATE_SCHEDULER_INTERVAL must be from 0.01 to 3600 seconds, got {value!r}")
    return seconds


def _return_urls(value: str | None) -> tuple[str, ...]:
    """The entries, each checked now: a typo stops start-up instead of refusing checkouts."""
    from billgate.billing.return_urls import EntryError, parse_entry

    entries = _list(value)
    for entry in entries:
        try:
            parse_entry(entry)
        except EntryError as exc:
            raise ConfigError(f"BILLGATE_ALLOWED_RETURN_URLS: {exc}") from None
    return entries


def _database_url(value: str) -> str:
    try:
        return normalise_database_url(value)
    except DatabaseUrlError as exc:
        raise ConfigError(f"BILLGATE_DATABASE_URL: {exc}") from None


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    secret_keys: tuple[str, ...] = ()
    customer_token_secret: str = ""
    # None: not set in the environment, so the value stored in the database wins.
    test_mode: bool | None = None
    allowed_return_urls: tuple[str, ...] = ()
    # Browser origins allowed to call /graphql cross-origin (CORS) and open its WebSocket.
    allowed_origins: tuple[str, ...] = ()
    event_bus_url: str = "memory://"
    # "" means the backend's default channel (billgate_events / billgate:events).
    event_bus_channel: str = ""
    stripe_secret_key: str = ""
    stripe_publishable_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = ""
    smtp_url: str = ""
    # Emails: the From address, and a folder whose files override the packaged templates.
    email_from: str = "billing@localhost"
    email_templates: str = ""
    # The scheduler (renewals, dunning, item repeats and expiries, the email outbox) runs in
    # `billgate serve` unless switched off; `billgate worker` runs it alone.
    scheduler: bool = True
    # Outgoing webhooks: hosts that may be called over plain http (everything else must be
    # https), and whether endpoints may resolve to private/loopback/link-local addresses.
    webhook_http_hosts: tuple[str, ...] = ()
    webhook_allow_private: bool = False
    # A PAST_DUE subscription's repeating credits: granted at once (true) or when the
    # renewal is paid (false, the default; billing/subscriptions/paid_credits.py).
    grant_credits_during_grace: bool = False
    scheduler_interval: float = 1.0
    # WebSockets one customer token may hold open in this process (0: no limit).
    max_sockets_per_token: int = 10
    debug: bool = False
    max_body_bytes: int = 1_000_000
    # GraphQL documents: refused above this many bytes before parsing, and above this
    # cost (fields, fragments expanded) at validation.
    max_query_bytes: int = 64 * 1024
    max_query_cost: int = 5000
    # Catalog-only queries answered from memory while the catalog version is unchanged
    # (graphql/catalog_cache.py); off for a catalog edited in SQL by hand, or to measure.
    catalog_cache: bool = True
    # Seconds: opening a database connection (or waiting for a pooled one), and one
    # statement (SQLite: waiting for the write lock). A database that hangs fails fast.
    db_connect_timeout: float = 5.0
    db_statement_timeout: float = 30.0
    # Every PostgreSQL connection of this process together (db/budget.py splits it).
    db_max_connections: int = DEFAULT_MAX_CONNECTIONS
    json_logs: bool = True
    shutdown_grace_seconds: int = 20
    # The operator console at /admin (web/admin/).
    admin_enabled: bool = True

    @property
    def connection_budget(self) -> ConnectionBudget:
        """``db_max_connections`` less what a PostgreSQL event bus takes."""
        from billgate.events.bus import is_postgres_bus

        return ConnectionBudget(self.db_max_connections,
                                BUS_CONNECTIONS if is_postgres_bus(self.event_bus_url) else 0)

    @property
    def database_options(self) -> dict[str, float]:
        """Keyword arguments of ``Database`` for these settings."""
        return {"connect_timeout": self.db_connect_timeout,
                "statement_timeout": self.db_statement_timeout,
                "max_connections": self.connection_budget.for_database}

    @property
    def base_url(self) -> str:
        """Absolute base for hosted links (checkout, invoices)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return env.get(f"BILLGATE_{name}")

        test_mode_raw = get("TEST_MODE")
        settings = cls(
            database_url=_database_url(get("DATABASE_URL") or DEFAULT_DATABASE_URL),
            host=get("HOST") or "127.0.0.1",
            port=int(_number(env, "PORT", 8000, whole=True, low=1, high=65535)),
            public_url=get("PUBLIC_URL") or "",
            secret_keys=_list(get("SECRET_KEYS")),
            customer_token_secret=get("CUSTOMER_TOKEN_SECRET") or "",
            test_mode=None if not test_mode_raw else _bool(test_mode_raw, True, "TEST_MODE"),
            allowed_return_urls=_return_urls(get("ALLOWED_RETURN_URLS")),
            allowed_origins=_list(get("ALLOWED_ORIGINS")),
            event_bus_url=get("EVENT_BUS_URL") or "memory://",
            event_bus_channel=get("EVENT_BUS_CHANNEL") or "",
            stripe_secret_key=get("STRIPE_SECRET_KEY") or "",
            stripe_publishable_key=get("STRIPE_PUBLISHABLE_KEY") or "",
            stripe_webhook_secret=get("STRIPE_WEBHOOK_SECRET") or "",
            stripe_api_base=get("STRIPE_API_BASE") or "",
            smtp_url=get("SMTP_URL") or "",
            email_from=get("EMAIL_FROM") or "billing@localhost",
            email_templates=get("EMAIL_TEMPLATES") or "",
            scheduler=_bool(get("SCHEDULER"), True, "SCHEDULER"),
            webhook_http_hosts=tuple(h.lower() for h in _list(get("WEBHOOK_HTTP_HOSTS"))),
            webhook_allow_private=_bool(get("WEBHOOK_ALLOW_PRIVATE"), False, "WEBHOOK_ALLOW_PRIVATE"),
            grant_credits_during_grace=_bool(get("GRANT_CREDITS_DURING_GRACE"), False,
                                             "GRANT_CREDITS_DURING_GRACE"),
            scheduler_interval=_interval(get("SCHEDULER_INTERVAL")),
            max_sockets_per_token=int(_number(env, "MAX_SOCKETS_PER_TOKEN", 10, whole=True,
                                              low=0, high=100_000)),
            debug=_bool(get("DEBUG"), False, "DEBUG"),
            max_body_bytes=int(_number(env, "MAX_BODY_BYTES", 1_000_000, whole=True,
                                       low=1024, high=2**31)),
            max_query_bytes=int(_number(env, "MAX_QUERY_BYTES", 64 * 1024, whole=True,
                                        low=256, high=2**31)),
            max_query_cost=int(_number(env, "MAX_QUERY_COST", 5000, whole=True, low=1, high=2**31)),
            catalog_cache=_bool(get("CATALOG_CACHE"), True, "CATALOG_CACHE"),
            db_connect_timeout=_number(env, "DB_CONNECT_TIMEOUT", 5.0, whole=False,
                                       low=0.1, high=600),
            db_statement_timeout=_number(env, "DB_STATEMENT_TIMEOUT", 30.0, whole=False,
                                         low=0.1, high=86400),
            db_max_connections=int(_number(env, "DB_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS,
                                           whole=True, low=1, high=10_000)),
            json_logs=_bool(get("JSON_LOGS"), True, "JSON_LOGS"),
            shutdown_grace_seconds=int(_number(env, "SHUTDOWN_GRACE_SECONDS", 20, whole=True,
                                               low=0, high=3600)),
            admin_enabled=_bool(get("ADMIN_ENABLED"), True, "ADMIN_ENABLED"),
        )
        try:
            settings.connection_budget  # noqa: B018 - checks it can be split
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return settings
