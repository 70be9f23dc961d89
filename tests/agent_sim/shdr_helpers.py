"""Shared pieces of the SHDR tests: a small device model, an adapter and an agent linked over loopback TCP,
bounded waits, and the real recordings with an independent reading of their final values."""

from __future__ import annotations

import asyncio
import string
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from lxml import etree

from agent_sim.adapter import ShdrAdapterServer
from agent_sim.agent import Agent, Request, Response
from agent_sim.buffer import ConditionState, Observation
from agent_sim.connector import ShdrConnector
from agent_sim.devices import DataItem
from agent_sim.ingest import ShdrIngest
from agent_sim.shdr import ShdrDecoder
from tests.shared_data import shared_dir

T = TypeVar("T")

NOW = 1_700_000_000.0
"""The fixed clock of unit-test agents: 2023-11-14T22:13:20Z."""
NOW_ISO = "2023-11-14T22:13:20.000000Z"

DEVICES_XML = """<?xml version="1.0" encoding="UTF-8"?>
<MTConnectDevices xmlns="urn:mtconnect.org:MTConnectDevices:2.7">
  <Header creationTime="2024-01-01T00:00:00Z" sender="test" instanceId="1" version="2.7" bufferSize="4096"/>
  <Devices>
    <Device id="m1" name="M1" uuid="uuid-m1">
      <DataItems>
        <DataItem id="m1_avail" name="avail" type="AVAILABILITY" category="EVENT"/>
      </DataItems>
      <Components>
        <Controller id="ctrl">
          <DataItems>
            <DataItem id="estop" name="estop" type="EMERGENCY_STOP" category="EVENT"/>
            <DataItem id="system" name="system" type="SYSTEM" category="CONDITION"/>
            <DataItem id="msg" name="message" type="MESSAGE" category="EVENT"/>
            <DataItem id="mode" name="controllerMode" type="CONTROLLER_MODE" category="EVENT">
              <Constraints><Value>AUTOMATIC</Value></Constraints>
            </DataItem>
          </DataItems>
          <Components>
            <Path id="path">
              <DataItems>
                <DataItem id="exec" name="execution" type="EXECUTION" category="EVENT"/>
                <DataItem id="shadow" name="exec" type="PROGRAM_COMMENT" category="EVENT"/>
                <DataItem id="fromsource" type="PROGRAM_HEADER" category="EVENT">
                  <Source>execution</Source>
                </DataItem>
                <DataItem id="prog" name="program" type="PROGRAM" category="EVENT"/>
                <DataItem id="block" name="block" type="BLOCK" category="EVENT"/>
                <DataItem id="pcount" name="partcount" type="PART_COUNT" category="EVENT">
                  <ResetTrigger>DAY</ResetTrigger>
                </DataItem>
                <DataItem id="pcount_plain" name="partcount_plain" type="PART_COUNT" category="EVENT"/>
                <DataItem id="partid" name="partid" type="PART_ID" category="EVENT" discrete="true"/>
                <DataItem id="vars" name="vars" type="VARIABLE" category="EVENT" representation="DATA_SET"/>
                <DataItem id="wpo" name="wpo" type="WORK_OFFSET" category="EVENT" representation="TABLE"/>
                <DataItem id="pos" name="pathpos" type="PATH_POSITION" category="SAMPLE"
                          units="MILLIMETER_3D"/>
              </DataItems>
            </Path>
          </Components>
        </Controller>
        <Axes id="axes">
          <Components>
            <Linear id="x" name="X">
              <DataItems>
                <DataItem id="xpos" name="Xact" type="POSITION" subType="ACTUAL" category="SAMPLE"
                          units="MILLIMETER"><Source>X_SRC</Source></DataItem>
                <DataItem id="xts" name="Xts" type="POSITION" category="SAMPLE" units="MILLIMETER"
                          representation="TIME_SERIES"/>
                <DataItem id="xload" name="Xload" type="LOAD" category="SAMPLE" units="PERCENT"
                          statistic="AVERAGE"/>
                <DataItem id="xtravel" name="Xtravel" type="POSITION" category="CONDITION"/>
              </DataItems>
            </Linear>
          </Components>
        </Axes>
      </Components>
    </Device>
    <Device id="m2" name="M2" uuid="uuid-m2">
      <DataItems>
        <DataItem id="m2_avail" name="avail" type="AVAILABILITY" category="EVENT"/>
        <DataItem id="m2_exec" name="execution" type="EXECUTION" category="EVENT"/>
      </DataItems>
    </Device>
  </Devices>
</MTConnectDevices>
"""


def make_agent(*, clock: Callable[[], float] | None = None) -> Agent:
    """An agent of DEVICES_XML; with the fixed clock NOW unless ``clock`` is given."""
    return Agent(DEVICES_XML, sender="test", clock=clock or (lambda: NOW))


def make_ingest(**options: bool) -> ShdrIngest:
    agent = make_agent()
    device = agent.model.device("M1")
    assert device is not None
    return ShdrIngest(agent, device, **options)


def feed(ingest: ShdrIngest, text: str) -> None:
    """Decode ``text`` as an adapter stream (closing it) and apply every record."""
    decoder = ShdrDecoder()
    for record in [*decoder.feed(text), *decoder.close()]:
        ingest.handle(record)


def latest(agent: Agent, item_id: str) -> Observation:
    """The item's current observation (for a condition: its only one)."""
    entry = agent.buffer.latest[item_id]
    if isinstance(entry, tuple):
        assert len(entry) == 1, f"{item_id} has {len(entry)} active conditions"
        return entry[0]
    return entry


def value(agent: Agent, item_id: str) -> object:
    return latest(agent, item_id).value


def conditions(agent: Agent, item_id: str) -> list[ConditionState]:
    """The condition's current states (the active ones, or one Normal or Unavailable)."""
    entry = agent.buffer.latest[item_id]
    states = entry if isinstance(entry, tuple) else (entry,)
    out = []
    for obs in states:
        assert isinstance(obs.value, ConditionState)
        out.append(obs.value)
    return out


def history(agent: Agent, item_id: str) -> list[Observation]:
    """Every observation of the item still in the buffer, oldest first."""
    buffer = agent.buffer
    return [
        obs for obs in buffer.forward(buffer.first_sequence, buffer.next_sequence) if obs.item.id == item_id
    ]


def items_of_type(agent: Agent, data_type: str) -> list[DataItem]:
    return [item for item in agent.model.items.values() if item.type == data_type]


def current(agent: Agent) -> etree._Element:
    """The agent's /current document, parsed (namespaces dropped from the tags)."""
    response = agent.handle(Request("GET", "/current", {}))
    assert isinstance(response, Response)
    assert response.status == 200, response.body
    return strip_namespaces(etree.fromstring(response.body.encode()))


def strip_namespaces(root: etree._Element) -> etree._Element:
    for el in root.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


def element(doc: etree._Element, item_id: str) -> etree._Element:
    found = doc.xpath(f"//*[@dataItemId='{item_id}']")
    assert isinstance(found, list)
    assert len(found) == 1, f"{len(found)} elements for {item_id}"
    el = found[0]
    assert isinstance(el, etree._Element)
    return el


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 3.0) -> None:
    """Poll ``predicate`` every 10 ms; fail the test (never hang) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass
class Link:
    """A real adapter server and a real connector feeding an agent, over loopback TCP."""

    server: ShdrAdapterServer
    connector: ShdrConnector
    agent: Agent

    async def send(self, text: str, records: int, timeout: float = 3.0) -> None:
        """Send lines from the adapter; return once the agent has handled ``records`` more records."""
        stats = self.connector.ingest.stats
        target = stats.records + records
        self.server.send(text)
        await wait_until(lambda: stats.records >= target, f"{records} SHDR records to arrive", timeout)


@asynccontextmanager
async def shdr_link(
    agent: Agent,
    device: str = "M1",
    *,
    heartbeat_ms: int = 10_000,
    reconnect_interval: float = 0.5,
    legacy_timeout: float = 600.0,
    heartbeat_override_ms: int | None = None,
    auto_available: bool = False,
) -> AsyncIterator[Link]:
    """Start an adapter on 127.0.0.1 (free port) and a connector for ``device``; stop both at the end."""
    server = ShdrAdapterServer("127.0.0.1", 0, heartbeat_ms=heartbeat_ms)
    await server.start()
    model_device = agent.model.device(device)
    assert model_device is not None
    connector = ShdrConnector(
        agent,
        model_device,
        "127.0.0.1",
        server.port,
        reconnect_interval=reconnect_interval,
        legacy_timeout=legacy_timeout,
        heartbeat_ms=heartbeat_override_ms,
        auto_available=auto_available,
    )
    connector.start()
    try:
        await connector.wait_connected(3.0)
        await wait_until(lambda: server.clients >= 1, "the adapter to register its client")
        yield Link(server, connector, agent)
    finally:
        await connector.stop()
        await server.stop()


def run(scenario: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
    """Run an async scenario in a fresh event loop, bounded by ``timeout`` seconds as a last resort."""
    return asyncio.run(asyncio.wait_for(scenario, timeout))


# ------------------------------------------------------------------------------------------ recordings


@dataclass(frozen=True)
class Recording:
    """A real SHDR log and the device file and device it was recorded from."""

    log: str
    devices: str
    device: str

    @property
    def log_path(self) -> Path:
        return shared_dir() / "mtconnect" / "shdr" / self.log

    @property
    def devices_path(self) -> Path:
        return shared_dir() / "mtconnect" / "devices" / self.devices


RECORDINGS = (
    Recording("okuma-multus-u3000_imts2022.shdr", "cppagent-demo_okuma-mazak_2.7.xml", "OKUMA"),
    Recording("nist_Hurco01_2017-05-02.shdr", "nist-smstestbed_8-machines_1.3.xml", "Hurco01"),
    Recording("nist_Mazak03_2016-05-10.shdr", "nist-smstestbed_8-machines_1.3.xml", "Mazak03"),
)

_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_SIMPLE = ("VALUE", "DISCRETE")
_MULTI_FIELD = ("TIME_SERIES",)


@dataclass(frozen=True)
class _Item:
    id: str
    category: str
    type: str
    representation: str
    constant: bool


def _device_keys(devices_path: Path, device_name: str) -> dict[str, _Item]:
    """Adapter key -> data item of the device, read straight from the file with lxml: ids first, then
    names, then sources (the reference agent's lookup order)."""
    root = strip_namespaces(etree.parse(str(devices_path)).getroot())
    found = root.xpath(f"//Device[@name='{device_name}']")
    assert isinstance(found, list)
    assert len(found) == 1
    device = found[0]
    assert isinstance(device, etree._Element)
    items: list[tuple[etree._Element, _Item]] = []
    for el in device.iter("DataItem"):
        items.append(
            (
                el,
                _Item(
                    el.get("id", ""),
                    el.get("category", ""),
                    el.get("type", ""),
                    el.get("representation", "VALUE"),
                    len(el.findall("Constraints/Value")) == 1,
                ),
            )
        )
    keys: dict[str, _Item] = {}
    for _, item in items:
        keys.setdefault(item.id, item)
    for el, item in items:
        if el.get("name"):
            keys.setdefault(el.get("name", ""), item)
    for el, item in items:
        source = el.find("Source")
        if source is not None and source.text and source.text.strip():
            keys.setdefault(source.text.strip(), item)
    return keys


def before_shutdown(lines: list[str]) -> int:
    """How many lines come before the recording's closing run of UNAVAILABLEs (the adapter shutting down):
    up to and including the last data line with a value other than empty or UNAVAILABLE."""
    last = 0
    for index, line in enumerate(lines):
        tokens = line.split("|")
        if len(tokens) < 3 or line.startswith("*") or tokens[1].startswith("@"):
            continue
        if any(token.strip() and token.strip().upper() != "UNAVAILABLE" for token in tokens[2::2]):
            last = index + 1
    return last


def expected_final_values(recording: Recording, lines: list[str] | None = None) -> dict[str, str]:
    """The last value each simple SAMPLE or EVENT got in the log (or in ``lines`` of it): data item id ->
    value, events upcased, UNAVAILABLE in any case as UNAVAILABLE.

    A deliberately simple reading of the log, independent of agent_sim: split on '|', pair keys and values,
    skip unknown keys with their value, and stop a line at a multi-field item (legacy mode). The recordings
    have no quoted fields, which keeps this honest."""
    keys = _device_keys(recording.devices_path, recording.device)
    last: dict[str, str] = {}
    terminator: str | None = None
    if lines is None:
        lines = recording.log_path.read_text(encoding="utf-8").splitlines()
    for raw in lines:
        line = raw.rstrip()
        if terminator is not None:
            if line == terminator:
                terminator = None
            continue
        if "--multiline--" in line:
            terminator = line[line.index("--multiline--") :]
            continue
        if not line or line.startswith("*"):
            continue
        tokens = [token.strip() for token in line.split("|")]
        if len(tokens) > 1 and tokens[1].startswith("@"):
            continue
        assert '"' not in line, f"the simple reader cannot take quoted fields: {line[:100]}"
        index = 1
        while index + 1 < len(tokens):
            key, text = tokens[index], tokens[index + 1]
            item = keys.get(key)
            if item is None:
                index += 2
                continue
            if item.category == "CONDITION" or item.type in ("MESSAGE", "ALARM"):
                break
            if item.representation in _MULTI_FIELD:
                break
            index += 2
            if item.representation not in _SIMPLE or item.constant:
                continue
            if text.upper() == "UNAVAILABLE":
                last[item.id] = "UNAVAILABLE"
            elif item.category == "SAMPLE":
                if _numbers(text) is not None:
                    last[item.id] = text
            else:
                last[item.id] = text.translate(_ASCII_UPPER)
    return last


def _numbers(text: str) -> list[float] | None:
    try:
        return [float(part) for part in text.split()]
    except ValueError:
        return None


def assert_current_matches(doc: etree._Element, expected: dict[str, str], category: Iterable[str]) -> None:
    """Every expected value is what /current shows (samples compared as numbers)."""
    samples = set(category)
    mismatches = []
    for item_id, wanted in expected.items():
        shown = element(doc, item_id).text or ""
        if item_id in samples and wanted != "UNAVAILABLE":
            if _numbers(shown) != _numbers(wanted):
                mismatches.append((item_id, wanted, shown))
        elif shown != wanted:
            mismatches.append((item_id, wanted, shown))
    assert not mismatches, f"{len(mismatches)} of {len(expected)} differ: {mismatches[:10]}"


def sample_ids(recording: Recording) -> set[str]:
    keys = _device_keys(recording.devices_path, recording.device)
    return {item.id for item in keys.values() if item.category == "SAMPLE"}
