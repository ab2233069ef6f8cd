"""The ``billgate`` command line."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from billgate.settings import Settings


def _settings() -> Settings:
    return Settings.from_env()


@click.group()
def main() -> None:
    """billgate: a self-hosted GraphQL billing gateway."""


@main.command()
@click.option("--host", default=None, help="Overrides BILLGATE_HOST.")
@click.option("--port", default=None, type=int, help="Overrides BILLGATE_PORT.")
@click.option("--workers", default=1, show_default=True, help="Uvicorn worker processes.")
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Serve GraphQL at /graphql (migrate first: `billgate migrate`)."""
    import uvicorn

    from billgate.ops.logging import configure as configure_logging

    settings = _settings()
    configure_logging(debug=settings.debug, json_logs=settings.json_logs)
    asyncio.run(_check_migrated(settings.database_url))
    asyncio.run(_announce(settings))
    uvicorn.run(
        "billgate.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level="debug" if settings.debug else "info",
        proxy_headers=False,
        access_log=settings.debug,  # per-request log lines cost ~10% throughput
        log_config=None,  # keep our JSON logging
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )


async def _check_migrated(url: str) -> None:
    from billgate.db.engine import create_engine
    from billgate.db.migrate import current_revision, head_revision

    engine = create_engine(url, immediate=False)
    try:
        current = await current_revision(engine)
    finally:
        await engine.dispose()
    if current != head_revision():
        raise click.ClickException(
            f"the database is at migration {current or 'none'}, the code needs {head_revision()}: "
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
def migrate() -> None:
    """Create or upgrade the database schema."""
    from billgate.db.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    click.echo("database is up to date", err=True)


@main.group()
def catalog() -> None:
    """Apply or show the product catalog."""


def load_catalog_file(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    return yaml.safe_load(text)


@catalog.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def catalog_apply(file: Path) -> None:
    """Make the stored catalog equal FILE (YAML or JSON). Idempotent; removed entries are archived."""
    from billgate.billing.catalog_spec import parse_catalog
    from billgate.billing.errors import CatalogError

    try:
        document = load_catalog_file(file)
    except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file}: not valid UTF-8 YAML/JSON: {exc}") from None
    try:
        spec = parse_catalog(document)
    except CatalogError as exc:
        raise click.ClickException(f"{file}: {exc.message}") from None
    asyncio.run(_check_migrated(_settings().database_url))
    report = asyncio.run(_apply(spec))
    for label in report.created:
        click.echo(f"created  {label}")
    for label in report.updated:
        click.echo(f"updated  {label}")
    for label in report.archived:
        click.echo(f"archived {label}")
    click.echo(report.summary(), err=True)


async def _apply(spec: Any) -> Any:
    from billgate.billing.catalog import apply_catalog
    from billgate.billing.errors import CatalogError
    from billgate.clock import SystemClock
    from billgate.db.engine import Database

    db = Database(_settings().database_url)
    try:
        async with db.session() as session, session.begin():
            return await apply_catalog(session, spec, now=SystemClock().now())
    except CatalogError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        await db.dispose()


@catalog.command("show")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml")
def catalog_show(fmt: str) -> None:
    """Print the live catalog in the catalog-file format."""
    asyncio.run(_check_migrated(_settings().database_url))
    document = asyncio.run(_show())
    if fmt == "json":
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))


async def _show() -> dict[str, Any]:
    from billgate.billing.catalog import export_catalog
    from billgate.db.engine import Database

    db = Database(_settings().database_url)
    try:
        async with db.read_session() as session:
            return await export_catalog(session)
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
    from billgate.graphql.auth import TEAM_ROLES, mint_customer_token

    secret = _settings().customer_token_secret
    if not secret:
        raise click.ClickException("set BILLGATE_CUSTOMER_TOKEN_SECRET first")
    roles: dict[str, str] = {}
    for entry in teams:
        team_id, _, role = entry.rpartition(":")
        if not team_id or role not in TEAM_ROLES:
            raise click.ClickException(f"--team {entry!r}: expected ID:admin or ID:member")
        roles[team_id] = role
    click.echo(mint_customer_token(secret, user_id, teams=roles, ttl_seconds=ttl))


if __name__ == "__main__":  # pragma: no cover
    main()
