"""Twin speed: the 100-machine, 8-hour scenario in virtual time against a bare SimPy timeout loop.

Run with ``.venv/bin/pytest benchmarks/test_twin_speed.py --benchmark-only -s``. It prints, and stores in
``extra_info``: twin seconds per wall second (x real time), SimPy events per second for the twin and for the
bare loop measured in the same run, their ratio, observations per second, and the CLI's peak memory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import simpy

from scenarios import load_scenario, plant_config
from twin.observations import CountingSink
from twin.plant import Plant

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "plant_100.toml"
RESULTS: dict[str, float] = {}


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes (used once, untimed)."""

    def __init__(self) -> None:
        super().__init__()
        self.events = 0

    def step(self) -> None:
        self.events += 1
        super().step()


def _twin(env: simpy.Environment | None = None) -> tuple[Plant, CountingSink]:
    sink = CountingSink()
    plant = Plant(plant_config(load_scenario(SCENARIO)), sink, env=env)
    plant.run(step_s=3600.0)
    return plant, sink


def _bare_loop(processes: int, events_each: int) -> None:
    env = simpy.Environment()

    def tick(env: simpy.Environment) -> Any:
        for _ in range(events_each):
            yield env.timeout(1)

    for _ in range(processes):
        env.process(tick(env))
    env.run()


def test_bare_simpy_timeout_loop(benchmark: Any) -> None:
    processes, each = 100, 10_000
    benchmark.pedantic(_bare_loop, args=(processes, each), rounds=3, iterations=1)
    RESULTS["bare_events_per_s"] = processes * each / benchmark.stats.stats.min
    benchmark.extra_info["events_per_s"] = round(RESULTS["bare_events_per_s"])


def test_twin_100_machines_8_hours(benchmark: Any) -> None:
    counting = CountingEnvironment()
    plant, sink = _twin(counting)
    benchmark.pedantic(_twin, rounds=3, iterations=1)
    wall = benchmark.stats.stats.min
    duration = plant.config.duration_s
    RESULTS.update(
        twin_wall_s=wall,
        real_time_factor=duration / wall,
        twin_events_per_s=counting.events / wall,
        observations_per_s=sink.count / wall,
        observations=sink.count,
    )
    info = benchmark.extra_info
    info["machines"] = len(plant.machines)
    info["twin_seconds"] = duration
    info["real_time_factor"] = round(duration / wall)
    info["simpy_events"] = counting.events
    info["observations"] = sink.count
    info["observations_per_s"] = round(sink.count / wall)


def test_cli_peak_memory_100_machines(benchmark: Any) -> None:
    """Peak resident memory of ``mestwin twin`` on the 100-machine scenario, in a child process."""

    peaks: list[float] = []

    def cli() -> None:
        with tempfile.TemporaryDirectory() as out:
            command = [sys.executable, "-m", "scenarios", "twin", str(SCENARIO), "--out", out, "-q"]
            child = subprocess.Popen(command)
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
            assert child.returncode == 0
            peaks.append(usage.ru_maxrss / 1024)  # this child's own peak, in MB

    benchmark.pedantic(cli, rounds=1, iterations=1)
    RESULTS["cli_wall_s"] = benchmark.stats.stats.min
    RESULTS["cli_peak_rss_mb"] = max(peaks)
    benchmark.extra_info["peak_rss_mb"] = round(RESULTS["cli_peak_rss_mb"])


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest) -> Any:
    yield
    if "twin_events_per_s" not in RESULTS or "bare_events_per_s" not in RESULTS:
        return
    ratio = RESULTS["twin_events_per_s"] / RESULTS["bare_events_per_s"]
    lines = [
        "",
        "twin benchmark (plant_100: 100 machines, 8 h of twin time, observations to a counting sink)",
        f"  twin wall time (best of 3)     {RESULTS['twin_wall_s']:.2f} s",
        f"  speed                          {RESULTS['real_time_factor']:,.0f} x real time",
        f"  observations                   {RESULTS['observations']:,.0f}",
        f"  observations/s                 {RESULTS['observations_per_s']:,.0f}",
        f"  twin SimPy events/s            {RESULTS['twin_events_per_s']:,.0f}",
        f"  bare SimPy timeout loop        {RESULTS['bare_events_per_s']:,.0f} events/s (same run)",
        f"  ratio twin / bare loop         {ratio:.3f}",
    ]
    if "cli_peak_rss_mb" in RESULTS:
        lines.append(
            f"  mestwin twin CLI               {RESULTS['cli_wall_s']:.2f} s wall, "
            f"peak RSS {RESULTS['cli_peak_rss_mb']:.0f} MB"
        )
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled():  # type: ignore[union-attr]
        print("\n".join(lines))
