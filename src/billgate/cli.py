"""The ``billgate`` command line."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml

from billgate.settings import ConfigError, Settings

T = TypeVar("T")


def _settings() -> Settings:
    """The settings, or one line naming the variable that is wrong (no traceback)."""
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _check_email_settings(settings: Settings) -> None:
    """A bad BILLGATE_SMTP_URL or template folder stops start-up, not every email later."""
    from billgate.notifications.sender import parse_smtp_url

    if settings.smtp_url:
        try:
            parse_smtp_url(settings.smtp_url)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    if settings.email_templates and not Path(settings.email_templates).is_dir():
        raise click.ClickException(
            f"BILLGATE_EMAIL_TEMPLATES: {settings.email_templates} is not a directory")


@click.group()
@click.version_option(package_name="billgate", prog_name="billgate")
def main() -> None:
    """billgate: a self-hosted GraphQL billing gateway."""


@main.command()
@click.option("--host", default=None, help="Overrides BILLGATE_HOST.")
@click.option("--port", default=None, type=int, help="Overrides BILLGATE_PORT.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 512),
              help="Worker processes (each with its own BILLGATE_DB_MAX_CONNECTIONS); more "
                   "than 1 needs an event bus that crosses processes.")
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Serve GraphQL at /graphql (migrate first: `billgate migrate`)."""
    import uvicorn

    from billgate.ops.logging import configure as configure_logging

    settings = _settings()
    _check_workers(settings, workers)
    # --host/--port win over the environment everywhere: in the app each worker builds
    # from the environment (hosted links, BILLGATE_PUBLIC_URL's default) and in the banner.
    if host or port:
        settings = replace(settings, host=host or settings.host, port=port or settings.port)
        os.environ["BILLGATE_HOST"], os.environ["BILLGATE_PORT"] = settings.host, str(settings.port)
    configure_logging(debug=settings.debug, json_logs=settings.json_logs)
    _check_email_settings(settings)
    _check_port(settings.host, settings.port)
    _run_on_database(settings, _check_migrated(settings.database_url))
    _check_bus(settings)
    _run_on_database(settings, _announce(settings))
    uvicorn.run(
        "billgate.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="debug" if settings.debug else "info",
        proxy_headers=False,
        access_log=settings.debug,  # per-request log lines cost ~10% throughput
        log_config=None,  # keep our JSON logging
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        # Live messages are a few dozen bytes: compressing each one for each subscriber
        # costs more CPU than it saves on the wire.
        ws_per_message_deflate=False,
    )


class PortInUse(click.ClickException):
    exit_code = 2


def _check_port(host: str, port: int) -> None:
    """Bind the address as uvicorn will, before anything is printed: a port in use is one
    line and exit code 2, not a banner followed by a traceback."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise click.ClickException(f"BILLGATE_HOST: cannot listen on {host!r}: {exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind(address)
        except OSError as exc:
            raise PortInUse(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} (another billgate or "
                "program is using it?): stop it, or choose another port with --port or "
                "BILLGATE_PORT") from None


def _check_bus(settings: Settings) -> None:
    """Connect to the event bus once before serving: an unreachable Redis or PostgreSQL bus
    is one line naming BILLGATE_EVENT_BUS_URL."""
    from billgate.db.availability import summary
    from billgate.events import create_bus

    url = settings.event_bus_url
    if url.startswith("memory:"):
        return

    async def connect() -> None:
        bus = create_bus(url, channel=settings.event_bus_channel or None)
        await bus.start()
        await bus.close()

    try:
        asyncio.run(connect())
    except Exception as exc:
        shown = _without_password(url)
        raise click.ClickException(f"BILLGATE_EVENT_BUS_URL: cannot reach the event bus at "
                                   f"{shown}: {summary(exc)}") from None


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _check_workers(settings: Settings, workers: int) -> None:
    """Several workers are several processes: live subscriptions on one must see the
    changes made through another, which the in-process memory bus cannot carry."""
    if workers == 1 or not settings.event_bus_url.lower().startswith("memory:"):
        return
    bus = ("BILLGATE_EVENT_BUS_URL=postgresql://... (this database) or redis://..."
           if settings.database_url.startswith("postgresql") else
           "BILLGATE_EVENT_BUS_URL=redis://HOST:6379")
    raise click.ClickException(
        f"--workers {workers}: the memory event bus (BILLGATE_EVENT_BUS_URL=memory://) does "
        f"not cross processes, so live subscriptions would miss other workers' changes; "
        f"set {bus}, or serve with --workers 1")


def _run_on_database(settings: Settings, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``; a database that cannot be opened ends in one line saying which one
    and what to do, not a traceback."""
    from billgate.db.availability import is_unavailable, summary
    from billgate.db.urls import describe

    try:
        return asyncio.run(work)
    except click.ClickException:
        raise
    except Exception as exc:
        if not is_unavailable(exc) and not _is_missing_database(exc):
            raise
        raise click.ClickException(
            f"BILLGATE_DATABASE_URL: cannot open {describe(settings.database_url)}: "
            f"{summary(exc)}. Check the URL, that the server is running and the database "
            "exists (create it, then run `billgate migrate`)") from None


def _is_missing_database(exc: BaseException) -> bool:
    try:
        from asyncpg import InvalidCatalogNameError, InvalidPasswordError
    except ImportError:  # pragma: no cover
        return False
    error: BaseException | None = exc
    while error is not None:
        if isinstance(error, InvalidCatalogNameError | InvalidPasswordError):
            return True
        error = error.__cause__ or error.__context__
    return False


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None: not SQLite, or in memory)."""
    from sqlalchemy.engine import make_url

    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve()


async def _check_migrated(url: str) -> None:
    from billgate.db.engine import create_engine
    from billgate.db.migrate import current_revision, head_revision
    from billgate.db.urls import describe

    path = _sqlite_file(url)
    if path is not None and not path.exists():
        # Opening it would create an empty file: likely the wrong folder.
        raise click.ClickException(
            f"BILLGATE_DATABASE_URL: no database at {path} (from {describe(url)}, relative to "
            f"{Path.cwd()}): run from the right folder, or run `billgate migrate` first to create it")
    engine = create_engine(url, immediate=False)
    try:
        current = await current_revision(engine)
    finally:
        await engine.dispose()
    if current != head_revision():
        where = path or describe(url)
        state = "is new (not migrated)" if current is None else f"is at migration {current}"
        raise click.ClickException(
            f"the database {where} {state}, the code needs {head_revision()}: "
            "run `billgate migrate` first"
        )


async def _announce(settings: Settings) -> None:
    from billgate.app import build_runtime
    from billgate.billing import payment_settings

    runtime = await build_runtime(settings)
    try:
        async with runtime.db.read_session() as session:
            current = await payment_settings.load(session)
        mode = "TEST MODE (no real charges)" if current.test_mode else "LIVE MODE"
        click.echo(f"billgate: {mode}, GraphQL at {settings.base_url}/graphql", err=True)
        if not settings.secret_keys and runtime.secret_keys:
            click.echo(f"billgate: development secret key: {runtime.secret_keys[0]}", err=True)
    finally:
        await runtime.db.dispose()


@main.command()
def worker() -> None:
    """Run the scheduler alone (renewals, trials, dunning, item repeats and expiries, the
    email outbox) until SIGTERM or SIGINT. Any number may run: due work is leased."""
    from billgate.ops.logging import configure as configure_logging

    settings = _settings()
    configure_logging(debug=settings.debug, json_logs=settings.json_logs)
    _check_email_settings(settings)
    _run_on_database(settings, _check_migrated(settings.database_url))
    _check_bus(settings)
    _run_on_database(settings, _work(settings))


async def _work(settings: Settings) -> None:
    import logging
    import signal

    from billgate.app import build_runtime, build_scheduler
    from billgate.events import create_bus

    log = logging.getLogger("billgate.worker")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runtime = await build_runtime(settings)
    try:
        runtime.bus = create_bus(settings.event_bus_url,
                                 channel=settings.event_bus_channel or None)
        await runtime.bus.start()
        try:
            scheduler = build_scheduler(runtime)
            scheduler.start()
            log.info("billgate worker: scheduler running every %ss", settings.scheduler_interval)
            click.echo(f"billgate worker: running (every {settings.scheduler_interval:g}s); "
                       "stop with SIGTERM or Ctrl-C", err=True)
            await stop.wait()
            log.info("billgate worker: stopping")
            await scheduler.stop(grace=settings.shutdown_grace_seconds)
        finally:
            await runtime.bus.close()
            runtime.bus = None
    finally:
        close = getattr(runtime, "aclose", None)  # the payment processor's connections, if any
        if close is not None:
            await close()
        await runtime.db.dispose()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    click.echo("billgate worker: stopped", err=True)


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema, and say what was done."""
    from billgate.db.engine import create_engine
    from billgate.db.migrate import current_revision, upgrade_async
    from billgate.db.urls import describe

    settings = _settings()
    url = settings.database_url
    path = _sqlite_file(url)
    where = f"{describe(url)} ({path})" if path else describe(url)
    created = path is not None and not path.exists()
    if path is not None and not path.parent.is_dir():
        raise click.ClickException(
            f"BILLGATE_DATABASE_URL: cannot open {describe(url)}: the folder {path.parent} "
            "does not exist; create it or fix the path")

    async def run() -> tuple[str | None, str | None]:
        engine = create_engine(url, immediate=False)
        try:
            before = await current_revision(engine)
            await upgrade_async(url)
            return before, await current_revision(engine)
        finally:
            await engine.dispose()

    before, after = _run_on_database(settings, run())
    if before == after:
        click.echo(f"database {where}: already at migration {after}, nothing to do", err=True)
    else:
        new = " (created the file)" if created else ""
        click.echo(f"database {where}: migrated from {before or 'none'} to {after}{new}", err=True)


@main.group()
def catalog() -> None:
    """Apply or show the product catalog."""


class CatalogFileError(ValueError):
    """A catalog file that cannot be read, in one line: ``FILE:LINE:COLUMN: what``."""


def load_catalog_file(path: Path) -> Any:
    """The document in ``path`` (JSON for ``.json``, else YAML); ``CatalogFileError``
    naming the file, line and column of a syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogFileError(f"{path}: not UTF-8 (byte {exc.start})") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise CatalogFileError(f"{path}:{exc.lineno}:{exc.colno}: {exc.msg}") from None
    except yaml.MarkedYAMLError as exc:
        raise CatalogFileError(_yaml_error(path, exc)) from None
    except yaml.YAMLError as exc:
        raise CatalogFileError(f"{path}: YAML syntax error: {' '.join(str(exc).split())}") from None


def _yaml_error(path: Path, exc: yaml.MarkedYAMLError) -> str:
    """``FILE:LINE:COLUMN: YAML syntax error: <problem> (<context> at LINE:COLUMN)``."""
    def at(mark: Any) -> str:
        return f"{mark.line + 1}:{mark.column + 1}"

    mark = exc.problem_mark or exc.context_mark
    where = f"{path}:{at(mark)}" if mark else str(path)
    text = exc.problem or exc.context or "invalid YAML"
    if exc.context and exc.problem:
        text += f" ({exc.context}" + (f" at {at(exc.context_mark)})" if exc.context_mark else ")")
    return f"{where}: YAML syntax error: {text}"


@catalog.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--prune", is_flag=True,
              help="Archive live entries that are not in FILE (never deleted; re-adding restores).")
@click.option("--dry-run", is_flag=True, help="Show what would change, field by field; change nothing.")
@click.option("--if-new", is_flag=True,
              help="Apply only to a database without a catalog yet (say so and skip otherwise).")
def catalog_apply(file: Path, prune: bool, dry_run: bool, if_new: bool) -> None:
    """Create and update the catalog entries of FILE (YAML or JSON). Idempotent. Entries
    missing from FILE are kept (products made through the API survive) unless --prune."""
    from billgate.billing.catalog_spec import parse_catalog
    from billgate.errors import CatalogError, CatalogErrors

    try:
        document = load_catalog_file(file)
    except CatalogFileError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        spec = parse_catalog(document)
    except CatalogErrors as exc:
        for error in exc.errors:
            click.echo(f"{file}: {error.message}", err=True)
        raise click.ClickException(f"{file}: {len(exc.errors)} errors; nothing was applied") from None
    except CatalogError as exc:
        raise click.ClickException(f"{file}: {exc.message}") from None
    settings = _settings()
    _run_on_database(settings, _check_migrated(settings.database_url))
    if if_new:
        entries = _run_on_database(settings, _catalog_size())
        if entries:
            click.echo(f"{file} not applied: the database already has a catalog ({entries} "
                       f"entries, kept as they are); `billgate catalog apply {file}` applies "
                       "it anyway", err=True)
            return
    report = _run_on_database(settings, _apply(spec, prune=prune, dry_run=dry_run))
    for label in report.created:
        click.echo(f"created  {label}")
    for label in report.updated:
        click.echo(f"updated  {label}")
        if dry_run:
            for change in report.changes.get(label, []):
                click.echo(f"           {change}")
    for label in report.archived:
        click.echo(f"archived {label}")
    if dry_run:
        for label in report.kept:
            click.echo(f"kept     {label} (not in the file)")
    summary = report.summary()
    click.echo(f"dry run, nothing changed: would be {summary}" if dry_run else summary, err=True)


async def _apply(spec: Any, *, prune: bool, dry_run: bool) -> Any:
    from billgate.billing.catalog import apply_catalog
    from billgate.clock import SystemClock
    from billgate.db.engine import Database
    from billgate.errors import CatalogError, CatalogErrors

    settings = _settings()
    db = Database(settings.database_url, **settings.database_options)
    try:
        async with db.session() as session:
            transaction = await session.begin()
            report = await apply_catalog(session, spec, now=SystemClock().now(), prune=prune)
            # A dry run does all the work, then rolls it back: what it shows is exact.
            await (transaction.rollback() if dry_run else transaction.commit())
            return report
    except CatalogErrors as exc:
        raise click.ClickException("\n".join(e.message for e in exc.errors)) from None
    except CatalogError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        await db.dispose()


async def _catalog_size() -> int:
    from billgate.billing.catalog import catalog_size

    return await _read(catalog_size)


async def _read(query: Callable[[Any], Awaitable[T]]) -> T:
    """``query(session)`` in a read session of the configured database."""
    from billgate.db.engine import Database

    settings = _settings()
    db = Database(settings.database_url, **settings.database_options)
    try:
        async with db.read_session() as session:
            return await query(session)
    finally:
        await db.dispose()


@catalog.command("show")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml")
def catalog_show(fmt: str) -> None:
    """Print the live catalog in the catalog-file format."""
    settings = _settings()
    _run_on_database(settings, _check_migrated(settings.database_url))
    document = _run_on_database(settings, _show())
    if fmt == "json":
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))


async def _show() -> dict[str, Any]:
    from billgate.billing.catalog import export_catalog

    return await _read(export_catalog)


@main.command()
def audit() -> None:
    """Check every customer's billing invariants; exit 1 listing each violation."""
    asyncio.run(_check_migrated(_settings().database_url))
    violations = asyncio.run(_audit())
    for violation in violations:
        click.echo(str(violation))
    if violations:
        raise click.ClickException(f"{len(violations)} violation(s) found")
    click.echo("audit: every customer's billing state is consistent", err=True)


async def _audit() -> list[Any]:
    from billgate.billing import audit as checks
    from billgate.db.engine import Database

    db = Database(_settings().database_url)
    try:
        async with db.read_session() as session:
            return await checks.run(session)
    finally:
        await db.dispose()


@main.command("export-schema")
def export_schema() -> None:
    """Print the GraphQL schema (SDL); `schema.graphql` is this output."""
    from billgate.graphql.schema import build_schema

    sys.stdout.write(build_schema().as_str() + "\n")


@main.command()
@click.argument("user_id")
@click.option("--team", "teams", multiple=True, metavar="ID:ROLE",
              help="A team and the user's role in it (admin or member). Repeatable.")
@click.option("--ttl", default=3600, show_default=True, help="Seconds until the token expires.")
def token(user_id: str, teams: tuple[str, ...], ttl: int) -> None:
    """Mint a customer token for development (signed with BILLGATE_CUSTOMER_TOKEN_SECRET)."""
    from billgate.auth import mint_customer_token

    secret = _settings().customer_token_secret
    if not secret:
        raise click.ClickException("set BILLGATE_CUSTOMER_TOKEN_SECRET first")
    click.echo(mint_customer_token(secret, user_id, teams=team_roles(teams), ttl_seconds=ttl))


def team_roles(teams: tuple[str, ...]) -> dict[str, str]:
    """``--team ID:ROLE`` options as a customer token's ``teams``."""
    from billgate.auth import TEAM_ROLES

    roles: dict[str, str] = {}
    for entry in teams:
        team_id, _, role = entry.rpartition(":")
        if not team_id or role not in TEAM_ROLES:
            raise click.ClickException(f"--team {entry!r}: expected ID:admin or ID:member")
        roles[team_id] = role
    return roles


def _add_commands() -> None:
    from billgate.cli_gql import gql

    main.add_command(gql)


_add_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
