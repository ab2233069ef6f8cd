"""The ``billgate`` command line, run as a user would, against a temporary SQLite file."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import jwt
import pytest
import yaml
from click.testing import CliRunner, Result
from jwt.warnings import InsecureKeyLengthWarning

from billgate.cli import main
from billgate.graphql.auth import CallerKind, authenticate

EXAMPLE = Path(__file__).parents[1] / "examples" / "catalog.yaml"
PG_URL = os.environ.get("BILLGATE_TEST_DATABASE_URL", "")
TOKEN_SECRET = "cli-test-customer-token-secret-of-32+-bytes"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "BILLGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'billgate.db'}",
        "BILLGATE_CUSTOMER_TOKEN_SECRET": TOKEN_SECRET,
    }


@pytest.fixture
def billgate(env: dict[str, str]):  # noqa: ANN201 - returns the runner function
    def run(*args: str | Path) -> Result:
        return CliRunner(env=env).invoke(main, [str(a) for a in args])

    return run


@pytest.fixture
def migrated(billgate) -> None:  # noqa: ANN001
    result = billgate("migrate")
    assert result.exit_code == 0, result.output
    assert "migrated from none to " in result.stderr


class TestMigrate:
    def test_it_says_which_database_and_what_it_did(self, billgate, env, tmp_path: Path) -> None:
        from billgate.db.migrate import head_revision

        result = billgate("migrate")
        assert result.exit_code == 0, result.output
        assert result.stderr.strip() == (
            f"database {env['BILLGATE_DATABASE_URL']} ({tmp_path / 'billgate.db'}): "
            f"migrated from none to {head_revision()} (created the file)")

    def test_migrating_twice_is_fine(self, billgate, migrated) -> None:
        result = billgate("migrate")
        assert result.exit_code == 0, result.output
        assert result.stderr.strip().endswith("nothing to do")


class TestOperatorMistakes:
    def test_version(self, billgate) -> None:
        from importlib.metadata import version

        result = billgate("--version")
        assert result.exit_code == 0
        assert result.stdout.strip() == f"billgate, version {version('billgate')}"

    @pytest.mark.parametrize("name, value", [("PORT", "abc"), ("PORT", "70000"),
                                             ("DB_CONNECT_TIMEOUT", "soon"), ("DEBUG", "maybe")])
    def test_a_bad_setting_is_one_line_naming_it(self, env, name: str, value: str) -> None:
        result = CliRunner(env={**env, f"BILLGATE_{name}": value}).invoke(main, ["catalog", "show"])
        assert result.exit_code == 1
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(f"Error: BILLGATE_{name}: ") and repr(value) in line
        assert "Traceback" not in result.output

    def test_a_missing_sqlite_file_is_not_created(self, billgate, tmp_path: Path) -> None:
        result = billgate("catalog", "show")
        assert result.exit_code == 1
        assert f"no database at {tmp_path / 'billgate.db'}" in result.stderr
        assert not (tmp_path / "billgate.db").exists()

    def test_a_database_that_cannot_be_opened_is_one_line(self, env, tmp_path: Path) -> None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'no-such-folder' / 'billgate.db'}"
        result = CliRunner(env={**env, "BILLGATE_DATABASE_URL": url}).invoke(main, ["migrate"])
        assert result.exit_code == 1
        [line] = result.stderr.strip().splitlines()
        assert line == (f"Error: BILLGATE_DATABASE_URL: cannot open {url}: the folder "
                        f"{tmp_path / 'no-such-folder'} does not exist; create it or fix the path")

    @pytest.mark.parametrize("url", ["postgres://u:p@db:5432/billing", "postgresql://u:p@db:5432/billing"])
    def test_postgres_urls_use_asyncpg(self, url: str) -> None:
        from billgate.settings import Settings

        settings = Settings.from_env({"BILLGATE_DATABASE_URL": url})
        assert settings.database_url == "postgresql+asyncpg://u:p@db:5432/billing"

    @pytest.mark.skipif(not PG_URL, reason="needs BILLGATE_TEST_DATABASE_URL")
    @pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
    def test_a_postgres_database_that_does_not_exist(self, env, scheme: str) -> None:
        rest = PG_URL.split("://", 1)[1].rsplit("/", 1)[0]
        url = f"{scheme}://{rest}/billgate_no_such_database"
        result = CliRunner(env={**env, "BILLGATE_DATABASE_URL": url}).invoke(main, ["catalog", "show"])
        assert result.exit_code == 1
        [line] = result.stderr.strip().splitlines()
        assert "postgresql+asyncpg://" in line
        assert 'database "billgate_no_such_database" does not exist' in line


class TestServe:
    def test_the_port_option_reaches_links_and_banner(self, billgate, migrated, monkeypatch) -> None:  # noqa: ANN001
        import uvicorn

        from billgate.ops import logging as billgate_logging
        from billgate.settings import Settings

        seen: dict[str, object] = {}

        def fake_run(app: str, **kwargs: object) -> None:
            seen.update(kwargs, base_url=Settings.from_env().base_url)  # what each worker sees

        monkeypatch.setattr(uvicorn, "run", fake_run)
        monkeypatch.setattr(billgate_logging, "configure", lambda **_: None)
        monkeypatch.setenv("BILLGATE_PORT", "8000")  # restored after the test
        monkeypatch.setenv("BILLGATE_HOST", "127.0.0.1")
        result = billgate("serve", "--port", "18104")
        assert result.exit_code == 0, result.output
        assert seen["port"] == 18104
        assert seen["base_url"] == "http://127.0.0.1:18104"
        assert "GraphQL at http://127.0.0.1:18104/graphql" in result.stderr

    def test_billgate_port_works_too(self, env, migrated, monkeypatch) -> None:  # noqa: ANN001
        import uvicorn

        from billgate.ops import logging as billgate_logging

        seen: dict[str, object] = {}
        monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
        monkeypatch.setattr(billgate_logging, "configure", lambda **_: None)
        result = CliRunner(env={**env, "BILLGATE_PORT": "18105"}).invoke(main, ["serve"])
        assert result.exit_code == 0, result.output
        assert seen["port"] == 18105
        assert "GraphQL at http://127.0.0.1:18105/graphql" in result.stderr


    def test_several_workers_on_the_memory_bus_are_refused_naming_the_bus(self, billgate) -> None:  # noqa: ANN001
        result = billgate("serve", "--workers", "2")
        assert result.exit_code == 1
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("Error: --workers 2: the memory event bus")
        assert "set BILLGATE_EVENT_BUS_URL=redis://" in line

    def test_several_workers_on_a_bus_that_crosses_processes_are_served(
            self, env, migrated, monkeypatch) -> None:  # noqa: ANN001
        import uvicorn

        from billgate.ops import logging as billgate_logging

        seen: dict[str, object] = {}
        monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
        monkeypatch.setattr(billgate_logging, "configure", lambda **_: None)
        result = CliRunner(env={**env, "BILLGATE_EVENT_BUS_URL": "redis://127.0.0.1:6379"}).invoke(
            main, ["serve", "--workers", "2"])
        assert result.exit_code == 0, result.output
        assert seen["workers"] == 2


class TestCatalogApply:
    def test_apply_twice_changes_nothing_the_second_time(self, billgate, migrated) -> None:
        first = billgate("catalog", "apply", EXAMPLE)
        assert first.exit_code == 0, first.output
        assert first.stderr.strip() == "11 created, 0 updated, 0 archived, 0 unchanged"
        assert "created  product pro" in first.stdout

        second = billgate("catalog", "apply", EXAMPLE)
        assert second.exit_code == 0, second.output
        assert second.stderr.strip() == "0 created, 0 updated, 0 archived, 11 unchanged"
        assert second.stdout == ""

    def test_apply_reports_updates_and_archives(self, billgate, migrated, tmp_path: Path) -> None:
        billgate("catalog", "apply", EXAMPLE)
        document = yaml.safe_load(EXAMPLE.read_text())
        document["products"] = [p for p in document["products"] if p["productId"] != "credit-pack"]
        document["products"][0]["displayName"] = "Free forever"
        changed = tmp_path / "changed.yaml"
        changed.write_text(yaml.safe_dump(document))

        result = billgate("catalog", "apply", "--prune", changed)

        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == [
            "updated  product free",
            "archived product credit-pack",
        ]
        assert result.stderr.strip() == "0 created, 1 updated, 1 archived, 9 unchanged"

    def test_without_prune_entries_missing_from_the_file_are_kept(
        self, billgate, migrated, tmp_path: Path
    ) -> None:
        # What `make run` does at every start: a product added since (through the API, or
        # another file) must survive it.
        extra = tmp_path / "extra.yaml"
        extra.write_text(yaml.safe_dump({"products": [
            {"productId": "api-made", "displayName": "Made through the API", "customerType": "USER"}]}))
        assert billgate("catalog", "apply", extra).exit_code == 0

        result = billgate("catalog", "apply", EXAMPLE)

        assert result.exit_code == 0, result.output
        assert "archived" not in result.stdout
        assert result.stderr.strip() == (
            "11 created, 0 updated, 0 archived, 0 unchanged; "
            "1 not in the file, kept (--prune archives them)")
        shown = yaml.safe_load(billgate("catalog", "show").stdout)
        assert "api-made" in [p["productId"] for p in shown["products"]]

    def test_if_new_applies_to_a_new_database_only(self, billgate, migrated, tmp_path: Path) -> None:
        """What `make run` does at every start: the example goes into a new database once;
        an edit made since (here, a renamed product) is never reverted."""
        first = billgate("catalog", "apply", "--if-new", EXAMPLE)
        assert first.exit_code == 0, first.output
        assert first.stderr.strip() == "11 created, 0 updated, 0 archived, 0 unchanged"
        document = yaml.safe_load(EXAMPLE.read_text())
        document["products"][0]["displayName"] = "Free forever"
        edited = tmp_path / "edited.yaml"
        edited.write_text(yaml.safe_dump(document))
        assert billgate("catalog", "apply", edited).exit_code == 0

        again = billgate("catalog", "apply", "--if-new", EXAMPLE)

        assert again.exit_code == 0, again.output
        assert again.stdout == ""
        assert again.stderr.strip() == (
            f"{EXAMPLE} not applied: the database already has a catalog (11 entries, kept as "
            f"they are); `billgate catalog apply {EXAMPLE}` applies it anyway")
        shown = yaml.safe_load(billgate("catalog", "show").stdout)
        names = {p["productId"]: p["displayName"] for p in shown["products"]}
        assert names[document["products"][0]["productId"]] == "Free forever"

    @pytest.mark.parametrize(("name", "text", "where"), [
        ("quote.yaml", 'items:\n  - itemId: credits\n    displayName: "AI credits\n',
         ':4:1: YAML syntax error: found unexpected end of stream (while scanning a quoted scalar at 3:18)'),
        ("indent.yaml", "items:\n  - itemId: credits\n   displayName: x\n",
         ":3:4: YAML syntax error: expected <block end>, but found '<block mapping start>' "
         "(while parsing a block collection at 2:3)"),
        ("comma.json", '{"items": [1,]}', ":1:14: Expecting value"),
    ])
    def test_a_syntax_error_names_file_line_and_column_in_one_line(
        self, billgate, tmp_path: Path, name: str, text: str, where: str
    ) -> None:
        bad = tmp_path / name
        bad.write_text(text)
        result = billgate("catalog", "apply", bad)
        assert result.exit_code == 1
        assert result.stderr.strip().splitlines() == [f"Error: {bad}{where}"]

    def test_a_dry_run_shows_the_diff_and_changes_nothing(
        self, billgate, migrated, tmp_path: Path
    ) -> None:
        billgate("catalog", "apply", EXAMPLE)
        before = billgate("catalog", "show").stdout
        document = yaml.safe_load(EXAMPLE.read_text())
        document["products"] = [p for p in document["products"] if p["productId"] != "credit-pack"]
        document["products"][0]["displayName"] = "Free forever"
        changed = tmp_path / "changed.yaml"
        changed.write_text(yaml.safe_dump(document))

        result = billgate("catalog", "apply", "--dry-run", "--prune", changed)

        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == [
            "updated  product free",
            "           displayName: 'Free' -> 'Free forever'",
            "archived product credit-pack",
        ]
        assert result.stderr.strip() == (
            "dry run, nothing changed: would be 0 created, 1 updated, 1 archived, 9 unchanged")
        assert billgate("catalog", "show").stdout == before

    def test_every_error_in_a_file_is_reported_at_once(
        self, billgate, migrated, tmp_path: Path
    ) -> None:
        document = yaml.safe_load(EXAMPLE.read_text())
        document["products"][1]["prices"][0]["amounts"]["JPY"] = "2900.50"
        document["products"][2]["customerType"] = "ROBOT"
        document["products"][3]["includedItems"] = [{"itemId": "nope", "quantity": 1}]
        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump(document))

        result = billgate("catalog", "apply", bad)

        assert result.exit_code == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 4, lines
        assert lines[0].startswith(
            f"{bad}: product 'pro': prices[0].amounts.JPY: JPY amounts take no decimals")
        assert "customerType: must be one of USER, TEAM, CUSTOM; got 'ROBOT'" in lines[1]
        assert "item 'nope' does not exist" in lines[2]
        assert lines[3] == f"Error: {bad}: 3 errors; nothing was applied"

    def test_an_invalid_file_names_the_product_and_field(
        self, billgate, migrated, tmp_path: Path
    ) -> None:
        document = yaml.safe_load(EXAMPLE.read_text())
        document["products"][1]["prices"][0]["amounts"]["JPY"] = "2900.50"
        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump(document))

        result = billgate("catalog", "apply", bad)

        assert result.exit_code != 0
        assert f"{bad}: product 'pro': prices[0].amounts.JPY: JPY amounts take no decimals" in (
            result.stderr
        )
        assert billgate("catalog", "show").stdout.strip() == (
            "items: []\nproductLines: []\nproducts: []"
        )

    def test_a_file_that_is_not_yaml(self, billgate, migrated, tmp_path: Path) -> None:
        bad = tmp_path / "bad.yaml"
        bad.write_text("products: [unclosed\n")
        result = billgate("catalog", "apply", bad)
        assert result.exit_code != 0
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(f"Error: {bad}:2:1: YAML syntax error: ")

    def test_a_file_that_is_not_utf8(self, billgate, migrated, tmp_path: Path) -> None:
        bad = tmp_path / "latin1.yaml"
        bad.write_bytes("products:\n  - productId: café\n".encode("latin-1"))
        result = billgate("catalog", "apply", bad)
        assert result.exit_code == 1
        assert result.stderr.strip() == f"Error: {bad}: not UTF-8 (byte 28)"

    def test_before_migrating_it_says_to_migrate(self, billgate) -> None:
        for args in (("catalog", "apply", EXAMPLE), ("catalog", "show")):
            result = billgate(*args)
            assert result.exit_code == 1, args
            assert "run `billgate migrate` first" in result.stderr, args

    def test_a_type_change_is_refused(self, billgate, migrated, tmp_path: Path) -> None:
        billgate("catalog", "apply", EXAMPLE)
        document = yaml.safe_load(EXAMPLE.read_text())
        document["items"][0]["customerType"] = "CUSTOM"
        document["products"] = []
        bad = tmp_path / "retype.yaml"
        bad.write_text(yaml.safe_dump(document))

        result = billgate("catalog", "apply", bad)

        assert result.exit_code != 0
        assert "item 'credits': customerType: cannot change from USER to CUSTOM" in result.stderr
        assert "Traceback" not in result.output

    def test_a_missing_file(self, billgate, migrated, tmp_path: Path) -> None:
        result = billgate("catalog", "apply", tmp_path / "nope.yaml")
        assert result.exit_code == 2
        assert "does not exist" in result.stderr


class TestCatalogShow:
    @pytest.mark.parametrize("fmt, suffix", [("yaml", ".yaml"), ("json", ".json")])
    def test_applying_the_shown_catalog_changes_nothing(
        self, billgate, migrated, tmp_path: Path, fmt: str, suffix: str
    ) -> None:
        billgate("catalog", "apply", EXAMPLE)
        shown = billgate("catalog", "show", "--format", fmt)
        assert shown.exit_code == 0, shown.output
        exported = tmp_path / f"shown{suffix}"
        exported.write_text(shown.stdout)

        result = billgate("catalog", "apply", exported)

        assert result.exit_code == 0, result.output
        assert result.stderr.strip() == "0 created, 0 updated, 0 archived, 11 unchanged"

    def test_show_prints_amounts_as_decimal_strings(self, billgate, migrated) -> None:
        billgate("catalog", "apply", EXAMPLE)
        document = json.loads(billgate("catalog", "show", "--format", "json").stdout)
        pro = next(p for p in document["products"] if p["productId"] == "pro")
        assert pro["prices"][0]["amounts"] == {
            "USD": "19.00",
            "EUR": "18.00",
            "GBP": "16.00",
            "JPY": "2900",
            "INR": "1599.00",
        }
        assert [p["productId"] for p in document["products"]] == [
            "credit-pack",
            "enterprise",
            "extra-seats",
            "free",
            "internal-grant",
            "pro",
            "team",
        ]

    def test_the_shown_catalog_rebuilds_an_empty_database(
        self, billgate, migrated, env, tmp_path: Path
    ) -> None:
        billgate("catalog", "apply", EXAMPLE)
        exported = tmp_path / "shown.yaml"
        exported.write_text(billgate("catalog", "show").stdout)

        other = {**env, "BILLGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"}
        runner = CliRunner(env=other)
        assert runner.invoke(main, ["migrate"]).exit_code == 0
        result = runner.invoke(main, ["catalog", "apply", str(exported)])

        assert result.exit_code == 0, result.output
        assert result.stderr.strip() == "11 created, 0 updated, 0 archived, 0 unchanged"
        assert runner.invoke(main, ["catalog", "show"]).stdout == exported.read_text()


class TestToken:
    def test_a_minted_token_authenticates_as_the_user_and_teams(self, billgate) -> None:
        result = billgate("token", "u1", "--team", "t1:admin", "--team", "t2:member", "--ttl", "60")
        assert result.exit_code == 0, result.output

        principal = authenticate(
            f"Bearer {result.stdout.strip()}", secret_keys=(), token_secret=TOKEN_SECRET
        )

        assert principal.kind is CallerKind.CLIENT
        assert principal.user_id == "u1"
        assert principal.teams == {"t1": "admin", "t2": "member"}

    async def test_a_minted_token_is_accepted_by_the_api(self, api, settings, env) -> None:
        runner = CliRunner(
            env={**env, "BILLGATE_CUSTOMER_TOKEN_SECRET": settings.customer_token_secret}
        )
        with warnings.catch_warnings():  # the API fixture's secret is shorter than PyJWT likes
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            token = runner.invoke(main, ["token", "u1", "--team", "t1:member"]).stdout.strip()
            data = await api.as_(f"Bearer {token}").data(
                '{ me { customerId } customer(customer: {type: TEAM, customerId: "t1"}) { type } }'
            )
        assert data == {"me": {"customerId": "u1"}, "customer": {"type": "TEAM"}}

    def test_the_ttl_sets_the_expiry(self, billgate) -> None:
        token = billgate("token", "u1", "--ttl", "90").stdout.strip()
        claims = jwt.decode(token, TOKEN_SECRET, algorithms=["HS256"])
        assert claims["exp"] - claims["iat"] == 90

    def test_a_team_ids_may_contain_colons(self, billgate) -> None:
        token = billgate("token", "u1", "--team", "org:team-1:member").stdout.strip()
        claims = jwt.decode(token, TOKEN_SECRET, algorithms=["HS256"])
        assert claims["teams"] == {"org:team-1": "member"}

    @pytest.mark.parametrize("team", ["t1", "t1:owner", ":admin"])
    def test_a_bad_team_option_is_refused(self, billgate, team: str) -> None:
        result = billgate("token", "u1", "--team", team)
        assert result.exit_code != 0
        assert f"--team {team!r}: expected ID:admin or ID:member" in result.stderr

    def test_without_a_secret_it_says_what_to_set(self, env: dict[str, str]) -> None:
        result = CliRunner(env={**env, "BILLGATE_CUSTOMER_TOKEN_SECRET": ""}).invoke(
            main, ["token", "u1"]
        )
        assert result.exit_code != 0
        assert "set BILLGATE_CUSTOMER_TOKEN_SECRET first" in result.stderr


class TestGql:
    def test_an_unreachable_server_is_one_line(self, billgate) -> None:
        import socket

        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        result = billgate("gql", "--url", f"http://127.0.0.1:{port}/graphql", "{ __typename }")
        assert result.exit_code == 1
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(f"Error: cannot reach billgate at http://127.0.0.1:{port}/graphql: ")

    def test_variables_are_json_or_strings(self) -> None:
        from billgate.cli_gql import _variables

        assert _variables(("n=25", "id=user-123", 'c={"type": "USER"}', "flag=true")) == {
            "n": 25, "id": "user-123", "c": {"type": "USER"}, "flag": True}

    def test_no_document_is_one_line(self, billgate) -> None:
        result = CliRunner(env={}).invoke(main, ["gql"], input="")
        assert result.exit_code == 1
        assert "no GraphQL document" in result.stderr
