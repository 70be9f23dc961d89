"""The ``agent`` and ``adapter`` commands as real processes (``python -m agent_sim``) on loopback.

A standalone agent replaying a real log ends up serving that log's final values; an adapter replaying a real
log feeds a standalone agent over TCP; bad input is one stderr line naming the file, option or value, and
exit 2, never a traceback. Expected values are read from the logs here, independently of the SHDR codec.
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
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from tests.processes import WAIT_S, Running, device_names, free_port, get, port_is_free, run
from tests.processes import started as start_process
from tests.shared_data import shared_dir

ROOT = Path(__file__).resolve().parents[2]
OKUMA_MAZAK_DEVICES = "cppagent-demo_okuma-mazak_2.7.xml"
OKUMA_LOG = "okuma-multus-u3000_imts2022.shdr"
NIST_DEVICES = "nist-smstestbed_8-machines_1.3.xml"
HURCO_LOG = "nist_Hurco01_2017-05-02.shdr"

OKUMA_ITEMS = {
    "pexecution": "Lpexecution",
    "pprogram": "Lpprogram",
    "ppartcount": "Lppartcount",
    "pmode": "Lpmode",
}
"""SHDR key -> data item id of the OKUMA device's first path (EXECUTION, PROGRAM, PART_COUNT, mode)."""
HURCO_ITEMS = {
    "avail": "Hurco01-dtop_1",
    "Program_Name_Running": "Hurco01-path_2",
    "Part_Count": "Hurco01-path_4",
    "Program_Status": "Hurco01-path_5",
}
"""SHDR key -> data item id of Hurco01 in the NIST test bed's device file."""


# ------------------------------------------------------------------------------------------ processes


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m agent_sim ARGS`` to its end (bounded) and return it."""
    return run("agent_sim", *args, timeout=30)


@contextmanager
def started(tmp_path: Path, name: str, *args: str | Path | int) -> Iterator[Running]:
    """Start ``python -m agent_sim ARGS``; kill it on the way out whatever happened."""
    with start_process(tmp_path, name, "agent_sim", *args) as running:
        yield running


# ------------------------------------------------------------------------------------------ HTTP and XML


def observations(streams: etree._Element, device: str) -> list[tuple[str, str, str]]:
    """(data item id, value, timestamp) of every observation of ``device`` in a Streams document, in order."""
    found = []
    for stream in streams.iter("{*}DeviceStream"):
        if stream.get("name") != device:
            continue
        for el in stream.iter():
            if el.get("dataItemId") is not None:
                found.append((el.get("dataItemId"), (el.text or "").strip(), el.get("timestamp")))
    return found


def latest(streams: etree._Element, device: str) -> dict[str, tuple[str, str]]:
    """Data item id -> (value, timestamp) of ``device`` in a /current document."""
    return {item: (value, stamp) for item, value, stamp in observations(streams, device)}


def wait_until(check: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.1)


# ------------------------------------------------------------------------------------------ the logs


def logged_values(log: Path, keys: set[str]) -> dict[str, list[tuple[str, str]]]:
    """SHDR key -> every (timestamp, upcased value) the log gives it, in file order.

    Reads data lines as plain ``timestamp|key|value|key|value...``, which is what every line setting the
    event keys asked for is in these logs (conditions and messages, which take more fields, come on lines of
    their own).
    """
    found: dict[str, list[tuple[str, str]]] = {key: [] for key in keys}
    for line in log.read_text(encoding="utf-8").splitlines():
        fields = line.rstrip("\r").split("|")
        for index in range(1, len(fields) - 1, 2):
            if fields[index] in keys:
                found[fields[index]].append((fields[0], fields[index + 1].strip().upper()))
    return found


def instant(stamp: str) -> str:
    """A timestamp cut to microseconds (logs may carry 7 digits; agents write 6)."""
    return re.sub(r"(\.\d{6})\d*Z$", r"\1Z", stamp)


# ------------------------------------------------------------------------------------------ agent --replay


def test_agent_replaying_the_okuma_log_serves_its_final_values(tmp_path: Path) -> None:
    """``agent --replay LOG --device OKUMA --speed 0`` prints its URL, serves /probe with both devices of
    the file, and once the replay is done /current holds the log's last value of each key (upcased)."""
    devices = shared_dir() / "mtconnect" / "devices" / OKUMA_MAZAK_DEVICES
    log = shared_dir() / "mtconnect" / "shdr" / OKUMA_LOG
    expected = {key: values[-1][1] for key, values in logged_values(log, set(OKUMA_ITEMS)).items()}
    assert all(expected.values()), expected
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    replaying = ("--replay", log, "--device", "OKUMA", "--speed", "0")
    with started(tmp_path, "agent", "agent", "--devices", devices, *replaying, "--port", port) as agent:
        agent.wait_for(f"{base}/probe")
        probe = get(f"{base}/probe")
        assert probe.status == 200
        assert probe.content_type.startswith("application/xml")
        assert {"OKUMA", "Mazak"} <= device_names(probe.xml())

        agent.wait_for("replayed")
        current = latest(get(f"{base}/current").xml(), "OKUMA")
        for key, item in OKUMA_ITEMS.items():
            assert current[item][0] == expected[key], key
        assert agent.interrupt() == 0
        assert "Traceback" not in agent.errors()
    assert port_is_free(port)


# ------------------------------------------------------------------------------------------ adapter -> agent


def test_adapter_replaying_the_hurco_log_feeds_an_agent_over_tcp(tmp_path: Path) -> None:
    """``adapter --replay LOG --speed 0`` and ``agent --adapter Hurco01@127.0.0.1:A``: the agent's /current
    ends on the log's final values and timestamps (all UNAVAILABLE), and its /sample holds every part count
    the log gave before the end, in order."""
    devices = shared_dir() / "mtconnect" / "devices" / NIST_DEVICES
    log = shared_dir() / "mtconnect" / "shdr" / HURCO_LOG
    logged = logged_values(log, set(HURCO_ITEMS))
    final = {key: values[-1] for key, values in logged.items()}
    counts = [value for _, value in logged["Part_Count"] if value != "UNAVAILABLE"]
    assert counts, "the Hurco log should count parts before it ends"
    adapter_port, port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    part_count = HURCO_ITEMS["Part_Count"]
    with started(
        tmp_path, "adapter", "adapter", "--replay", log, "--port", adapter_port, "--speed", "0"
    ) as adapter:
        adapter.wait_for(f"shdr://127.0.0.1:{adapter_port}")
        feed = ("--adapter", f"Hurco01@127.0.0.1:{adapter_port}")
        with started(tmp_path, "agent", "agent", "--devices", devices, *feed, "--port", port) as agent:
            agent.wait_for(f"{base}/probe")
            adapter.wait_for("replayed")

            def at_the_end() -> bool:
                current = latest(get(f"{base}/Hurco01/current").xml(), "Hurco01")
                return instant(current[part_count][1]) == instant(final["Part_Count"][0])

            wait_until(at_the_end, "the agent reaching the log's last Part_Count")
            current = latest(get(f"{base}/Hurco01/current").xml(), "Hurco01")
            for key, item in HURCO_ITEMS.items():
                stamp, value = final[key]
                assert current[item] == (value, instant(stamp)), key

            query = urllib.parse.urlencode(
                {"from": "1", "count": "100000", "path": '//DataItem[@type="PART_COUNT"]'}
            )
            sample = get(f"{base}/Hurco01/sample?{query}")
            assert sample.status == 200
            seen = [value for item, value, _ in observations(sample.xml(), "Hurco01") if item == part_count]
            assert [value for value in seen if value != "UNAVAILABLE"] == counts
            assert seen[-1] == "UNAVAILABLE"
            assert agent.interrupt() == 0
        assert adapter.interrupt() == 0
        assert "Traceback" not in agent.errors() + adapter.errors()
    assert port_is_free(port)
    assert port_is_free(adapter_port)


# ------------------------------------------------------------------------------------------ bad input

TINY_DEVICES = """\
<?xml version="1.0" encoding="UTF-8"?>
<MTConnectDevices xmlns="urn:mtconnect.org:MTConnectDevices:2.0">
  <Devices>
    <Device id="m1" name="M1" uuid="m1-uuid">
      <DataItems>
        <DataItem id="m1_avail" name="avail" type="AVAILABILITY" category="EVENT"/>
      </DataItems>
    </Device>
  </Devices>
</MTConnectDevices>
"""
TINY_LOG = "2024-01-02T03:04:05.000000Z|avail|AVAILABLE\n"


@dataclass(frozen=True)
class BadInput:
    """Arguments that are bad input, and the fragments the one stderr line must hold."""

    rule: str
    args: tuple[str, ...]
    fragments: tuple[str, ...]


BAD_INPUTS = (
    BadInput(
        "missing_devices_file",
        ("agent", "--devices", "{tmp}/nope.xml", "--replay", "{log}"),
        ("{tmp}/nope.xml", "no such devices file"),
    ),
    BadInput(
        "devices_file_not_xml",
        ("agent", "--devices", "{tmp}/not.xml", "--replay", "{log}"),
        ("{tmp}/not.xml", "not well-formed XML"),
    ),
    BadInput(
        "devices_file_without_a_device",
        ("agent", "--devices", "{tmp}/empty_devices.xml", "--replay", "{log}"),
        ("{tmp}/empty_devices.xml",),
    ),
    BadInput(
        "devices_file_is_a_directory",
        ("agent", "--devices", "{tmp}", "--replay", "{log}"),
        ("{tmp}",),
    ),
    BadInput(
        "missing_shdr_log",
        ("agent", "--devices", "{devices}", "--replay", "{tmp}/nope.shdr"),
        ("{tmp}/nope.shdr", "no such SHDR log"),
    ),
    BadInput(
        "empty_shdr_log",
        ("agent", "--devices", "{devices}", "--replay", "{tmp}/empty.shdr"),
        ("{tmp}/empty.shdr", "empty"),
    ),
    BadInput(
        "adapter_not_host_port",
        ("agent", "--devices", "{devices}", "--adapter", "nonsense"),
        ("--adapter", "nonsense"),
    ),
    BadInput(
        "adapter_port_out_of_range",
        ("agent", "--devices", "{devices}", "--adapter", "127.0.0.1:70000"),
        ("--adapter", "127.0.0.1:70000"),
    ),
    BadInput(
        "adapter_for_an_unknown_device",
        ("agent", "--devices", "{devices}", "--adapter", "NOPE@127.0.0.1:7878"),
        ("--adapter", "NOPE"),
    ),
    BadInput(
        "replay_into_an_unknown_device",
        ("agent", "--devices", "{devices}", "--replay", "{log}", "--device", "NOPE"),
        ("--device", "'NOPE'", "{devices}"),
    ),
    BadInput(
        "both_adapter_and_replay",
        ("agent", "--devices", "{devices}", "--replay", "{log}", "--adapter", "127.0.0.1:7878"),
        ("--adapter", "--replay"),
    ),
    BadInput("neither_adapter_nor_replay", ("agent", "--devices", "{devices}"), ("--adapter", "--replay")),
    BadInput(
        "unknown_schema_version",
        ("agent", "--devices", "{devices}", "--replay", "{log}", "--schema-version", "9.9"),
        ("--schema-version", "'9.9'", "2.7"),
    ),
    BadInput(
        "agent_port_in_use",
        ("agent", "--devices", "{devices}", "--replay", "{log}", "--port", "{busy}"),
        ("127.0.0.1:{busy}",),
    ),
    BadInput(
        "agent_port_out_of_range",
        ("agent", "--devices", "{devices}", "--replay", "{log}", "--port", "70000"),
        ("--port", "70000"),
    ),
    BadInput("adapter_missing_log", ("adapter", "--replay", "{tmp}/nope.shdr"), ("{tmp}/nope.shdr",)),
    BadInput("adapter_empty_log", ("adapter", "--replay", "{tmp}/empty.shdr"), ("{tmp}/empty.shdr", "empty")),
    BadInput("adapter_port_in_use", ("adapter", "--replay", "{log}", "--port", "{busy}"), ("{busy}",)),
    BadInput(
        "adapter_port_out_of_range", ("adapter", "--replay", "{log}", "--port", "70000"), ("--port", "70000")
    ),
    BadInput("adapter_negative_speed", ("adapter", "--replay", "{log}", "--speed", "-1"), ("--speed", "-1")),
)


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.rule for case in BAD_INPUTS])
def test_bad_input_is_one_line_and_exit_2(case: BadInput, tmp_path: Path) -> None:
    """Each bad input exits 2 with one stderr line naming the file, option or value; no traceback."""
    (tmp_path / "devices.xml").write_text(TINY_DEVICES, encoding="utf-8")
    (tmp_path / "not.xml").write_text("this is not <xml", encoding="utf-8")
    (tmp_path / "empty_devices.xml").write_text("<MTConnectDevices/>", encoding="utf-8")
    (tmp_path / "tiny.shdr").write_text(TINY_LOG, encoding="utf-8")
    (tmp_path / "empty.shdr").write_text("\n\n", encoding="utf-8")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        names = {
            "tmp": str(tmp_path),
            "devices": str(tmp_path / "devices.xml"),
            "log": str(tmp_path / "tiny.shdr"),
            "busy": str(busy.getsockname()[1]),
        }
        args = [arg.format(**names) for arg in case.args]
        if case.args[0] == "agent" and "--port" not in case.args:
            args += ["--port", str(free_port())]
        result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in case.fragments:
        assert fragment.format(**names) in lines[0]
