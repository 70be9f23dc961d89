"""Rules of the agent's SHDR connection (reference sections 2.4 and 1.7): heartbeats, legacy timeout,
reconnect, UNAVAILABLE on disconnect, AutoAvailable; all over real loopback TCP into a real Agent."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import pytest

from agent_sim.adapter import ShdrAdapterServer
from agent_sim.agent import Agent, Request, Response
from agent_sim.buffer import UNAVAILABLE, ConditionState
from agent_sim.connector import ShdrConnector
from agent_sim.shdr import Decoded

from .shdr_helpers import (
    conditions,
    current,
    element,
    history,
    items_of_type,
    make_agent,
    run,
    shdr_link,
    value,
    wait_until,
)

TS = "2024-03-01T10:00:00Z"


class FakeAdapter:
    """A scripted SHDR adapter on loopback: records the lines the agent sends and answers its n-th PING
    with ``reply(n)`` (nothing when that is None)."""

    def __init__(self, reply: Callable[[int], str | None]) -> None:
        self.reply = reply
        self.lines: list[str] = []
        self.pings = 0
        self.accepted = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.accepted += 1
        self._writers.append(writer)
        try:
            while line := await reader.readline():
                text = line.decode().rstrip()
                self.lines.append(text)
                if text == "* PING":
                    self.pings += 1
                    answer = self.reply(self.pings)
                    if answer is not None:
                        writer.write(answer.encode())
        except ConnectionError:
            pass
        finally:
            self._tasks.discard(task)

    def send(self, data: bytes) -> None:
        for writer in self._writers:
            if not writer.transport.is_closing():
                writer.write(data)

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def _connect(adapter: FakeAdapter, **options: float) -> ShdrConnector:
    agent = make_agent()
    device = agent.model.device("M1")
    assert device is not None
    connector = ShdrConnector(
        agent,
        device,
        "127.0.0.1",
        adapter.port,
        reconnect_interval=float(options.get("reconnect_interval", 10.0)),
        legacy_timeout=float(options.get("legacy_timeout", 600.0)),
    )
    connector.start()
    await connector.wait_connected(3.0)
    return connector


# ------------------------------------------------------------------------------------------ heartbeat


def test_connector_sends_ping_as_soon_as_it_connects() -> None:
    async def scenario() -> None:
        adapter = FakeAdapter(lambda n: None)
        await adapter.start()
        connector = await _connect(adapter)
        try:
            await wait_until(lambda: adapter.lines != [], "the first line from the agent")
            assert adapter.lines[0] == "* PING"
            assert connector.status == "ESTABLISHED"
        finally:
            await connector.stop()
            await adapter.stop()

    run(scenario())


def test_valid_pong_starts_heartbeats_a_ping_every_interval() -> None:
    async def scenario() -> None:
        adapter = FakeAdapter(lambda n: "* PONG 200\n")  # answers every PING: the link stays healthy
        await adapter.start()
        connector = await _connect(adapter)
        try:
            await wait_until(lambda: adapter.pings >= 4, "three heartbeat PINGs after the first")
            assert connector.heartbeat_ms == 200
            assert (connector.connections, connector.status) == (1, "ESTABLISHED")
            assert set(adapter.lines) == {"* PING"}
        finally:
            await connector.stop()
            await adapter.stop()

    run(scenario())


def test_silence_for_twice_the_heartbeat_drops_the_connection_and_the_data() -> None:
    async def scenario() -> None:
        adapter = FakeAdapter(lambda n: f"* PONG 200\n{TS}|exec|ACTIVE\n" if n == 1 else None)
        await adapter.start()
        connector = await _connect(adapter)
        try:
            agent = connector.agent
            await wait_until(lambda: value(agent, "exec") == "ACTIVE", "the adapter's data")
            silent_since = time.monotonic()
            await wait_until(lambda: connector.status == "CLOSED", "the heartbeat timeout", timeout=3.0)
            assert time.monotonic() - silent_since >= 0.4 - 0.05  # not before 2 x 200 ms of silence
            assert connector.heartbeat_ms is None
            assert adapter.pings >= 2  # heartbeats went out before the drop
            assert value(agent, "exec") == UNAVAILABLE
        finally:
            await connector.stop()
            await adapter.stop()

    run(scenario())


@pytest.mark.parametrize("pong", ["* PONG", "* PONG FLAB", "* PONK 200", "* PONG 0", "* PONG 1800000"])
def test_invalid_pong_leaves_the_connection_legacy(pong: str) -> None:
    """No heartbeats: no more PINGs, and the link is dropped only after the legacy timeout of silence."""

    async def scenario() -> None:
        adapter = FakeAdapter(lambda n: f"{pong}\n{TS}|exec|ACTIVE\n" if n == 1 else None)
        await adapter.start()
        connector = await _connect(adapter, legacy_timeout=0.6)
        try:
            agent = connector.agent
            await wait_until(lambda: value(agent, "exec") == "ACTIVE", "the adapter's data")
            silent_since = time.monotonic()
            await wait_until(lambda: connector.status == "CLOSED", "the legacy timeout", timeout=3.0)
            assert time.monotonic() - silent_since >= 0.6 - 0.05
            assert adapter.pings == 1
            assert value(agent, "exec") == UNAVAILABLE
        finally:
            await connector.stop()
            await adapter.stop()

    run(scenario())


def test_any_data_line_keeps_the_connection_alive() -> None:
    async def scenario() -> None:
        adapter = FakeAdapter(lambda n: "* PONG 300\n" if n == 1 else None)  # never answers heartbeats
        await adapter.start()
        connector = await _connect(adapter)
        try:
            await wait_until(lambda: connector.heartbeat_ms == 300, "heartbeats")
            for count in range(12):  # 1.2 s of data, twice the 600 ms timeout, and no PONG
                adapter.send(f"{TS}|partcount_plain|{count}\n".encode())
                await asyncio.sleep(0.1)
            assert (connector.connections, connector.status) == (1, "ESTABLISHED")
            assert value(connector.agent, "pcount_plain") == "11"
            await wait_until(lambda: connector.status == "CLOSED", "the timeout once data stops")
        finally:
            await connector.stop()
            await adapter.stop()

    run(scenario())


def test_heartbeat_setting_overrides_the_adapters_pong() -> None:
    async def scenario() -> None:
        async with shdr_link(make_agent(), heartbeat_ms=10_000, heartbeat_override_ms=250) as link:
            await wait_until(lambda: link.connector.heartbeat_ms is not None, "heartbeats")
            assert link.connector.heartbeat_ms == 250

    run(scenario())


def test_real_adapter_heartbeat_keeps_an_idle_link_up() -> None:
    async def scenario() -> None:
        async with shdr_link(make_agent(), heartbeat_ms=150) as link:
            await wait_until(lambda: link.connector.heartbeat_ms == 150, "heartbeats")
            await asyncio.sleep(0.9)  # three times the 300 ms timeout, with no data at all
            assert (link.connector.connections, link.connector.status) == (1, "ESTABLISHED")

    run(scenario())


# ------------------------------------------------------------------------------------------ reconnect


def test_reconnect_interval_is_at_least_half_a_second() -> None:
    agent = make_agent()
    device = agent.model.device("M1")
    assert device is not None
    assert ShdrConnector(agent, device, "127.0.0.1", 1, reconnect_interval=0.01).reconnect_interval == 0.5


def test_connector_reconnects_after_the_adapter_restarts() -> None:
    async def scenario() -> None:
        async with shdr_link(make_agent(), reconnect_interval=0.5) as link:
            server, connector, agent = link.server, link.connector, link.agent
            await link.send(f"{TS}|exec|ACTIVE\n", 1)
            await server.stop()
            await wait_until(lambda: connector.status == "CLOSED", "the disconnect")
            assert value(agent, "exec") == UNAVAILABLE
            await asyncio.sleep(0.6)  # at least one refused attempt while the adapter is down
            await server.start()  # the same port again
            await wait_until(lambda: connector.connections == 2, "the reconnect")
            await wait_until(lambda: server.clients == 1, "the adapter to register its client")
            await link.send(f"{TS}|exec|READY\n", 1)
            assert value(agent, "exec") == "READY"

    run(scenario())


# ------------------------------------------------------------------------------------------ disconnect


def test_disconnect_makes_what_the_adapter_set_unavailable_exactly_once() -> None:
    """Over two disconnects, each item the adapter set gets one UNAVAILABLE (discrete items too); items
    it never set keep their values, and constant-valued items their constant."""

    async def scenario() -> None:
        agent = make_agent()
        block = agent.model.items["block"]
        agent.add(block, "FROM ANOTHER SOURCE")
        async with shdr_link(agent, reconnect_interval=0.5) as link:
            connector = link.connector
            await link.send(
                f"{TS}|exec|ACTIVE|partid|P1|vars|a=1|controllerMode|MANUAL\n{TS}|system|FAULT|F1|||oops\n", 2
            )
            for round_number in (1, 2):
                await link.server.disconnect_all()
                await wait_until(lambda: connector.status == "CLOSED", f"disconnect {round_number}")
                await wait_until(lambda: connector.status == "ESTABLISHED", f"reconnect {round_number}")
            assert value(agent, "block") == "FROM ANOTHER SOURCE"
            assert value(agent, "mode") == "AUTOMATIC"  # a constant stays what it is
            for item_id in ("exec", "partid", "vars"):
                values = [obs.value for obs in history(agent, item_id)]
                assert (values[0], values[-1]) == (UNAVAILABLE, UNAVAILABLE)
                assert values.count(UNAVAILABLE) == 2, (item_id, values)  # the initial one and one more
            levels = [o.value.level for o in history(agent, "system") if isinstance(o.value, ConditionState)]
            assert levels == [UNAVAILABLE, "FAULT", UNAVAILABLE]
            assert [c.level for c in conditions(agent, "system")] == [UNAVAILABLE]

    run(scenario())


def test_auto_available_sets_availability_on_connect_and_disconnect() -> None:
    async def scenario() -> None:
        agent = make_agent()
        async with shdr_link(agent, auto_available=True) as link:
            assert value(agent, "m1_avail") == "AVAILABLE"
            assert value(agent, "m2_avail") == UNAVAILABLE  # another device
            await link.server.disconnect_all()
            await wait_until(lambda: link.connector.status == "CLOSED", "the disconnect")
            assert value(agent, "m1_avail") == UNAVAILABLE
            await wait_until(lambda: link.connector.status == "ESTABLISHED", "the reconnect")
            assert value(agent, "m1_avail") == "AVAILABLE"

    run(scenario())


def test_availability_is_left_to_the_adapter_without_auto_available() -> None:
    async def scenario() -> None:
        agent = make_agent()
        async with shdr_link(agent) as link:
            assert value(agent, "m1_avail") == UNAVAILABLE
            await link.send(f"{TS}|avail|AVAILABLE\n", 1)
            assert value(agent, "m1_avail") == "AVAILABLE"
            await link.server.disconnect_all()
            await wait_until(lambda: link.connector.status == "CLOSED", "the disconnect")
            assert value(agent, "m1_avail") == UNAVAILABLE  # set by the adapter, so reset with its data

    run(scenario())


def test_connection_status_goes_listen_established_closed() -> None:
    async def scenario() -> None:
        agent = make_agent()
        device = agent.model.device("M1")
        assert device is not None
        assert ShdrConnector(agent, device, "127.0.0.1", 1).status == "LISTEN"
        async with shdr_link(agent) as link:
            assert link.connector.status == "ESTABLISHED"
            await link.server.disconnect_all()
            await wait_until(lambda: link.connector.status == "CLOSED", "the disconnect")

    run(scenario())


# ------------------------------------------------------------------------------------------ robustness


GARBAGE = [
    "no separator at all",
    f'{TS}|exec|"unterminated quote',
    f"{TS}|@NOT_AN_ASSET_COMMAND@|x",
    f"{TS}|system|SEVERE|C1|||bad level",
    f"{TS}|Xact|not-a-number",
    "x" * 1_500_000,  # longer than a line may be
]


def test_malformed_lines_are_skipped_and_counted_and_the_next_line_arrives() -> None:
    async def scenario() -> None:
        agent = make_agent()
        async with shdr_link(agent) as link:
            await link.send(f"{TS}|exec|ACTIVE\n", 1)
            link.server.send("\n".join(GARBAGE) + f"\n{TS}|exec|READY|block|AFTER\n")
            await wait_until(lambda: value(agent, "block") == "AFTER", "the good line after the garbage")
            assert value(agent, "exec") == "READY"
            assert link.connector.ingest.stats.malformed == len(GARBAGE)
            assert (link.connector.connections, link.connector.status) == (1, "ESTABLISHED")
            assert element(current(agent), "block").text == "AFTER"

    run(scenario())


def test_bytes_that_are_not_utf8_neither_break_the_connection_nor_the_agent() -> None:
    async def scenario() -> None:
        adapter = FakeAdapter(lambda n: None)
        await adapter.start()
        connector = await _connect(adapter)
        try:
            adapter.send(b"\xff\xfe\x00garbage\x80\n" + f"{TS}|program|caf\xe9\n".encode("latin-1"))
            adapter.send(f"{TS}|block|GOOD\n".encode())
            await wait_until(lambda: value(connector.agent, "block") == "GOOD", "the good line")
            assert connector.ingest.stats.malformed == 1
            assert value(connector.agent, "prog") == "CAF\ufffd"  # replaced, not fatal
            assert connector.connections == 1
            response = connector.agent.handle(Request("GET", "/current", {}))
            assert isinstance(response, Response)
            assert response.status == 200
        finally:
            await connector.stop()
            await adapter.stop()

    run(scenario())


def test_a_fault_while_applying_a_record_is_counted_and_not_fatal() -> None:
    async def scenario() -> None:
        agent = make_agent()
        async with shdr_link(agent) as link:
            ingest = link.connector.ingest
            real = ingest.handle

            def flaky(record: Decoded) -> None:
                if "BOOM" in repr(record):
                    raise RuntimeError("a bug in ingest")
                real(record)

            ingest.handle = flaky  # type: ignore[method-assign]
            link.server.send(f"{TS}|block|BOOM\n{TS}|block|FINE\n")
            await wait_until(lambda: value(agent, "block") == "FINE", "the line after the fault")
            assert ingest.stats.malformed == 1
            assert link.connector.connections == 1

    run(scenario())


# ------------------------------------------------------------------------------------------ over the wire


def test_multiline_asset_split_across_packets_arrives_whole() -> None:
    async def scenario() -> None:
        agent = make_agent()
        async with shdr_link(agent) as link:
            body = [
                '<CuttingTool assetId="T9" toolId="9">',
                "<Description>split</Description>",
                "</CuttingTool>",
            ]
            link.server.send(f"{TS}|@ASSET@|T9|CuttingTool|--multiline--XY12\n")
            for line in body:
                await asyncio.sleep(0.02)
                link.server.send(line[:5])
                await asyncio.sleep(0.02)
                link.server.send(line[5:] + "\n")
            link.server.send("--multiline--XY12\n")
            await wait_until(lambda: "T9" in agent.assets, "the asset")
            assert agent.assets["T9"].xml == "\n".join(body)
            changed = [value(agent, item.id) for item in items_of_type(agent, "ASSET_CHANGED")]
            assert "T9" in changed

    run(scenario())


def test_shdr_version_command_over_the_wire_applies_to_the_following_lines() -> None:
    async def scenario() -> None:
        agent = make_agent()
        async with shdr_link(agent) as link:
            await link.send(f"{TS}|system|FAULT|F1|||x|exec|ACTIVE\n", 1)
            assert value(agent, "exec") == UNAVAILABLE  # legacy: the condition ends the line
            await link.send(f"* shdrVersion: 2\n{TS}|system|NORMAL|||||exec|ACTIVE\n", 2)
            assert value(agent, "exec") == "ACTIVE"

    run(scenario())


def test_the_agent_device_reports_each_adapter_connection_status_and_versions() -> None:
    """Reference 1.8: one Adapter component per adapter, CONNECTION_STATUS LISTEN -> ESTABLISHED -> CLOSED,
    and the adapter's `* adapterVersion:` / `* mtconnectVersion:` as its versions (schema 2.4 and later)."""

    async def main() -> None:
        adapter = ShdrAdapterServer("127.0.0.1", 0)
        await adapter.start()
        uri = f"shdr://127.0.0.1:{adapter.port}"
        agent = Agent(_ADAPTER_DEVICES, schema_version="2.7", adapters=[uri])
        status = agent.adapter_item(uri, "CONNECTION_STATUS")
        assert status is not None
        assert agent.buffer.latest[status.id].value == "LISTEN"  # type: ignore[union-attr]
        device = agent.model.device("M")
        assert device is not None
        connector = ShdrConnector(agent, device, "127.0.0.1", adapter.port, reconnect_interval=0.5)
        connector.start()
        try:
            await connector.wait_connected()
            assert agent.buffer.latest[status.id].value == "ESTABLISHED"  # type: ignore[union-attr]
            adapter.send("* adapterVersion: 3.1\n* mtconnectVersion: 2.7\n")
            for _ in range(200):
                version = agent.adapter_item(uri, "ADAPTER_SOFTWARE_VERSION")
                assert version is not None
                if agent.buffer.latest[version.id].value == "3.1":  # type: ignore[union-attr]
                    break
                await asyncio.sleep(0.01)
            mtc = agent.adapter_item(uri, "MTCONNECT_VERSION")
            assert mtc is not None
            assert agent.buffer.latest[mtc.id].value == "2.7"  # type: ignore[union-attr]
            await adapter.disconnect_all()
            for _ in range(200):
                if agent.buffer.latest[status.id].value == "CLOSED":  # type: ignore[union-attr]
                    break
                await asyncio.sleep(0.01)
            assert agent.buffer.latest[status.id].value == "CLOSED"  # type: ignore[union-attr]
        finally:
            await connector.stop()
            await adapter.stop()

    asyncio.run(asyncio.wait_for(main(), 10))


_ADAPTER_DEVICES = (
    '<MTConnectDevices><Devices><Device id="m" name="M" uuid="m-1"><DataItems>'
    '<DataItem category="EVENT" id="avail" type="AVAILABILITY"/>'
    "</DataItems></Device></Devices></MTConnectDevices>"
)
