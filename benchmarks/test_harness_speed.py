"""Harness speed: `mestwin run` end to end on the 48-hour, six-machine plant, against the twin alone.

Run with ``.venv/bin/pytest benchmarks/test_harness_speed.py --benchmark-only -s``. The whole CLI runs in a
child process as a user runs it (start-up, agents on loopback, the MES as its own process over SQLite, the
comparison, report and pictures); the baseline, measured in the same run, is the twin alone on the same
scenario with a counting sink. It prints both wall times, their ratio and the observations per wall second.
``MESTWIN_HARNESS_BENCH_SCENARIOS`` names other shipped scenarios to measure (comma-separated stems, e.g.
``plant_48h,plant_100``; empty: none).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from scenarios import load_scenario, plant_config
from twin.observations import CountingSink
from twin.plant import Plant

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = [
    s.strip() for s in os.environ.get("MESTWIN_HARNESS_BENCH_SCENARIOS", "plant_48h").split(",") if s.strip()
]
"""Empty (as in CI, whose regress stage times every scenario end to end already): nothing is measured."""


def _twin_alone(path: Path) -> int:
    sink = CountingSink()
    Plant(plant_config(load_scenario(path)), sink).run(step_s=60.0)
    return sink.count


def _mestwin_run(path: Path, out: Path) -> float:
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "scenarios", "run", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    wall = time.perf_counter() - began
    if done.returncode != 0:
        pytest.fail(
            f"mestwin run {path.name} exited {done.returncode}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return wall


@pytest.mark.parametrize("stem", SCENARIOS)
def test_mestwin_run_end_to_end(benchmark: Any, stem: str) -> None:
    path = ROOT / "scenarios" / f"{stem}.toml"
    began = time.perf_counter()
    observations = _twin_alone(path)
    twin_s = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as tmp:
        benchmark.pedantic(_mestwin_run, args=(path, Path(tmp) / "out"), rounds=1, iterations=1)
        report = json.loads((Path(tmp) / "out" / "report.json").read_text())
    wall = benchmark.stats.stats.min
    info = benchmark.extra_info
    info.update(
        wall_s=round(wall, 1),
        harness_s=report["wall_seconds"],
        twin_alone_s=round(twin_s, 2),
        ratio_to_twin_alone=round(wall / twin_s, 1),
        observations=observations,
        observations_per_wall_s=round(observations / wall),
        passed=report["pass"],
    )
    print(
        f"\nmestwin run {stem}: {wall:.1f} s wall ({report['wall_seconds']:.1f} s inside the harness), "
        f"{observations:,} twin observations ({observations / wall:,.0f} per wall second); the twin alone "
        f"{twin_s:.2f} s in the same run: ratio {wall / twin_s:.1f}; "
        f"verdict {'PASS' if report['pass'] else 'FAIL'}"
    )
    assert report["pass"], f"{stem}: the MES disagreed with the truth"
