"""Determinism: the same scenario and seed give byte-identical observations and truth, pinned by golden files.

A deliberate change in the twin's behaviour shows up here as a golden diff to review. Regenerate with
``MESTWIN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/twin/test_determinism.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from scenarios import load_scenario, plant_config
from scenarios.report import kpi_dict
from twin.observations import JsonLinesSink, Observation
from twin.plant import Plant

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "twin"
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))


class DigestSink:
    """Hashes every observation as a line of its fields' reprs: the whole stream pinned, without the cost of
    writing millions of JSON lines (the JSON form has tests of its own, in test_observations.py)."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._lines: list[str] = []
        self.count = 0

    def emit(self, observation: Observation) -> None:
        time, machine, signal, value = observation
        self._lines.append(f"{time!r}\t{machine}\t{signal}\t{value!r}\n")
        if len(self._lines) >= 10_000:
            self._drain()

    def _drain(self) -> None:
        self.count += len(self._lines)
        self._digest.update("".join(self._lines).encode())
        self._lines.clear()

    def hexdigest(self) -> str:
        self._drain()
        return self._digest.hexdigest()


def run(path: Path) -> tuple[bytes, dict[str, Any]]:
    scenario = load_scenario(path)
    stream = io.StringIO()
    plant = Plant(plant_config(scenario, str(path)), JsonLinesSink(stream))
    plant.run()
    return stream.getvalue().encode(), _truth(scenario, plant)


def _truth(scenario: Any, plant: Plant) -> dict[str, Any]:
    return {
        "scenario": scenario.scenario.name,
        "seed": scenario.scenario.seed,
        "results": [
            {
                "machine_id": r.machine_id,
                "shift": r.shift,
                "business_date": r.business_date.isoformat() if r.business_date else None,
                "truth": {k: round(v, 9) if isinstance(v, float) else v for k, v in kpi_dict(r.kpis).items()},
            }
            for r in plant.truth()
        ],
    }


def test_same_scenario_and_seed_give_byte_identical_observations_and_truth() -> None:
    path = ROOT / "scenarios" / "alarm_storm.toml"
    first_obs, first_truth = run(path)
    second_obs, second_truth = run(path)
    assert first_obs == second_obs
    assert first_truth == second_truth


def test_another_seed_gives_other_observations() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "haas_one_shift.toml")
    config = plant_config(scenario)
    outputs = []
    for seed in (1, 2):
        stream = io.StringIO()
        Plant(replace(config, seed=seed), JsonLinesSink(stream)).run()
        outputs.append(stream.getvalue())
    assert outputs[0] != outputs[1]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.stem == "plant_100" else [])
        for p in SCENARIOS
    ],
)
def test_twin_matches_its_golden_file(path: Path) -> None:
    scenario = load_scenario(path)
    sink = DigestSink()
    plant = Plant(plant_config(scenario, str(path)), sink)
    plant.run()
    digest = sink.hexdigest()
    actual = {"observation_count": sink.count, "observations_sha256": digest, **_truth(scenario, plant)}
    golden = GOLDEN / f"{path.stem}.json"
    if os.environ.get("MESTWIN_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(actual, indent=1) + "\n", encoding="utf-8")
    assert golden.exists(), f"no golden file {golden.name}; create it with MESTWIN_UPDATE_GOLDEN=1"
    expected = json.loads(golden.read_text(encoding="utf-8"))
    assert actual["results"] == expected["results"], "the twin's truth changed: review, then regenerate"
    assert actual["observation_count"] == expected["observation_count"]
    assert actual["observations_sha256"] == expected["observations_sha256"]
