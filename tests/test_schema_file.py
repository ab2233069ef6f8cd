"""The committed ``schema.graphql`` is what the code serves."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from billgate.cli import main
from billgate.graphql.schema import build_schema

SCHEMA_FILE = Path(__file__).parents[1] / "schema.graphql"


class TestSchemaFile:
    def test_export_schema_prints_the_schema_of_the_code(self) -> None:
        result = CliRunner().invoke(main, ["export-schema"])
        assert result.exit_code == 0, result.output
        assert result.stdout == build_schema().as_str() + "\n"

    def test_the_committed_file_matches_the_code(self) -> None:
        exported = CliRunner().invoke(main, ["export-schema"]).stdout
        assert SCHEMA_FILE.read_text(encoding="utf-8") == exported, (
            "schema.graphql differs from the schema in the code: run `make schema` and commit it"
        )

    def test_the_public_contract_names_are_in_the_file(self) -> None:
        text = SCHEMA_FILE.read_text(encoding="utf-8")
        for name in (
            "interface Node",
            "type PageInfo",
            "type ProductConnection",
            "enum ErrorCode",
            "type UserError",
            "input CustomerRef",
        ):
            assert name in text, name
