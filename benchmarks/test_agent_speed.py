"""Agent speed: one agent process on one core fronting 100 live twin devices, against bare uvicorn ASGI.

Run with ``.venv/bin/pytest benchmarks/test_agent_speed.py --benchmark-only -s``. The server runs pinned to
CPU 0, the load client (keep-alive HTTP/1.1 on asyncio streams, 32 connections) in this process on CPU 1.
Each measurement lasts a few seconds and stops by itself; loopback only.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvloop

from benchmarks.http_load import LoadResult, load

ROOT = Path(__file__).resolve().parents[1]
SECONDS = 5.0
RESULTS: dict[str, LoadResult] = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(mode: str, machines: int = 100) -> Iterator[int]:
    port = _free_port()
    cpus = sorted(os.sched_getaffinity(0))
    command = [sys.executable, "-m", "benchmarks.agent_server", "--mode", mode, "--machines", str(machines)]
    command += ["--port", str(port), "--seconds", "60", "--cpu", str(cpus[0])]
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/probe", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"the {mode} server did not start") from None
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def _client_cpu() -> Iterator[None]:
    saved = os.sched_getaffinity(0)
    cpus = sorted(saved)
    os.sched_setaffinity(0, {cpus[-1]})
    try:
        yield
    finally:
        os.sched_setaffinity(0, saved)


def _run(port: int, paths: Iterator[str]) -> LoadResult:
    with _client_cpu():
        return uvloop.run(load("127.0.0.1", port, paths.__next__, connections=32, seconds=SECONDS))


def _cycle(items: list[str]) -> Iterator[str]:
    while True:
        yield from items


@pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs: one for the server, one for load"
)
def test_bare_uvicorn_asgi_fixed_reply(benchmark: Any) -> None:
    with _server("bare") as port:
        result = benchmark.pedantic(_run, args=(port, _cycle(["/x"])), rounds=1, iterations=1)
    RESULTS["bare"] = result
    benchmark.extra_info["requests_per_s"] = round(result.per_second)


@pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs: one for the server, one for load"
)
def test_agent_sample_deltas_and_current(benchmark: Any) -> None:
    with _server("agent") as port:
        current = urllib.request.urlopen(f"http://127.0.0.1:{port}/current").read().decode()
        nxt = int(re.search(r'nextSequence="(\d+)"', current).group(1))  # type: ignore[union-attr]
        # Deltas as a poller sees them: 10 observations (about 3 KB with these ids) from a recent position.
        samples = [f"/sample?from={s}&count=10" for s in range(max(1, nxt - 3000), nxt - 100, 7)]
        result = benchmark.pedantic(_run, args=(port, _cycle(samples)), rounds=1, iterations=1)
        RESULTS["sample"] = result
        RESULTS["current"] = _run(port, _cycle(["/VF2-001/current"]))
    benchmark.extra_info["sample_per_s"] = round(result.per_second)
    benchmark.extra_info["sample_bytes"] = round(result.bytes / max(1, result.requests))
    benchmark.extra_info["current_per_s"] = round(RESULTS["current"].per_second)


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest) -> Any:
    yield
    if not {"bare", "sample", "current"} <= RESULTS.keys():
        return
    bare = RESULTS["bare"].per_second
    lines = [
        "",
        "agent benchmark (100 live twin devices, one agent process on one core, 32 keep-alive clients)",
    ]
    for name, label in (
        ("bare", "bare uvicorn ASGI, fixed 3 KB reply"),
        ("sample", "/sample?from=&count=10 deltas"),
        ("current", "/VF2-001/current (one device)"),
    ):
        r = RESULTS[name]
        size = r.bytes / max(1, r.requests)
        lines.append(
            f"  {label:38s} {r.per_second:9,.0f} req/s  {size / 1024:5.1f} KB  "
            f"p50 {r.percentile(0.5):5.1f} ms  p99 {r.percentile(0.99):5.1f} ms  "
            f"errors {r.errors}  ratio to bare {r.per_second / bare:.2f}"
        )
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled():  # type: ignore[union-attr]
        print("\n".join(lines))
