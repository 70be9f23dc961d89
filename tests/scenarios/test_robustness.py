"""Inputs that once gave tracebacks or hangs now give one line naming the field, and exit 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from scenarios.build import plant_config
from scenarios.loader import ScenarioError, load_scenario
from tests.scenarios.conftest import run_mestwin, tiny


@pytest.mark.parametrize(
    ("append", "field"),
    [
        (
            '[[machines.reliability]]\ncategory = "spindle"\nmtbf_hours = inf\nmttr_minutes = 5\n',
            "mtbf_hours",
        ),
        (
            '[[machines.reliability]]\ncategory = "spindle"\nmtbf_hours = 1\nmttr_minutes = nan\n',
            "mttr_minutes",
        ),
    ],
)
def test_infinite_or_nan_numbers_are_refused(
    write_scenario: Callable[[str], Path], append: str, field: str
) -> None:
    path = write_scenario(tiny(append=append))
    with pytest.raises(ScenarioError, match=field):
        load_scenario(path)


def test_a_sampling_interval_too_small_to_simulate_is_refused(write_scenario: Callable[[str], Path]) -> None:
    path = write_scenario(tiny(('name = "Lathe 1"', 'name = "Lathe 1"\nsample_interval_s = 1e-300')))
    with pytest.raises(ScenarioError, match=r"machines\[1\]\.sample_interval_s"):
        load_scenario(path)


def test_a_start_out_of_range_is_one_line_not_a_traceback(write_scenario: Callable[[str], Path]) -> None:
    path = write_scenario(tiny(('start = "2026-03-02T06:00:00"', 'start = "0001-01-01T00:00:00"')))
    result = run_mestwin("twin", path, "--out", path.parent / "out", "-q")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "out of the supported range" in result.stderr


def test_an_output_file_that_is_a_directory_is_one_line(
    tmp_path: Path, write_scenario: Callable[[str], Path]
) -> None:
    path = write_scenario(tiny())
    out = tmp_path / "out"
    (out / "truth.json").mkdir(parents=True)
    result = run_mestwin("twin", path, "--out", out, "-q")
    assert result.returncode == 2
    assert "truth.json: cannot be written" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_estop_outside_the_shifts_is_refused_with_its_index(write_scenario: Callable[[str], Path]) -> None:
    evening = '\n[[events]]\nat = "2026-03-02T13:59:00"\nmachine = "MILL-1"\nkind = "estop"\n'
    assert plant_config(load_scenario(write_scenario(tiny(append=evening))))
    late = '\n[[events]]\nat = "2026-03-02T13:00:00"\nmachine = "MILL-1"\nkind = "estop"\n'
    late = late.replace("13:00", "14:00").replace('duration = "8h"', "")
    path = write_scenario(tiny(('duration = "8h"', 'duration = "9h"'), append=late))
    with pytest.raises(ScenarioError, match=r"events\[0\]\.at: .* falls outside the shifts"):
        plant_config(load_scenario(path), str(path))


@pytest.mark.parametrize(
    "args",
    [
        ("twin",),
        ("twin", "--bogus", "x.toml"),
        ("agent", "--port", "abc", "--devices", "x.xml"),
        ("nosuchcommand",),
    ],
)
def test_a_usage_mistake_is_one_line_and_exit_2(args: tuple[str, ...]) -> None:
    result = run_mestwin(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mestwin: ")
    assert "Traceback" not in result.stderr
