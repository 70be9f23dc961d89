"""Rules of log replay (reference section 2.5), and the real recordings end to end: adapter server replaying
-> TCP -> connector -> agent -> HTTP /current, which must show each recording's final values."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
from lxml import etree

from agent_sim.adapter import ShdrAdapterServer
from agent_sim.agent import Agent
from agent_sim.connector import ShdrConnector
from agent_sim.http import AgentServer
from agent_sim.ingest import IngestStats
from agent_sim.replay import ReplayError, read_log, replay
from agent_sim.shdr import ShdrDecoder, format_timestamp

from .shdr_helpers import (
    RECORDINGS,
    Recording,
    assert_current_matches,
    before_shutdown,
    expected_final_values,
    run,
    sample_ids,
    strip_namespaces,
    wait_until,
)

LOG = [
    "2024-03-01T10:00:00.000000Z|exec|READY|program|O1",
    "2024-03-01T10:00:00.100000Z|@ASSET@|T1|CuttingTool|--multiline--AB",
    '<CuttingTool assetId="T1">',
    "</CuttingTool>",
    "--multiline--AB",
    "|block|no timestamp: the agent's time",
    "* shdrVersion: 2",
    "2024-03-01T10:00:00.200000Z@5.5|Xload|40",
    "2024-03-01T09:59:59.000000Z|exec|ACTIVE",  # out of order: sent at once
    "2024-03-01T10:00:00.300000Z|exec|STOPPED",
]
TIMESTAMPED = {0, 1, 7, 8, 9}


def _collect(speed: float | None, clock: float | None = None) -> list[str]:
    out: list[str] = []

    async def go() -> int:
        if clock is None:
            return await replay(LOG, out.append, speed=speed)
        return await replay(LOG, out.append, speed=speed, clock=lambda: clock)

    assert run(go()) == len(LOG)
    return out


# ------------------------------------------------------------------------------------------ reading logs


def test_read_log_refuses_a_missing_file_naming_its_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.shdr"
    with pytest.raises(ReplayError, match=r"nowhere\.shdr"):
        read_log(path)


@pytest.mark.parametrize("content", ["", "\n\n", "  \r\n\t\n"])
def test_read_log_refuses_an_empty_file_naming_its_path(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.shdr"
    path.write_text(content)
    with pytest.raises(ReplayError, match=re.escape(str(path))):
        read_log(path)


def test_read_log_refuses_a_file_that_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "binary.shdr"
    path.write_bytes(b"\xff\xfe\x00\x01|x|y\n")
    with pytest.raises(ReplayError, match=r"binary\.shdr"):
        read_log(path)


def test_read_log_drops_blank_lines_and_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "log.shdr"
    path.write_text("a|b|1\r\n\n  \nc|d|2\n")
    assert read_log(path) == ["a|b|1", "c|d|2"]


# ------------------------------------------------------------------------------------------ replay


def test_replay_as_fast_as_possible_sends_every_line_in_order_unchanged() -> None:
    assert _collect(None) == [line + "\n" for line in LOG]


def test_paced_replay_sends_every_line_in_order_with_the_time_rewritten_to_now() -> None:
    now = 1_800_000_000.25
    out = _collect(speed=1000.0, clock=now)
    assert len(out) == len(LOG)
    stamp = format_timestamp(now)
    for index, (sent, line) in enumerate(zip(out, LOG, strict=True)):
        if index in TIMESTAMPED:
            assert sent.startswith(stamp)
            assert sent.split("|", 1)[1] == line.split("|", 1)[1] + "\n"
        else:
            assert sent == line + "\n"  # asset body, empty timestamp, command: as recorded
    assert out[7].startswith(stamp + "@5.5|")  # the duration stays


def test_paced_replay_at_high_speed_uses_the_real_clock() -> None:
    before = time.time()
    out = _collect(speed=1e6)
    after = time.time()
    for index in TIMESTAMPED:
        text = out[index].split("|", 1)[0].split("@")[0]
        moment = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        assert before - 1e-6 <= moment <= after + 1e-6


def test_paced_replay_waits_at_least_the_scaled_recorded_gaps() -> None:
    lines = ["2024-03-01T10:00:00Z|exec|READY", "2024-03-01T10:00:03Z|exec|ACTIVE"]
    started = time.monotonic()
    run(replay(lines, lambda line: None, speed=10.0))
    assert time.monotonic() - started >= 0.3 - 0.02  # a lower bound only: never a speed assertion


@pytest.mark.parametrize("speed", [0.0, -1.0])
def test_replay_speed_must_be_positive(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        run(replay(LOG, lambda line: None, speed=speed))


def test_replay_loop_starts_again_at_the_end() -> None:
    class Enough(Exception):
        pass

    out: list[str] = []

    def emit(line: str) -> None:
        if len(out) == 2 * len(LOG) + 1:
            raise Enough
        out.append(line)

    with pytest.raises(Enough):
        run(replay(LOG, emit, speed=None, loop=True))
    assert out[: len(LOG)] == out[len(LOG) : 2 * len(LOG)]


# ------------------------------------------------------------------------------------------ recordings


def _records_in(lines: list[str]) -> int:
    decoder = ShdrDecoder()
    return len(decoder.feed("".join(line + "\n" for line in lines))) + len(decoder.close())


async def _wait_for_records(stats: IngestStats, records: int) -> None:
    await wait_until(lambda: stats.records >= records, f"{records} records at the agent", timeout=8.0)


def _http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
        return body


@pytest.mark.parametrize("recording", RECORDINGS, ids=lambda r: r.device)
def test_recording_replayed_over_tcp_ends_at_its_final_values_in_http_current(recording: Recording) -> None:
    """Adapter server replaying as fast as possible -> TCP -> connector -> agent -> HTTP /current; checked
    before the adapter's closing UNAVAILABLEs (the NIST logs end with them) and at the end."""
    lines = read_log(recording.log_path)
    cut = before_shutdown(lines)
    samples = sample_ids(recording)
    parts = [(lines[:cut], lines[:cut]), (lines[cut:], lines)]

    async def scenario() -> None:
        agent = Agent(recording.devices_path.read_bytes(), sender="test")
        device = agent.model.device(recording.device)
        assert device is not None
        adapter = ShdrAdapterServer("127.0.0.1", 0)
        http = AgentServer(agent, "127.0.0.1", 0)
        await adapter.start()
        await http.start()
        connector = ShdrConnector(agent, device, "127.0.0.1", adapter.port, reconnect_interval=0.5)
        connector.start()
        try:
            await connector.wait_connected(3.0)
            await wait_until(lambda: adapter.clients == 1, "the adapter to register the agent")
            stats = connector.ingest.stats
            for part, so_far in parts:
                assert await replay(part, adapter.send, speed=None) == len(part)
                records = _records_in(so_far)
                await _wait_for_records(stats, records)
                assert stats.records == records
                body = await asyncio.to_thread(_http_get, f"{http.url}/current")
                expected = expected_final_values(recording, so_far)
                assert len(expected) >= 10
                assert_current_matches(strip_namespaces(etree.fromstring(body)), expected, samples)
            assert stats.malformed == 0
            assert connector.connections == 1
            if recording.device == "OKUMA":
                assert {a.asset_id for a in agent.assets.values() if not a.removed} == _asset_ids(lines)
        finally:
            await connector.stop()
            await adapter.stop()
            await http.stop()

    run(scenario(), timeout=20.0)


def _asset_ids(lines: list[str]) -> set[str]:
    return {line.split("|")[2] for line in lines if "|@ASSET@|" in line}


def test_recording_replayed_paced_at_high_speed_carries_the_time_of_now() -> None:
    """Paced replay (the reference simulator's way) rewrites the recorded times to the current time."""
    recording = RECORDINGS[1]  # Hurco01: its hundred days in about a tenth of a second
    lines = read_log(recording.log_path)

    async def scenario() -> None:
        agent = Agent(recording.devices_path.read_bytes(), sender="test")
        device = agent.model.device(recording.device)
        assert device is not None
        adapter = ShdrAdapterServer("127.0.0.1", 0)
        await adapter.start()
        connector = ShdrConnector(agent, device, "127.0.0.1", adapter.port, reconnect_interval=0.5)
        connector.start()
        try:
            await connector.wait_connected(3.0)
            await wait_until(lambda: adapter.clients == 1, "the adapter to register the agent")
            first = agent.buffer.next_sequence
            started = format_timestamp(time.time())
            await replay(lines, adapter.send, speed=1e8)
            stats = connector.ingest.stats
            await wait_until(lambda: stats.lines >= len(lines), "every line at the agent", timeout=8.0)
            replayed = list(agent.buffer.forward(first, agent.buffer.next_sequence))
            assert len(replayed) > 100
            assert all(obs.timestamp >= started for obs in replayed), replayed[0].timestamp
            assert stats.malformed == 0
        finally:
            await connector.stop()
            await adapter.stop()

    run(scenario(), timeout=20.0)
