"""``mestwin serve``: the twin live behind its agents as a real process (``python -m scenarios``) on loopback.

It prints the agents' URLs (and the SHDR adapters' for ``transport = "shdr"`` agents), the agents answer and
show the twin advancing, Ctrl-C stops it cleanly and frees its ports, and bad input is one stderr line and
exit 2. Shipped scenarios are copied with their ports rewritten to free ones, so tests never collide.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from lxml import etree

from tests.processes import (
    WAIT_S,
    Running,
    device_names,
    free_port,
    free_ports,
    get,
    port_is_free,
    run,
    started,
)
from tests.scenarios.conftest import EXAMPLE_MESSAGE, THIRD_MACHINE_VF3, tiny

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
"""The bound on every wait for the process to print or an agent to show something."""


# ------------------------------------------------------------------------------------------ ports


def scenario_copy(tmp_path: Path, name: str, ports: dict[str, str]) -> Path:
    """Copy shipped scenario ``name`` to ``tmp_path`` with each whole line ``old`` (once) replaced."""
    text = (SCENARIOS / name).read_text(encoding="utf-8")
    for old, new in ports.items():
        text, replaced = re.subn(rf"^{re.escape(old)}$", new, text, flags=re.MULTILINE)
        assert replaced == 1, f"{old!r} is not once in {name}"
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ processes


def run_mestwin(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m scenarios ARGS`` to its end (bounded) and return it."""
    return run("scenarios", *args, timeout=30)


@contextmanager
def serving(tmp_path: Path, *args: str | Path) -> Iterator[Running]:
    """Start ``python -m scenarios serve ARGS``; kill it on the way out whatever happened."""
    with started(tmp_path, "serve", "scenarios", "serve", *args) as running:
        yield running


def assert_stops_cleanly(server: Running, *ports: int) -> None:
    """Ctrl-C ends the process within a few seconds, 0 (or 130, the shell's Ctrl-C code), no traceback, and
    every port it listened on is free again."""
    assert server.interrupt() in (0, 130)
    assert "Traceback" not in server.errors()
    for port in ports:
        assert port_is_free(port), port


# ------------------------------------------------------------------------------------------ HTTP and XML


def next_sequence(streams: etree._Element) -> int:
    header = streams.find(".//{*}Header")
    assert header is not None
    return int(header.get("nextSequence", "0"))


def observed(streams: etree._Element, device: str, *elements: str) -> list[tuple[str, str, str]]:
    """(data item id, value, timestamp) of ``device``'s observations, only ``elements`` (local names) if
    given, in document order."""
    found = []
    for stream in streams.iter("{*}DeviceStream"):
        if stream.get("name") != device:
            continue
        for el in stream.iter():
            if el.get("dataItemId") is None:
                continue
            if elements and etree.QName(el).localname not in elements:
                continue
            found.append((el.get("dataItemId"), (el.text or "").strip(), el.get("timestamp")))
    return found


def wait_until(check: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.2)


# ------------------------------------------------------------------------------------------ serving


def test_serve_haas_one_shift_advances_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """The Haas scenario at 600x: the agent URL is printed, /probe and /current answer, the twin advances
    (nextSequence grows, the mill's execution or part count changes, /sample has the new observations),
    and Ctrl-C ends the process cleanly with its port free."""
    port = free_port()
    scenario = scenario_copy(tmp_path, "haas_one_shift.toml", {"port = 5000": f"port = {port}"})
    base = f"http://127.0.0.1:{port}"
    mill = "HAAS-VF2-001"
    with serving(tmp_path, scenario, "--speed", "600") as server:
        server.wait_for(f"agent agent-bay-a: {base}/probe")
        server.wait_for("Ctrl-C")

        probe = get(f"{base}/probe")
        assert probe.status == 200
        assert probe.content_type.startswith("application/xml")
        assert mill in device_names(probe.xml())

        snapshots: list[etree._Element] = []

        def current() -> etree._Element:
            reply = get(f"{base}/current")
            assert reply.status == 200
            snapshots.append(reply.xml())
            return snapshots[-1]

        def state(streams: etree._Element) -> list[tuple[str, str, str]]:
            return observed(streams, mill, "Execution", "PartCount")

        def twin_has_started() -> bool:
            # Until the twin's first step the agent holds only its own UNAVAILABLE values.
            return [value for _, value, _ in observed(current(), mill, "Execution")] != ["UNAVAILABLE"]

        wait_until(twin_has_started, "the twin's first state at the agent")
        before, state_before = next_sequence(snapshots[-1]), state(snapshots[-1])
        assert state_before, "the mill's execution and part count should be in /current"
        wait_until(lambda: state(current()) != state_before, "the mill's execution or part count changing")
        assert next_sequence(snapshots[-1]) > before

        query = urllib.parse.urlencode({"from": str(before), "count": "1000"})
        sample = get(f"{base}/{mill}/sample?{query}")
        assert sample.status == 200
        newer = observed(sample.xml(), mill)
        assert newer, "/sample from the first nextSequence should hold the twin's new observations"
        assert max(stamp for _, _, stamp in newer) > max(stamp for _, _, stamp in state_before)

        assert_stops_cleanly(server, port)


def test_serve_with_an_shdr_agent_prints_adapters_and_shows_the_lathes(tmp_path: Path) -> None:
    """plant_48h's lathes reach their agent over SHDR: the adapter URLs are printed, an adapter answers on
    TCP, and the lathes agent's /current shows both DMG lathes AVAILABLE with the twin's timestamps."""
    mills, lathes, ix40 = free_port(), free_port(), free_port()
    shdr = free_ports(2)
    scenario = scenario_copy(
        tmp_path,
        "plant_48h.toml",
        {
            "port = 5000": f"port = {mills}",
            "port = 5001": f"port = {lathes}",
            "shdr_port = 7878": f"shdr_port = {shdr}",
            "port = 9040": f"port = {ix40}",
        },
    )
    lathes_url = f"http://127.0.0.1:{lathes}"
    dmg = ("DMG-NLX-2500-01", "DMG-NLX-2500-02")
    with serving(tmp_path, scenario, "--speed", "60") as server:
        out = server.wait_for("Ctrl-C")
        assert f"agent agent-mills: http://127.0.0.1:{mills}/probe" in out
        assert f"agent agent-lathes: {lathes_url}/probe" in out
        assert f"adapter {dmg[0]}: shdr://127.0.0.1:{shdr}" in out
        assert f"adapter {dmg[1]}: shdr://127.0.0.1:{shdr + 1}" in out

        with socket.create_connection(("127.0.0.1", shdr), timeout=5) as adapter:
            adapter.settimeout(5)
            assert b"|" in adapter.recv(4096), "an SHDR adapter sends its machine's data on connect"

        assert dmg[0] in device_names(get(f"{lathes_url}/probe").xml())

        def available() -> bool:
            current = get(f"{lathes_url}/current").xml()
            return all(
                [value for _, value, _ in observed(current, lathe, "Availability")] == ["AVAILABLE"]
                for lathe in dmg
            )

        wait_until(available, "both DMG lathes AVAILABLE")
        current = get(f"{lathes_url}/current").xml()
        for lathe in dmg:
            # The twin's clock (the scenario starts 2026-03-03 06:00 in Chicago), not the agent's.
            [(_, _, stamp)] = observed(current, lathe, "Availability")
            assert stamp.startswith("2026-03-03T"), stamp

        assert_stops_cleanly(server, mills, lathes, shdr, shdr + 1)


# ------------------------------------------------------------------------------------------ bad input


def _assert_bad_input(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_serve_bad_scenario_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(tiny(append=THIRD_MACHINE_VF3), encoding="utf-8")
    _assert_bad_input(run_mestwin("serve", path), str(path), EXAMPLE_MESSAGE)


def test_serve_missing_scenario_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    _assert_bad_input(run_mestwin("serve", path), str(path), "no such scenario file")


def test_serve_non_positive_speed_is_one_line_and_exit_2() -> None:
    _assert_bad_input(run_mestwin("serve", SCENARIOS / "haas_one_shift.toml", "--speed", "0"), "--speed")


def test_serve_agent_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """An agent port taken by another process is bad input naming the scenario and port, not a crash."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        scenario = scenario_copy(tmp_path, "haas_one_shift.toml", {"port = 5000": f"port = {port}"})
        _assert_bad_input(run_mestwin("serve", scenario), str(scenario), f"127.0.0.1:{port}")


def test_serve_shdr_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """An SHDR adapter port taken by another process is bad input naming the scenario, not a crash."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        shdr = busy.getsockname()[1]
        scenario = scenario_copy(
            tmp_path,
            "plant_48h.toml",
            {
                "port = 5000": f"port = {free_port()}",
                "port = 5001": f"port = {free_port()}",
                "shdr_port = 7878": f"shdr_port = {shdr}",
            },
        )
        _assert_bad_input(run_mestwin("serve", scenario), str(scenario), str(shdr))
