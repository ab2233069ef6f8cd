"""``billgate gql``: post a GraphQL document to a running billgate, with variables and the
configured key, and print the answer (the README's worked example is written with it).

The key, first found: ``--as USER_ID`` (a customer token minted with
BILLGATE_CUSTOMER_TOKEN_SECRET, teams from ``--team``), ``--key``, the first of
BILLGATE_SECRET_KEYS, the development key test mode keeps in the database, or none (the
public catalog). The address: ``--url``, else BILLGATE_PUBLIC_URL or BILLGATE_HOST and
BILLGATE_PORT, ``/graphql``. A subscription is followed over WebSocket
(graphql-transport-ws), one JSON line per message, until Ctrl-C or ``--count`` messages.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click

from billgate.settings import ConfigError, Settings

TIMEOUT = 30.0


def _variables(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs; VALUE is JSON when it parses as JSON, else a string."""
    variables: dict[str, Any] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise click.ClickException(f"--var {pair!r}: expected NAME=VALUE")
        try:
            variables[name] = json.loads(value)
        except ValueError:
            variables[name] = value
    return variables


def _authorization(settings: Settings, *, as_user: str | None, teams: tuple[str, ...],
                   key: str | None) -> str | None:
    if as_user is not None:
        from billgate.auth import mint_customer_token
        from billgate.cli import team_roles

        if not settings.customer_token_secret:
            raise click.ClickException("--as needs BILLGATE_CUSTOMER_TOKEN_SECRET (the secret "
                                       "the server signs customer tokens with)")
        token = mint_customer_token(settings.customer_token_secret, as_user,
                                    teams=team_roles(teams))
        return f"Bearer {token}"
    if key:
        return f"Bearer {key}"
    if settings.secret_keys:
        return f"Bearer {settings.secret_keys[0]}"
    development = _development_key(settings)
    return f"Bearer {development}" if development else None


def _development_key(settings: Settings) -> str | None:
    """The key test mode generated and keeps in the database, when this folder's database
    has one (what `billgate serve` printed at start-up)."""
    from billgate.cli import _sqlite_file

    path = _sqlite_file(settings.database_url)
    if path is not None and not path.exists():
        return None

    async def read() -> str | None:
        from sqlalchemy import select

        from billgate.app import DEV_KEY
        from billgate.db.engine import Database
        from billgate.db.models import AppSetting

        db = Database(settings.database_url, **settings.database_options)
        try:
            async with db.read_session() as session:
                value = await session.scalar(select(AppSetting.value).where(AppSetting.key == DEV_KEY))
        finally:
            await db.dispose()
        return str(value) if value else None

    try:
        return asyncio.run(read())
    except Exception:  # no database here, or not migrated: call without a key
        return None


def _is_subscription(document: str) -> bool:
    from graphql import OperationDefinitionNode, OperationType, parse

    try:
        parsed = parse(document)
    except Exception:  # the server says what is wrong with it
        return False
    return any(isinstance(d, OperationDefinitionNode) and d.operation is OperationType.SUBSCRIPTION
               for d in parsed.definitions)


@click.command("gql")
@click.argument("document", required=False)
@click.option("--var", "pairs", multiple=True, metavar="NAME=VALUE",
              help="A variable (VALUE as JSON, or a plain string). Repeatable.")
@click.option("--as", "as_user", metavar="USER_ID",
              help="Call as this user with a customer token (BILLGATE_CUSTOMER_TOKEN_SECRET).")
@click.option("--team", "teams", multiple=True, metavar="ID:ROLE",
              help="With --as: a team and the user's role in it. Repeatable.")
@click.option("--key", default=None, help="The secret key (default: the configured one).")
@click.option("--url", default=None, help="The GraphQL endpoint (default: this server's).")
@click.option("--count", default=None, type=int,
              help="A subscription: stop after this many messages (default: until Ctrl-C).")
def gql(document: str | None, pairs: tuple[str, ...], as_user: str | None,
        teams: tuple[str, ...], key: str | None, url: str | None, count: int | None) -> None:
    """Post DOCUMENT (or standard input) to billgate and print the answer. Exit code 1
    when the answer has top-level errors."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    text = document if document not in (None, "-") else sys.stdin.read()
    if not text or not text.strip():
        raise click.ClickException("no GraphQL document: give it as an argument or on standard input")
    endpoint = url or f"{settings.base_url}/graphql"
    authorization = _authorization(settings, as_user=as_user, teams=teams, key=key)
    variables = _variables(pairs)
    if _is_subscription(text):
        failed = _follow(endpoint, text, variables, authorization, count)
    else:
        failed = _post(endpoint, text, variables, authorization)
    if failed:
        sys.exit(1)


def _post(endpoint: str, document: str, variables: dict[str, Any],
          authorization: str | None) -> bool:
    import httpx

    headers = {"Authorization": authorization} if authorization else {}
    try:
        response = httpx.post(endpoint, json={"query": document, "variables": variables},
                              headers=headers, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach billgate at {endpoint}: {exc} (is it "
                                   "running? --url or BILLGATE_PUBLIC_URL says where)") from None
    try:
        body = response.json()
    except ValueError:
        raise click.ClickException(f"{endpoint} answered HTTP {response.status_code}, not "
                                   f"GraphQL: {response.text[:200]}") from None
    click.echo(json.dumps(body, indent=2, ensure_ascii=False))
    return bool(body.get("errors"))


def _follow(endpoint: str, document: str, variables: dict[str, Any], authorization: str | None,
            count: int | None) -> bool:
    from websockets.exceptions import ConnectionClosed, WebSocketException
    from websockets.sync.client import connect

    ws_url = "ws" + endpoint.removeprefix("http")
    received = 0
    try:
        with connect(ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                     open_timeout=TIMEOUT) as ws:
            init = {"Authorization": authorization} if authorization else {}
            ws.send(json.dumps({"type": "connection_init", "payload": init}))
            ws.send(json.dumps({"id": "1", "type": "subscribe",
                                "payload": {"query": document, "variables": variables}}))
            while count is None or received < count:
                message = json.loads(ws.recv())
                if message["type"] == "ping":
                    ws.send(json.dumps({"type": "pong"}))
                elif message["type"] == "next":
                    click.echo(json.dumps(message["payload"], ensure_ascii=False))
                    received += 1
                    if message["payload"].get("errors"):
                        return True
                elif message["type"] == "error":
                    click.echo(json.dumps({"errors": message["payload"]}, ensure_ascii=False))
                    return True
                elif message["type"] == "complete":
                    return False
    except KeyboardInterrupt:
        return False
    except ConnectionClosed as exc:
        reason = f" ({exc.rcvd.code} {exc.rcvd.reason})" if exc.rcvd else ""
        raise click.ClickException(f"billgate closed the connection{reason}") from None
    except (OSError, WebSocketException) as exc:
        raise click.ClickException(f"cannot reach billgate at {ws_url}: {exc}") from None
    return False
