"""The ``mestwin`` command line: bad input is one line naming file, field and reason, exit 2, never a
traceback; ``twin`` writes truth.json in report.json's shape; ``validate`` checks files without running them.

The exit-code and no-traceback rules are pinned on the real CLI in a subprocess (``python -m scenarios``);
the long table of broken scenarios goes through typer's CliRunner, which runs the same app in process.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scenarios.cli import app
from tests.scenarios.conftest import (
    BAD_CASE_IDS,
    BAD_CASES,
    EXAMPLE_MESSAGE,
    THIRD_MACHINE_VF3,
    TINY,
    BadCase,
    run_mestwin,
    tiny,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios").glob("*.toml"))
HAAS_ONE_SHIFT = ROOT / "scenarios" / "haas_one_shift.toml"

Mestwin = Callable[..., subprocess.CompletedProcess[str]]
WriteScenario = Callable[..., Path]

KPI_FLOAT_OR_NULL = ("availability", "performance", "quality", "oee")
KPI_FLOAT = ("planned_s", "run_s", "downtime_s")
KPI_INT = ("total_parts", "good_parts", "alarms")
UTC_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def _assert_bad_input(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit 2, nothing on stdout, and stderr exactly one line holding every fragment; return that line."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


# --- bad input on the real CLI --------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "twin"])
def test_issue_example_is_one_line_and_exit_2(
    command: str, mestwin: Mestwin, write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """A third machine with model haas_vf3 gets the issue's line, naming the file, on both commands."""
    path = write_scenario(tiny(append=THIRD_MACHINE_VF3))
    extra = ["--out", str(tmp_path / "out"), "-q"] if command == "twin" else []
    line = _assert_bad_input(mestwin(command, path, *extra), str(path), EXAMPLE_MESSAGE)
    assert line == f"mestwin: {path}: {EXAMPLE_MESSAGE}"
    assert not (tmp_path / "out" / "truth.json").exists()


def test_missing_file_is_one_line_and_exit_2(mestwin: Mestwin, tmp_path: Path) -> None:
    path = tmp_path / "no_such.toml"
    _assert_bad_input(mestwin("twin", path, "--out", tmp_path / "out"), str(path), "no such scenario file")


def test_directory_is_one_line_and_exit_2(mestwin: Mestwin, tmp_path: Path) -> None:
    _assert_bad_input(mestwin("validate", tmp_path), str(tmp_path), "is a directory")


def test_invalid_toml_is_one_line_naming_the_line_and_exit_2(
    mestwin: Mestwin, write_scenario: WriteScenario
) -> None:
    path = write_scenario(tiny(("seed = 1", "seed = ")))
    _assert_bad_input(mestwin("validate", path), str(path), "invalid TOML", "line 6")


def test_build_step_errors_are_one_line_and_exit_2_from_twin(
    mestwin: Mestwin, write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """Overlapping shifts are found when the twin is built, not by the model: still bad input, not a crash."""
    path = write_scenario(tiny(append='\n[[shifts]]\nname = "Late"\nstart = "13:00"\nend = "22:00"\n'))
    result = mestwin("twin", path, "--out", tmp_path / "out", "-q")
    _assert_bad_input(result, str(path), "shifts: ", "'Late' overlaps shift 'Early'")


def test_unusable_output_folder_is_one_line_and_exit_2(
    mestwin: Mestwin, write_scenario: WriteScenario, tmp_path: Path
) -> None:
    path = write_scenario(TINY)
    blocker = tmp_path / "a_file"
    blocker.write_text("", encoding="utf-8")
    _assert_bad_input(mestwin("twin", path, "--out", blocker, "-q"), str(blocker), "output folder")


@pytest.mark.parametrize("bad_case", BAD_CASES, ids=BAD_CASE_IDS)
def test_every_bad_scenario_fails_validate_with_exit_2_and_one_line(
    bad_case: BadCase, write_scenario: WriteScenario
) -> None:
    path = write_scenario(bad_case.text)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"mestwin: {path}: ")
    assert bad_case.field in lines[0]
    assert bad_case.reason in lines[0]


# --- mestwin validate -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_validate_passes_every_shipped_scenario(path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: ok\n"


def test_validate_all_shipped_scenarios_at_once_on_the_real_cli(mestwin: Mestwin) -> None:
    result = mestwin("validate", *SHIPPED)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{path}: ok" for path in SHIPPED]


def test_validate_fails_with_exit_2_on_a_bad_file_among_good_ones(
    mestwin: Mestwin, write_scenario: WriteScenario
) -> None:
    bad = write_scenario(tiny(append=THIRD_MACHINE_VF3))
    result = mestwin("validate", HAAS_ONE_SHIFT, bad)
    assert result.returncode == 2
    assert result.stdout == f"{HAAS_ONE_SHIFT}: ok\n"
    assert result.stderr.splitlines() == [f"mestwin: {bad}: {EXAMPLE_MESSAGE}"]


# --- mestwin twin ---------------------------------------------------------------------------------------


def _assert_kpis(k: dict[str, Any]) -> None:
    for key in KPI_FLOAT_OR_NULL:
        assert k[key] is None or type(k[key]) is float, (key, k[key])
    for key in KPI_FLOAT:
        # JSON does not tell 3.0 from 3: any number but a bool is a float here.
        assert type(k[key]) in (float, int), (key, k[key])
    for key in KPI_INT:
        assert type(k[key]) is int, (key, k[key])


@pytest.fixture(scope="module")
def haas_one_shift_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The out folder of ``mestwin twin scenarios/haas_one_shift.toml --observations -q`` (run once)."""
    out = tmp_path_factory.mktemp("haas_one_shift")
    done = run_mestwin("twin", HAAS_ONE_SHIFT, "--out", out, "--observations", "-q")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return out


def test_twin_writes_truth_json_in_report_shape_without_pass_and_mes(haas_one_shift_run: Path) -> None:
    """truth.json is DESIGN.md's report.json with only ``truth`` per result: no ``pass``, ``mes``, ``ok``."""
    truth = json.loads((haas_one_shift_run / "truth.json").read_text(encoding="utf-8"))
    assert {"scenario", "seed", "period", "wall_seconds", "results"} <= truth.keys()
    assert "pass" not in truth
    assert truth["scenario"] == "haas-one-shift"
    assert truth["seed"] == 7
    # 06:00 to 14:00 in Berlin (CET, UTC+1) on 2026-03-02.
    assert datetime.fromisoformat(truth["period"]["from"]) == datetime.fromisoformat("2026-03-02T05:00:00Z")
    assert datetime.fromisoformat(truth["period"]["to"]) == datetime.fromisoformat("2026-03-02T13:00:00Z")
    assert all(UTC_Z.match(truth["period"][key]) for key in ("from", "to"))
    assert isinstance(truth["wall_seconds"], float | int)
    assert truth["wall_seconds"] >= 0
    results = truth["results"]
    assert results
    for row in results:
        assert {"machine_id", "shift", "business_date", "truth"} <= row.keys()
        assert "mes" not in row
        assert "ok" not in row
        assert row["machine_id"] == "HAAS-VF2-001"
        assert row["shift"] is None or isinstance(row["shift"], str)
        assert row["business_date"] is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["business_date"])
        _assert_kpis(row["truth"])
    shifts = {(row["shift"], row["business_date"]) for row in results}
    assert (None, None) in shifts, "the machine's whole period (shift null)"
    assert ("First Shift", "2026-03-02") in shifts


def test_twin_observations_are_json_lines_with_utc_time_machine_signal_value(
    haas_one_shift_run: Path,
) -> None:
    lines = (haas_one_shift_run / "observations.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines
    for line in lines:
        observation = json.loads(line)
        assert {"time", "machine", "signal", "value"} <= observation.keys()
        assert UTC_Z.match(observation["time"]), observation
        assert "2026-03-02T05:00:00Z" <= observation["time"][:19] + "Z" <= "2026-03-02T13:00:00Z"
        assert observation["machine"] == "HAAS-VF2-001"
        assert isinstance(observation["signal"], str)
        assert observation["signal"]


def test_twin_without_observations_writes_only_truth(write_scenario: WriteScenario, tmp_path: Path) -> None:
    path = write_scenario(tiny(('duration = "8h"', 'duration = "1h"')))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["twin", str(path), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["truth.json"]
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    assert {row["machine_id"] for row in truth["results"]} == {"MILL-1", "LATHE-1"}
