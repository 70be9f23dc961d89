"""``mestwin bench poll`` end to end: a small bounded run in a subprocess prints one JSON report."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.processes import ROOT

KEYS = {
    "machines",
    "interval_s",
    "mode",
    "polls_per_s",
    "observations_per_s",
    "lag_p50_ms",
    "lag_p99_ms",
    "lost_observations",
    "cpu_pct",
    "rss_mb",
    "startup_s",
    "cpu_us_per_poll",
    "cpu_us_per_observation",
    "agents_cpu_pct",
}


def _bench(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "scenarios", "bench", "poll", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 1, reason="needs a CPU")
@pytest.mark.parametrize(("mode", "writer"), [("poll", "thread"), ("stream", "thread"), ("poll", "process")])
def test_bench_prints_one_json_report(mode: str, writer: str) -> None:
    result = _bench(
        "--machines", "20", "--interval", "0.2", "--duration", "2", "--mode", mode, "--writer", writer
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report.keys() >= KEYS | {"baseline", "ratio"}
    assert report["baseline"].keys() >= KEYS
    assert report["ratio"].keys() >= {"polls_per_s", "cpu_pct", "cpu_per_poll", "cpu_per_observation"}
    assert report["machines"] == 20
    assert report["mode"] == mode
    assert report["writer"] == writer
    assert (report["writer_cpu_pct"] is None) == (writer == "thread")
    assert report["polls_per_s"] > 0
    assert report["baseline"]["polls_per_s"] > 0
    assert report["lost_observations"] == 0
    assert report["baseline"]["lost_observations"] == 0


@pytest.mark.parametrize(
    "args",
    [
        ("--machines", "0"),
        ("--machines", "5", "--duration", "-1"),
        ("--machines", "5", "--interval", "-0.5"),
        ("--machines", "5", "--mode", "carrier-pigeon"),
        ("--machines", "5", "--writer", "telegraph"),
    ],
)
def test_bench_refuses_bad_input(args: tuple[str, ...]) -> None:
    result = _bench(*args, timeout=60.0)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
