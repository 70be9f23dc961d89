"""The exported JSON Schema of scenario files: ``mestwin schema`` prints the model's schema, the committed
``scenarios/schema.json`` is that schema, and every shipped scenario satisfies it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scenarios.cli import app
from scenarios.model import Scenario

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "scenarios" / "schema.json"
SHIPPED = sorted((ROOT / "scenarios").glob("*.toml"))
REGENERATE = "mestwin schema > scenarios/schema.json"


def _expected_text() -> str:
    return json.dumps(Scenario.model_json_schema(), indent=2) + "\n"


def test_schema_command_prints_the_models_json_schema() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == Scenario.model_json_schema()
    assert result.stdout == _expected_text()


def test_committed_schema_file_is_the_models_current_schema() -> None:
    """Changing the model without regenerating scenarios/schema.json fails here, saying how to regenerate."""
    assert SCHEMA_FILE.is_file(), f"scenarios/schema.json is missing; generate it with `{REGENERATE}`"
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert json.loads(committed) == Scenario.model_json_schema(), (
        f"scenarios/schema.json is out of date with scenarios/model.py; regenerate it with `{REGENERATE}`"
    )
    assert committed == _expected_text(), (
        f"scenarios/schema.json is not formatted as `mestwin schema` prints it; regenerate: `{REGENERATE}`"
    )


def _as_json(value: Any) -> Any:
    """TOML data as JSON would carry it: dates and times become ISO 8601 strings."""
    return json.loads(json.dumps(value, default=lambda v: v.isoformat()))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_scenario_satisfies_the_committed_schema(path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed (not a dependency)")
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    data = _as_json(tomllib.loads(path.read_text(encoding="utf-8")))
    jsonschema.validate(data, schema)
