"""The agent client over real HTTP on loopback: this repo's agent (polling, streaming, buffer overrun,
restart, network drop, slow answers) and recorded or broken answers from a replay server (a real Mazak
1.7 agent's documents, an error document with HTTP 200, a truncated XML, an HTML 502 page, an old agent's
``x-mixed-replace`` stream).

Every wait is bounded; timing is asserted only as order or with generous bounds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

import aiohttp
import pytest

from agent_sim.agent import Agent
from agent_sim.http import AgentServer
from mes_core.domain.states import MachineState
from mes_core.domain.tracker import AlarmRaised, Event, MachineTracker, PartsMade, StateChanged
from mes_core.ingest.client import (
    AgentClient,
    AgentEvent,
    Bootstrap,
    DataLost,
    Observations,
    Offline,
    Online,
    Probed,
    ReadFailed,
    Restarted,
)

from .replay_server import ReplayServer, Reply, StreamReply
from .shared import shared_dir

T = TypeVar("T")
E = TypeVar("E")


def _device(prefix: str, name: str, uuid: str) -> str:
    return f"""
    <Device id="{prefix}" name="{name}" uuid="{uuid}">
      <DataItems><DataItem category="EVENT" id="{prefix}_avail" type="AVAILABILITY"/></DataItems>
      <Components>
        <Controller id="{prefix}_ct">
          <DataItems><DataItem category="CONDITION" id="{prefix}_sys" type="SYSTEM"/></DataItems>
          <Components>
            <Path id="{prefix}_p">
              <DataItems>
                <DataItem category="EVENT" id="{prefix}_exec" type="EXECUTION"/>
                <DataItem category="EVENT" id="{prefix}_pc" type="PART_COUNT" subType="ALL"/>
                <DataItem category="EVENT" id="{prefix}_prog" type="PROGRAM"/>
              </DataItems>
            </Path>
          </Components>
        </Controller>
      </Components>
    </Device>"""


DEVICES = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<MTConnectDevices xmlns="urn:mtconnect.org:MTConnectDevices:2.7"><Devices>'
    f"{_device('m', 'mill', 'mill-1')}{_device('l', 'lathe', 'lathe-1')}"
    "</Devices></MTConnectDevices>"
)
"""Two machines behind one agent (plus the agent's own Agent device)."""
MACHINES = {"mill": "M1", "lathe-1": "L1"}
"""One device named by its name, the other by its uuid."""
DEVICE_OF = {"m": "M1", "l": "L1"}


def make_client(url: str, devices: Mapping[str, str], **settings: Any) -> AgentClient:
    """A client with quick retries (backoff 0.02 .. 0.1 s) and 2 s request timeouts unless told."""
    return AgentClient(
        url, devices, **{"backoff_min_s": 0.02, "backoff_max_s": 0.1, "timeout_s": 2.0, **settings}
    )


def make_agent(*, exponent: int = 12, clock_offset: float = 0.0) -> Agent:
    """A 2.7 agent over DEVICES; ``clock_offset`` gives a restarted agent another instanceId."""
    return Agent(
        DEVICES,
        buffer_size_exponent=exponent,
        sender="test",
        clock=lambda: time.time() + clock_offset,
    )


class Feeder:
    """Adds changing values to an agent's items, round robin over both machines."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.count = {"m": 0, "l": 0}
        self.step = 0

    def put(self, item_id: str, value: str) -> int:
        obs = self.agent.add(self.agent.model.items[item_id], value)
        assert obs is not None, f"{item_id}={value} was dropped"
        return obs.sequence

    def burst(self, n: int) -> None:
        for _ in range(n):
            prefix = "ml"[self.step % 2]
            kind = (self.step // 2) % 3
            if kind == 0:
                self.count[prefix] += 1
                self.put(f"{prefix}_pc", str(self.count[prefix]))
            elif kind == 1:
                self.put(f"{prefix}_exec", "ACTIVE" if self.step % 4 < 2 else "READY")
            else:
                self.put(f"{prefix}_prog", f"O{self.step:04d}")
            self.step += 1


class Recorder:
    """The sink: every event, in order."""

    def __init__(self) -> None:
        self.events: list[AgentEvent] = []

    def __call__(self, event: AgentEvent) -> None:
        self.events.append(event)

    def of(self, kind: type[E]) -> list[E]:
        return [event for event in self.events if isinstance(event, kind)]

    def sequences(self, machine: str) -> list[int]:
        """The sequences delivered in Observations for ``machine``, in delivery order."""
        return [o.sequence for e in self.of(Observations) if e.machine == machine for o in e.observations]

    def index(self, event: AgentEvent) -> int:
        return self.events.index(event)


def held(agent: Agent, start: int) -> dict[str, list[int]]:
    """The sequences of both machines' observations the agent holds from ``start``, per machine."""
    found: dict[str, list[int]] = {"M1": [], "L1": []}
    for obs in agent.buffer.forward(start, agent.buffer.next_sequence):
        machine = DEVICE_OF.get(obs.item.device_id)
        if machine is not None:
            found[machine].append(obs.sequence)
    return found


def epoch(stamp: str) -> float:
    """An agent's ISO timestamp as epoch seconds."""
    return datetime.fromisoformat(stamp).timestamp()


def run(main: Callable[[], Awaitable[T]], timeout: float = 8.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


async def until(condition: Callable[[], object], timeout: float = 3.0, what: str = "condition") -> None:
    """Wait (bounded) until ``condition()`` is true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def serving(agent: Agent) -> AsyncIterator[AgentServer]:
    server = AgentServer(agent, "127.0.0.1", 0)
    await asyncio.wait_for(server.start(), 3.0)
    try:
        yield server
    finally:
        await asyncio.wait_for(server.stop(), 3.0)


@asynccontextmanager
async def replaying(server: ReplayServer) -> AsyncIterator[ReplayServer]:
    await asyncio.wait_for(server.start(), 3.0)
    try:
        yield server
    finally:
        await asyncio.wait_for(server.stop(), 3.0)


@asynccontextmanager
async def reading(
    client: AgentClient, sink: Callable[[AgentEvent], None], session: aiohttp.ClientSession | None = None
) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``client`` in a task (with its own session unless given); stop it, bounded, afterwards."""
    own = session is None
    session = session or aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    task = asyncio.create_task(client.run(session, sink))
    try:
        yield task
    finally:
        client.stop()
        try:
            await asyncio.wait_for(task, 3.0)
        finally:
            if own:
                await session.close()


def caught_up(client: AgentClient, agent: Agent) -> Callable[[], bool]:
    return lambda: client.stats.next_sequence == agent.buffer.next_sequence


class Trackers:
    """Feeds the client's events into one MachineTracker per machine, as the ingest service will."""

    def __init__(self) -> None:
        self.trackers: dict[str, MachineTracker] = {}
        self.events: dict[str, list[Event]] = {}

    def __call__(self, event: AgentEvent) -> None:
        if isinstance(event, Probed):
            for machine, device in event.devices.items():
                self.trackers.setdefault(machine, MachineTracker(device.data_items))
                self.events.setdefault(machine, [])
        elif isinstance(event, Bootstrap):
            tracker = self.trackers[event.machine]
            if event.gap is None:
                produced = tracker.apply_all(event.observations, event.instance_id)
            else:
                produced = tracker.gap(*event.gap, event.reason, event.observations, event.instance_id)
            self.events[event.machine] += produced
        elif isinstance(event, Observations):
            self.events[event.machine] += self.trackers[event.machine].apply_all(
                event.observations, event.instance_id
            )

    def parts(self, machine: str) -> int:
        return sum(e.delta for e in self.events[machine] if isinstance(e, PartsMade) and e.kind == "total")


def both(*sinks: Callable[[AgentEvent], None]) -> Callable[[AgentEvent], None]:
    def sink(event: AgentEvent) -> None:
        for each in sinks:
            each(event)

    return sink


# -- this repo's agent --------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["auto", "aiohttp"])
@pytest.mark.parametrize("mode", ["poll", "stream"])
def test_every_observation_is_delivered_exactly_once_in_order(mode: str, transport: str) -> None:
    """Across many polls (count=5 forces several per burst) or stream parts, each machine gets every
    observation the agent recorded after the bootstrap, once, in sequence order; the Agent device's
    observations are not delivered. The same over the client's own connection and over aiohttp."""

    async def main() -> None:
        agent = make_agent()
        feeder = Feeder(agent)
        async with serving(agent) as server:
            client = make_client(
                server.url, MACHINES, mode=mode, interval_s=0.02, count=5, transport=transport
            )
            recorder = Recorder()
            async with reading(client, recorder):
                await until(lambda: recorder.of(Bootstrap), what="bootstrap")
                for _ in range(12):
                    feeder.burst(7)
                    await asyncio.sleep(0.015)
                await until(caught_up(client, agent), what="catching up")
            (probed,) = recorder.of(Probed)
            assert set(probed.devices) == {"M1", "L1"}
            assert probed.missing == ()
            boots = recorder.of(Bootstrap)
            assert [(b.machine, b.reason, b.gap) for b in boots] == [
                ("M1", "start", None),
                ("L1", "start", None),
            ]
            start = boots[0].next_sequence
            expected = held(agent, start)
            assert len(expected["M1"]) + len(expected["L1"]) == 84
            assert recorder.sequences("M1") == expected["M1"]
            assert recorder.sequences("L1") == expected["L1"]
            assert client.stats.observations == 84
            assert client.stats.polls >= 84 // 5
            if mode == "stream":
                assert client.stats.requests == 3  # probe, current, one stream
            assert not client.stats.errors
            assert not recorder.of(DataLost)
            assert not recorder.of(ReadFailed)

    run(main)


@pytest.mark.parametrize("mode", ["poll", "stream"])
def test_a_cleared_room_holds_the_reader_which_then_reads_on_losing_nothing(mode: str) -> None:
    """The consumer's backpressure: while ``room`` is clear the client sends no request and hands over no
    streamed part; set again, it reads on from where it stopped, every observation once and in order."""

    async def main() -> None:
        agent = make_agent()
        feeder = Feeder(agent)
        room = asyncio.Event()
        room.set()
        held_at: list[tuple[int, int]] = []
        recorder = Recorder()

        def sink(event: AgentEvent) -> None:
            recorder(event)
            if isinstance(event, Observations) and not held_at:
                room.clear()  # from within the reader's task: its next step is the wait
                held_at.append((client.stats.requests, client.stats.polls))

        async with serving(agent) as server:
            client = make_client(server.url, MACHINES, mode=mode, interval_s=0.02, count=5, room=room)
            async with reading(client, sink):
                await until(lambda: recorder.of(Bootstrap), what="bootstrap")
                start = recorder.of(Bootstrap)[0].next_sequence
                feeder.burst(4)
                await until(lambda: held_at, what="the first observations")
                feeder.burst(30)
                await asyncio.sleep(0.3)
                assert (client.stats.requests, client.stats.polls) == held_at[0]  # no document since
                room.set()
                await until(caught_up(client, agent), what="catching up")
            expected = held(agent, start)
            assert recorder.sequences("M1") == expected["M1"]
            assert recorder.sequences("L1") == expected["L1"]
            assert not client.stats.errors

    run(main)


def test_polls_again_at_once_while_the_agent_holds_more() -> None:
    """60 observations waiting and count=10: six polls back to back, although the interval is 5 s."""

    async def main() -> None:
        agent = make_agent()
        feeder = Feeder(agent)
        async with serving(agent) as server:
            client = make_client(server.url, MACHINES, interval_s=5.0, count=10)
            recorder = Recorder()

            def sink(event: AgentEvent) -> None:
                recorder(event)
                if isinstance(event, Bootstrap) and event.machine == "L1":
                    feeder.burst(60)  # before the first poll: the client is in its task, delivering

            async with reading(client, sink):
                await until(caught_up(client, agent), timeout=2.0, what="catching up")
            assert client.stats.polls == 6
            assert client.stats.observations == 60

    run(main)


def test_buffer_overrun_reports_the_lost_span_then_resyncs_without_duplicates() -> None:
    """A 16-slot buffer and 40 observations between two polls: OUT_OF_RANGE -> DataLost from the next
    unread sequence to /current's nextSequence, spanning the newest timestamp read before and the newest
    of /current; then a Bootstrap (out_of_range) and deltas from there; no sequence delivered twice, and
    trackers fed everything count every part."""

    async def main() -> None:
        agent = make_agent(exponent=4)
        feeder = Feeder(agent)
        async with serving(agent) as server:
            client = make_client(server.url, MACHINES, interval_s=0.3, count=100)
            recorder = Recorder()
            trackers = Trackers()
            async with reading(client, both(recorder, trackers)):
                await until(lambda: client.stats.polls >= 1, what="the first poll")
                feeder.burst(4)
                await until(caught_up(client, agent), what="the first burst")
                newest_read = max(o.timestamp for e in recorder.of(Observations) for o in e.observations)
                first_missing = agent.buffer.next_sequence
                feeder.burst(40)  # no poll can run in between: this is one synchronous burst
                resumed = agent.buffer.next_sequence
                await until(lambda: recorder.of(DataLost), what="DataLost")
                await until(lambda: len(recorder.of(Bootstrap)) == 4, what="the resync")
                feeder.burst(6)
                await until(caught_up(client, agent), what="catching up")
            (lost,) = recorder.of(DataLost)
            assert (lost.first_missing_seq, lost.resumed_at_seq) == (first_missing, resumed)
            assert lost.instance_id == agent.instance_id
            assert lost.start_ts == newest_read
            newest = max(epoch(o.timestamp) for o in agent.buffer.forward(first_missing, resumed))
            assert lost.end_ts == pytest.approx(newest, abs=1e-6)
            resync = recorder.of(Bootstrap)[2:]
            assert [b.reason for b in resync] == ["out_of_range", "out_of_range"]
            assert all(b.gap == (lost.start_ts, lost.end_ts) for b in resync)
            assert recorder.index(lost) < recorder.index(resync[0])
            for machine in ("M1", "L1"):
                delivered = recorder.sequences(machine)
                assert len(delivered) == len(set(delivered))
                assert delivered == sorted(delivered)
                assert not [s for s in delivered if first_missing <= s < resumed]
            after = held(agent, resumed)
            assert recorder.sequences("M1")[-len(after["M1"]) :] == after["M1"]
            assert client.stats.gaps == 1
            assert client.stats.errors["out_of_range"] == 1
            assert client.stats.lost_sequences == resumed - first_missing
            assert trackers.parts("M1") == feeder.count["m"] - 1  # the first reading is the baseline
            assert trackers.parts("L1") == feeder.count["l"] - 1

    run(main)


@pytest.mark.parametrize("preload", [0, 300], ids=["from-beyond-new-buffer", "new-instance-in-sample"])
def test_agent_restart_is_reported_then_probe_and_current_again(preload: int) -> None:
    """A restarted agent (new instanceId, new buffer) is found either by OUT_OF_RANGE on ``from`` (its
    buffer is shorter) or by the instanceId of a sample: Restarted(old, new), a new probe, a Bootstrap of
    the new instance (reason restart), then deltas of the new instance; no DataLost."""

    async def main() -> None:
        first = make_agent()
        feeder = Feeder(first)
        async with serving(first) as server:
            client = make_client(server.url, MACHINES, interval_s=0.02, count=50)
            recorder = Recorder()
            async with reading(client, recorder):
                await until(lambda: recorder.of(Bootstrap), what="bootstrap")
                feeder.burst(20)
                await until(caught_up(client, first), what="catching up")
                second = make_agent(clock_offset=5.0)
                assert second.instance_id != first.instance_id
                again = Feeder(second)
                again.burst(preload)
                server.restart(second)
                await until(lambda: len(recorder.of(Bootstrap)) == 4, what="the resync")
                again.burst(10)
                await until(caught_up(client, second), what="catching up with the new agent")
            (restarted,) = recorder.of(Restarted)
            assert (restarted.old, restarted.new) == (first.instance_id, second.instance_id)
            probes = recorder.of(Probed)
            assert [p.instance_id for p in probes] == [first.instance_id, second.instance_id]
            boots = recorder.of(Bootstrap)[2:]
            assert {(b.reason, b.instance_id) for b in boots} == {("restart", second.instance_id)}
            assert recorder.index(restarted) < recorder.index(probes[1]) < recorder.index(boots[0])
            assert not recorder.of(DataLost)
            tail = [e for e in recorder.events[recorder.index(boots[-1]) :] if isinstance(e, Observations)]
            assert tail
            assert {e.instance_id for e in tail} == {second.instance_id}
            after = held(second, boots[0].next_sequence)
            assert [o.sequence for e in tail if e.machine == "M1" for o in e.observations] == after["M1"]
            assert client.stats.restarts == 1

    run(main)


def test_network_drop_goes_offline_then_online_and_loses_nothing_the_agent_holds() -> None:
    """While the agent is unreachable the client counts errors and backs off; after offline_after_s it
    reports Offline, and when the agent answers again Online; it resumes from the last nextSequence, so
    every observation recorded during the drop arrives, with no DataLost and no new Bootstrap."""

    async def main() -> None:
        agent = make_agent()
        feeder = Feeder(agent)
        async with serving(agent) as server:
            client = AgentClient(
                server.url,
                MACHINES,
                interval_s=0.05,
                offline_after_s=0.3,
                backoff_min_s=0.05,
                backoff_max_s=0.2,
                timeout_s=1.0,
            )
            recorder = Recorder()
            async with reading(client, recorder):
                await until(lambda: recorder.of(Bootstrap), what="bootstrap")
                start = recorder.of(Bootstrap)[0].next_sequence
                feeder.burst(6)
                await until(caught_up(client, agent), what="catching up")
                drop = asyncio.create_task(server.drop_network(1.2))
                await asyncio.sleep(0.1)
                feeder.burst(15)  # recorded while nobody can read the agent
                await until(lambda: recorder.of(Offline), what="Offline")
                assert not recorder.of(Online)
                await asyncio.wait_for(drop, 3.0)
                await until(lambda: recorder.of(Online), what="Online")
                await until(caught_up(client, agent), what="catching up")
            (offline,) = recorder.of(Offline)
            (online,) = recorder.of(Online)
            assert recorder.index(offline) < recorder.index(online)
            assert online.at >= offline.since
            failures = recorder.of(ReadFailed)
            assert failures
            assert recorder.index(failures[0]) < recorder.index(offline)
            assert sum(client.stats.errors.values()) == len(failures)
            delays = [f.retry_in_s for f in failures]
            assert delays[:3] == [0.05, 0.1, 0.2]
            assert max(delays) == 0.2
            assert not recorder.of(DataLost)
            assert len(recorder.of(Bootstrap)) == 2
            expected = held(agent, start)
            assert recorder.sequences("M1") == expected["M1"]
            assert recorder.sequences("L1") == expected["L1"]
            assert client.stats.online

    run(main)


def test_slow_agent_gets_one_request_at_a_time_and_everything_arrives() -> None:
    """With answers slower (0.25 s) than the poll interval (0.02 s) requests never overlap and all
    observations still arrive."""

    async def main() -> None:
        agent = make_agent()
        feeder = Feeder(agent)
        in_flight = 0
        most = 0

        async def started(*_: Any) -> None:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)

        async def ended(*_: Any) -> None:
            nonlocal in_flight
            in_flight -= 1

        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(started)
        trace.on_request_end.append(ended)
        trace.on_request_exception.append(ended)
        async with serving(agent) as server, aiohttp.ClientSession(trace_configs=[trace]) as session:
            server.slow(0.25)
            # aiohttp's trace sees every request only when they all go through the session.
            client = make_client(server.url, MACHINES, interval_s=0.02, count=10, transport="aiohttp")
            recorder = Recorder()
            async with reading(client, recorder, session):
                await until(lambda: recorder.of(Bootstrap), what="bootstrap")
                start = recorder.of(Bootstrap)[0].next_sequence
                feeder.burst(25)
                await until(caught_up(client, agent), what="catching up")
            expected = held(agent, start)
            assert recorder.sequences("M1") == expected["M1"]
            assert recorder.sequences("L1") == expected["L1"]
            assert most == 1
            assert not client.stats.errors

    run(main)


def test_stop_ends_run_promptly_even_mid_stream() -> None:
    async def main() -> None:
        agent = make_agent()
        async with serving(agent) as server:
            client = AgentClient(server.url, MACHINES, mode="stream", interval_s=0.05, heartbeat_s=5.0)
            recorder = Recorder()
            async with aiohttp.ClientSession() as session:
                task = asyncio.create_task(client.run(session, recorder))
                await until(lambda: client.stats.polls >= 1, what="the first part")
                began = time.monotonic()
                client.stop()
                await asyncio.wait_for(task, 2.0)
                assert time.monotonic() - began < 1.0

    run(main)


def test_bad_settings_are_refused_naming_the_value() -> None:
    with pytest.raises(ValueError, match="ftp://x"):
        AgentClient("ftp://x", MACHINES)
    with pytest.raises(ValueError, match="no devices"):
        AgentClient("http://127.0.0.1:5000", {})
    with pytest.raises(ValueError, match="interval_s"):
        AgentClient("http://127.0.0.1:5000", MACHINES, interval_s=0)


# -- recorded and broken answers ------------------------------------------------------------------


def streams(next_sequence: int, observations: str = "", *, instance: int = 7, first: int = 1) -> bytes:
    """A streams document of device ``mill``/``mill-1`` (schema 1.3, as old agents send)."""
    body = (
        '<DeviceStream name="mill" uuid="mill-1"><ComponentStream component="Path" name="path">'
        f"<Events>{observations}</Events></ComponentStream></DeviceStream>"
        if observations
        else ""
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<MTConnectStreams xmlns="urn:mtconnect.org:MTConnectStreams:1.3">'
        f'<Header creationTime="2024-01-01T00:00:00Z" sender="old" instanceId="{instance}" version="1.3.0.0"'
        f' bufferSize="131072" nextSequence="{next_sequence}" firstSequence="{first}"'
        f' lastSequence="{next_sequence - 1}"/><Streams>{body}</Streams></MTConnectStreams>'
    ).encode()


def execution(sequence: int, value: str, second: int = 0) -> str:
    return (
        f'<Execution dataItemId="m_exec" sequence="{sequence}"'
        f' timestamp="2024-01-01T00:00:{second:02d}Z">{value}</Execution>'
    )


PROBE_13 = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<MTConnectDevices xmlns="urn:mtconnect.org:MTConnectDevices:1.3">'
    b'<Header creationTime="2024-01-01T00:00:00Z" sender="old" instanceId="7" version="1.3.0.0"'
    b' bufferSize="131072" assetBufferSize="1024" assetCount="0"/><Devices>'
    b'<Device id="m" name="mill" uuid="mill-1"><DataItems>'
    b'<DataItem category="EVENT" id="m_avail" type="AVAILABILITY"/></DataItems><Components>'
    b'<Controller id="ct"><Components><Path id="p" name="path"><DataItems>'
    b'<DataItem category="EVENT" id="m_exec" type="EXECUTION"/>'
    b"</DataItems></Path></Components></Controller></Components></Device></Devices></MTConnectDevices>"
)


def legacy_error(code: str, message: str) -> bytes:
    """An error document as agents before 2.6 send it (often with HTTP 200)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<MTConnectError xmlns="urn:mtconnect.org:MTConnectError:1.3">'
        '<Header creationTime="2024-01-01T00:00:00Z" sender="old" instanceId="7" version="1.3.0.0"'
        ' bufferSize="131072"/>'
        f'<Errors><Error errorCode="{code}">{message}</Error></Errors></MTConnectError>'
    ).encode()


HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def test_recorded_mazak_agent_is_read_and_bad_answers_are_survived_and_counted() -> None:
    """The Mazak 1.7 probe and current (text/xml) bind the device and bootstrap it with its active
    Fault and Warnings; a truncated XML, an HTML 502 page and an error document with HTTP 200 are
    counted failures, retried from the same nextSequence until a good answer comes."""
    responses = shared_dir() / "mtconnect" / "responses"
    probe = (responses / "mazak-smoothg_probe_agent-1.7.xml").read_bytes()
    current = (responses / "mazak-smoothg_current_agent-1.7.xml").read_bytes()
    next_sequence = 1881543
    heartbeat = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<MTConnectStreams xmlns="urn:mtconnect.org:MTConnectStreams:1.7">'
        b'<Header creationTime="2021-06-29T05:38:12Z" sender="DMZ-MTCNCT" instanceId="1622761005"'
        b' version="1.7.0.3" bufferSize="4096" nextSequence="1881543" firstSequence="1877447"'
        b' lastSequence="1881542"/><Streams/></MTConnectStreams>'
    )
    server = ReplayServer(
        {
            "/probe": [Reply(probe)],
            "/current": [Reply(current)],
            "/sample": [
                Reply(current[: len(current) // 2]),
                Reply(HTML_502, status=502, content_type="text/html"),
                Reply(legacy_error("QUERY_ERROR", "Something went wrong"), status=200),
                Reply(heartbeat),
            ],
        }
    )

    async def main() -> None:
        async with replaying(server):
            client = make_client(server.url, {"M12346": "MAZAK"}, interval_s=0.02)
            recorder = Recorder()
            trackers = Trackers()
            async with reading(client, both(recorder, trackers)):
                await until(lambda: client.stats.polls >= 2, what="two good polls")
            (probed,) = recorder.of(Probed)
            assert probed.schema_version == "1.7"
            assert probed.devices["MAZAK"].uuid == "M80104K162N"
            (boot,) = recorder.of(Bootstrap)
            assert (boot.instance_id, boot.next_sequence) == (1622761005, next_sequence)
            assert {o.device_name for o in boot.observations} == {"M12346"}
            levels = sorted(str(o.level) for o in boot.observations if o.native_code is not None)
            assert levels == ["FAULT", "WARNING", "WARNING", "WARNING"]
            assert [f.kind for f in recorder.of(ReadFailed)] == ["unparsable", "http", "agent_error"]
            assert client.stats.errors == {"unparsable": 1, "http": 1, "agent_error": 1}
            samples = [r for r in server.requests if r.startswith("/sample")]
            assert all(f"from={next_sequence}" in r for r in samples)
            assert "count=1000" in samples[0]
            assert client.stats.ignored > 0  # the Agent device's observations
            raised = [e for e in trackers.events["MAZAK"] if isinstance(e, AlarmRaised)]
            assert sorted((e.native_code, e.level) for e in raised) == [
                ("230", "FAULT"),
                ("307", "WARNING"),
                ("333", "WARNING"),
                ("351", "WARNING"),
            ]
            assert trackers.trackers["MAZAK"].state == (MachineState.ALARM, "fault")

    run(main)


def test_out_of_range_sent_with_http_200_by_an_old_agent_is_a_data_loss_and_a_resync() -> None:
    """An agent before 2.6 answers a stale ``from`` with an OUT_OF_RANGE error document and HTTP 200:
    DataLost from the unread sequence to the new /current's nextSequence, then the next sample starts
    there."""
    server = ReplayServer(
        {
            "/probe": [Reply(PROBE_13)],
            "/current": [
                Reply(streams(100, execution(99, "ACTIVE", 1))),
                Reply(streams(150, execution(149, "READY", 9), first=120)),
            ],
            "/sample": [
                Reply(
                    legacy_error("OUT_OF_RANGE", "'from' must be greater than or equal to 120."), status=200
                ),
                Reply(streams(151, execution(150, "ACTIVE", 10), first=120)),
            ],
        }
    )

    async def main() -> None:
        async with replaying(server):
            client = make_client(server.url, {"mill": "M1"}, interval_s=0.02)
            recorder = Recorder()
            async with reading(client, recorder):
                await until(lambda: client.stats.observations >= 1, what="the sample after the resync")
            (lost,) = recorder.of(DataLost)
            assert (lost.first_missing_seq, lost.resumed_at_seq) == (100, 150)
            assert lost.end_ts - lost.start_ts == 8.0
            assert [b.reason for b in recorder.of(Bootstrap)] == ["start", "out_of_range"]
            samples = [r for r in server.requests if r.startswith("/sample")]
            assert "from=100" in samples[0]
            assert "from=150" in samples[1]
            assert recorder.sequences("M1")[:1] == [150]
            assert not recorder.of(ReadFailed)

    run(main)


def _part_13(document: bytes, boundary: str) -> bytes:
    """cppagent 1.3's framing: CRLF, boundary, ``Content-type``/``Content-length``, the document."""
    head = f"\r\n--{boundary}\r\nContent-type: text/xml\r\nContent-length: {len(document)}\r\n\r\n"
    return head.encode() + document


def test_old_agents_x_mixed_replace_stream_is_read_part_by_part() -> None:
    """cppagent 1.3 streams ``multipart/x-mixed-replace`` with ``Content-type: text/xml``: data parts and
    empty heartbeats (which advance nextSequence) are read as they arrive; the stream is asked for with
    from, interval and heartbeat."""
    boundary = "0f7c5dd1a1f3d2c49f36f2e3c7a4b5e6"
    chunks = (
        _part_13(streams(101, execution(100, "ACTIVE", 1)), boundary),
        _part_13(streams(101), boundary),
        _part_13(streams(103, execution(101, "READY", 2) + execution(102, "ACTIVE", 3)), boundary)[:40],
        _part_13(streams(103, execution(101, "READY", 2) + execution(102, "ACTIVE", 3)), boundary)[40:],
    )
    server = ReplayServer(
        {
            "/probe": [Reply(PROBE_13)],
            "/current": [Reply(streams(100, execution(99, "READY")))],
            "/sample": [StreamReply(f"multipart/x-mixed-replace;boundary={boundary}", chunks, hold_s=3.0)],
        }
    )

    async def main() -> None:
        async with replaying(server):
            client = make_client(server.url, {"mill-1": "M1"}, mode="stream", interval_s=0.1, heartbeat_s=1.0)
            recorder = Recorder()
            async with reading(client, recorder):
                await until(lambda: client.stats.observations == 3, what="three streamed observations")
            assert recorder.sequences("M1") == [100, 101, 102]
            assert client.stats.heartbeats == 1
            assert client.stats.next_sequence == 103
            (request,) = [r for r in server.requests if r.startswith("/sample")]
            assert "from=100" in request
            assert "interval=100" in request
            assert "heartbeat=1000" in request
            assert not client.stats.errors

    run(main)


def test_error_part_ending_a_stream_resyncs_and_the_stream_is_reopened() -> None:
    """An agent that ends a stream with an OUT_OF_RANGE error part (multipart/mixed): DataLost, /current,
    and a new stream from its nextSequence."""
    boundary = "b0a1"

    def part(document: bytes) -> bytes:
        head = f"--{boundary}\r\nContent-Type: application/xml\r\nContent-Length: {len(document)}\r\n\r\n"
        return head.encode() + document + b"\r\n"

    first = (
        part(streams(11, execution(10, "ACTIVE", 1))),
        part(legacy_error("OUT_OF_RANGE", "'from' must be greater than or equal to 30")),
    )
    second = (part(streams(42, execution(41, "READY", 5), first=30)),)
    server = ReplayServer(
        {
            "/probe": [Reply(PROBE_13)],
            "/current": [Reply(streams(10)), Reply(streams(41, execution(40, "ACTIVE", 4), first=30))],
            "/sample": [
                StreamReply(f"multipart/mixed;boundary={boundary}", first, hold_s=0.0),
                StreamReply(f"multipart/mixed;boundary={boundary}", second, hold_s=3.0),
            ],
        }
    )

    async def main() -> None:
        async with replaying(server):
            client = make_client(server.url, {"mill": "M1"}, mode="stream", interval_s=0.05)
            recorder = Recorder()
            async with reading(client, recorder):
                await until(lambda: client.stats.observations == 2, what="both streams' data")
            (lost,) = recorder.of(DataLost)
            assert (lost.first_missing_seq, lost.resumed_at_seq) == (11, 41)
            assert recorder.sequences("M1") == [10, 41]
            samples = [r for r in server.requests if r.startswith("/sample")]
            assert "from=10" in samples[0]
            assert "from=41" in samples[1]

    run(main)


def test_missing_device_is_reported_in_probed() -> None:
    server = ReplayServer(
        {"/probe": [Reply(PROBE_13)], "/current": [Reply(streams(10))], "/sample": [Reply(streams(10))]}
    )

    async def main() -> None:
        async with replaying(server):
            client = make_client(server.url, {"mill": "M1", "nope": "X9"}, interval_s=0.02)
            recorder = Recorder()
            async with reading(client, recorder):
                await until(lambda: client.stats.polls >= 1, what="a poll")
            (probed,) = recorder.of(Probed)
            assert set(probed.devices) == {"M1"}
            assert probed.missing == ("nope",)
            assert [b.machine for b in recorder.of(Bootstrap)] == ["M1"]

    run(main)


def test_unreachable_agent_goes_offline_with_capped_backoff() -> None:
    """Nothing listens: connect errors, delays doubling from backoff_min_s up to backoff_max_s, and one
    Offline after offline_after_s."""

    async def main() -> None:
        server = ReplayServer({})
        async with replaying(server):
            url = server.url
        client = AgentClient(
            url, {"mill": "M1"}, offline_after_s=0.2, backoff_min_s=0.01, backoff_max_s=0.04, timeout_s=1.0
        )
        recorder = Recorder()
        async with reading(client, recorder):
            await until(lambda: len(recorder.of(ReadFailed)) >= 8, what="eight failures")
        delays = [f.retry_in_s for f in recorder.of(ReadFailed)]
        assert delays[:4] == [0.01, 0.02, 0.04, 0.04]
        assert {f.kind for f in recorder.of(ReadFailed)} == {"connect"}
        assert len(recorder.of(Offline)) == 1
        assert not client.stats.online

    run(main)


def test_state_changes_reach_the_tracker_through_the_client() -> None:
    """End to end on loopback: the execution values the agent records become StateChanged events."""

    async def main() -> None:
        agent = make_agent()
        feeder = Feeder(agent)
        feeder.put("m_avail", "AVAILABLE")
        async with serving(agent) as server:
            client = make_client(server.url, MACHINES, interval_s=0.02)
            trackers = Trackers()
            async with reading(client, trackers):
                await until(lambda: "M1" in trackers.events, what="the probe")
                for value in ("ACTIVE", "READY", "ACTIVE"):
                    feeder.put("m_exec", value)
                    await asyncio.sleep(0.03)
                await until(caught_up(client, agent), what="catching up")
            states = [e.state for e in trackers.events["M1"] if isinstance(e, StateChanged)]
            assert states[-3:] == [MachineState.PRODUCING, MachineState.IDLE, MachineState.PRODUCING]

    run(main)


def test_an_agent_that_silently_skips_to_its_first_sequence_is_a_data_loss_too() -> None:
    """A sample whose firstSequence is past ``from`` (an agent that answers instead of refusing) is
    not taken: DataLost and a resync, as for OUT_OF_RANGE."""
    server = ReplayServer(
        {
            "/probe": [Reply(PROBE_13)],
            "/current": [Reply(streams(100)), Reply(streams(300, execution(299, "READY", 9), first=200))],
            "/sample": [
                Reply(streams(260, execution(259, "ACTIVE", 5), first=200)),
                Reply(streams(301, execution(300, "ACTIVE", 10), first=200)),
            ],
        }
    )

    async def main() -> None:
        async with replaying(server):
            client = make_client(server.url, {"mill": "M1"}, interval_s=0.02)
            recorder = Recorder()
            async with reading(client, recorder):
                await until(lambda: client.stats.observations >= 1, what="the sample after the resync")
            (lost,) = recorder.of(DataLost)
            assert (lost.first_missing_seq, lost.resumed_at_seq) == (100, 300)
            assert recorder.sequences("M1")[:1] == [300]

    run(main)


def test_an_exception_of_the_sink_stops_the_client_and_reaches_the_caller() -> None:
    server = ReplayServer({"/probe": [Reply(PROBE_13)], "/current": [Reply(streams(10))]})

    def sink(event: AgentEvent) -> None:
        if isinstance(event, Bootstrap):
            raise OSError("the store is full")

    async def main() -> None:
        async with replaying(server), aiohttp.ClientSession() as session:
            client = make_client(server.url, {"mill": "M1"})
            with pytest.raises(OSError, match="the store is full"):
                await asyncio.wait_for(client.run(session, sink), 3.0)
            assert not client.stats.errors

    run(main)
