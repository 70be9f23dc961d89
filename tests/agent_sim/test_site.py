"""The twin on the wire end to end (twin -> in process or SHDR over TCP -> agent -> HTTP), and its faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from lxml import etree

from agent_sim.agent import iso_timestamp
from agent_sim.bridge import shdr_value
from agent_sim.site import AgentPlan, Site
from twin.alarm_catalog import find
from twin.clock import local_to_epoch
from twin.config import JobConfig, MachineConfig, PlantConfig
from twin.disruptions import Failure
from twin.observations import ListSink, Observation
from twin.plant import Plant
from twin.shift_calendar import ShiftDefinition

BERLIN = ZoneInfo("Europe/Berlin")
START = local_to_epoch(datetime(2026, 3, 2, 6, 0), BERLIN)
DAY = ShiftDefinition(
    "Day", datetime(2026, 1, 1, 6).time(), datetime(2026, 1, 1, 14).time(), frozenset(range(7))
)
JOB = JobConfig("J1", "P1", "O1000", 10_000, 45.0, setup_minutes=5.0, tool_life_parts=40)
MILL = MachineConfig("MILL-1", "haas_vf2", "Mill", jobs=(JOB,), warmup_minutes=0.0)
LATHE = MachineConfig("LATHE-1", "dmg_nlx2500", "Lathe", jobs=(JOB,), warmup_minutes=0.0)


class Tee:
    """Sends every observation to the bridge and keeps a copy, to compare the wire with the twin."""

    def __init__(self, *sinks: object) -> None:
        self.sinks = sinks

    def emit(self, observation: Observation) -> None:
        for sink in self.sinks:
            sink.emit(observation)  # type: ignore[attr-defined]


def plans(in_process_port: int = 0, shdr_port: int = 0, lathe_version: str = "1.7") -> list[AgentPlan]:
    return [
        AgentPlan("mills", in_process_port, ("MILL-1",), "2.7"),
        AgentPlan("lathes", shdr_port, ("LATHE-1",), lathe_version, transport="shdr"),
    ]


def run(body: Callable[[Site, Plant, ListSink, aiohttp.ClientSession], Awaitable[None]]) -> None:
    async def main() -> None:
        site = Site((MILL, LATHE), plans(), reconnect_interval=0.5)
        copy = ListSink()
        plant = Plant(
            PlantConfig(START, 8 * 3600.0, BERLIN, (DAY,), (MILL, LATHE), seed=3), Tee(site.bridge, copy)
        )
        await site.start()
        try:
            async with aiohttp.ClientSession() as http:
                await asyncio.wait_for(body(site, plant, copy, http), 20)
        finally:
            await site.stop()

    asyncio.run(main())


async def advance(site: Site, plant: Plant, seconds: float, step: float = 60.0) -> None:
    target = plant.now + seconds
    while plant.now < target:
        plant.advance(plant.now + step)
        assert await site.settle()


async def current(http: aiohttp.ClientSession, url: str) -> etree._Element:
    async with http.get(f"{url}/current") as response:
        assert response.status == 200
        return etree.fromstring(await response.read())


def values(doc: etree._Element, device: str) -> dict[str, str]:
    """Data item id -> text (or condition level) in a /current document, for one device."""
    out: dict[str, str] = {}
    for stream in doc.iter("{*}DeviceStream"):
        if stream.get("name") != device:
            continue
        for el in stream.iter():
            ident = el.get("dataItemId")
            if ident:
                out[ident] = (
                    etree.QName(el).localname.upper()
                    if el.getparent().tag.endswith("Condition")
                    else (el.text or "")
                )
    return out


def twin_last(copy: ListSink, machine: str, signal: str) -> Observation:
    return copy.of(machine, signal)[-1]


def test_the_twin_reaches_both_agents_with_its_values_and_timestamps() -> None:
    async def body(site: Site, plant: Plant, copy: ListSink, http: aiohttp.ClientSession) -> None:
        await advance(site, plant, 3600.0)
        for agent, machine in (("mills", "MILL-1"), ("lathes", "LATHE-1")):
            doc = await current(http, site.urls[agent])
            got = values(doc, machine)
            template = site.bridge.routes[machine].template
            for signal in ("execution", "part_count", "program", "controller_mode", "tool_number"):
                last = twin_last(copy, machine, signal)
                assert got[template.signals[signal]] == shdr_value(signal, last.value)[1], (agent, signal)
            count = next(doc.iter("{*}PartCount"))
            assert count.get("timestamp") == _iso(twin_last(copy, machine, "part_count").time)

    run(body)


def test_conditions_travel_with_their_native_code_over_both_transports() -> None:
    async def body(site: Site, plant: Plant, copy: ListSink, http: aiohttp.ClientSession) -> None:
        await advance(site, plant, 600.0)
        for machine in ("MILL-1", "LATHE-1"):
            twin_machine = plant.machines[machine]
            code = "123" if machine == "MILL-1" else "SP9001"
            twin_machine._interrupt(Failure(find(twin_machine.spec.model, code), 600.0))
        await advance(site, plant, 60.0, step=5.0)
        for agent, code in (("mills", "123"), ("lathes", "SP9001")):
            doc = await current(http, site.urls[agent])
            faults = list(doc.iter("{*}Fault"))
            assert [el.get("nativeCode") for el in faults] == [code]
            assert faults[0].get("nativeSeverity") == "CRITICAL"

    run(body)


def test_cutting_tools_are_served_as_assets() -> None:
    async def body(site: Site, plant: Plant, copy: ListSink, http: aiohttp.ClientSession) -> None:
        await advance(site, plant, 3600.0)
        for agent, machine in (("mills", "MILL-1"), ("lathes", "LATHE-1")):
            async with http.get(f"{site.urls[agent]}/assets") as response:
                doc = etree.fromstring(await response.read())
            tools = list(doc.iter("{*}CuttingTool"))
            assert [t.get("assetId") for t in tools] == [f"{machine}.T1"]

    run(body)


def test_agent_restart_brings_a_new_instance_that_gets_the_machines_state_again() -> None:
    async def body(site: Site, plant: Plant, copy: ListSink, http: aiohttp.ClientSession) -> None:
        await advance(site, plant, 1800.0)
        before = {name: await current(http, url) for name, url in site.urls.items()}
        for name in ("mills", "lathes"):
            await site.restart_agent(name)
        assert _connected(site)
        assert await site.settle()
        for name, url in site.urls.items():
            doc = await current(http, url)
            old, new = before[name].find("{*}Header"), doc.find("{*}Header")
            assert new.get("instanceId") != old.get("instanceId") or new.get("firstSequence") == "1"
            assert int(new.get("nextSequence")) < int(old.get("nextSequence"))
            machine = "MILL-1" if name == "mills" else "LATHE-1"
            execution = site.bridge.routes[machine].template.signals["execution"]
            assert values(doc, machine)[execution] == twin_last(copy, machine, "execution").value

    run(body)


def test_adapter_disconnect_makes_the_data_unavailable_until_the_adapter_is_back() -> None:
    async def body(site: Site, plant: Plant, copy: ListSink, http: aiohttp.ClientSession) -> None:
        await advance(site, plant, 1800.0)
        execution = site.bridge.routes["LATHE-1"].template.signals["execution"]
        since = site.agent("lathes").buffer.next_sequence
        # It returns once the adapters have reconnected by themselves.
        await site.disconnect_adapters("lathes")
        assert _status(site, "LATHE-1") == "ESTABLISHED"
        assert await site.settle()
        url = f"{site.urls['lathes']}/sample?from={since}&count=1000"
        async with http.get(url) as response:
            sample = etree.fromstring(await response.read())
        seen = [e.text for e in sample.iter() if e.get("dataItemId") == execution]
        # Meanwhile the agent reported the data unavailable, then the adapter's state again, stamped now.
        assert seen[0] == "UNAVAILABLE"
        assert seen[-1] == twin_last(copy, "LATHE-1", "execution").value
        back = values(await current(http, site.urls["lathes"]), "LATHE-1")
        assert back[execution] == twin_last(copy, "LATHE-1", "execution").value

    run(body)


def test_network_drop_refuses_connections_for_a_while_and_keeps_the_agent() -> None:
    async def body(site: Site, plant: Plant, copy: ListSink, http: aiohttp.ClientSession) -> None:
        url = site.urls["mills"]
        instance = (await current(http, url)).find("{*}Header").get("instanceId")
        drop = asyncio.ensure_future(site.drop_network("mills", 0.8))
        await asyncio.sleep(0.3)
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as fresh, fresh.get(f"{url}/current") as response:
                await response.read()
        await drop
        assert (await current(http, url)).find("{*}Header").get("instanceId") == instance

    run(body)


def test_slow_responses_are_delayed() -> None:
    async def body(site: Site, plant: Plant, copy: ListSink, http: aiohttp.ClientSession) -> None:
        site.slow("mills", 0.3)
        began = time.monotonic()
        await current(http, site.urls["mills"])
        assert time.monotonic() - began >= 0.3  # a lower bound only: a busy machine can only add time
        site.slow("mills", 0.0)

    run(body)


def _iso(epoch: float) -> str:
    return iso_timestamp(epoch)


def _status(site: Site, machine: str) -> str:
    for parts in site._parts.values():
        if machine in parts.connectors:
            return parts.connectors[machine].status
    raise AssertionError(machine)


def _connected(site: Site) -> bool:
    return all(c.status == "ESTABLISHED" for parts in site._parts.values() for c in parts.connectors.values())


async def _eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
