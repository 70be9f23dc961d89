"""The load agents of ``mestwin bench``: valid documents, every produced observation served once across
polls and streams, and timestamps formatted once for every device (as ``_stamp`` formats them)."""

from __future__ import annotations

import asyncio
import re

import pytest

from agent_sim.load_agents import ITEMS_PER_DEVICE, LoadAgents, _query, _stamp, _Stamps, serve
from mes_core.ingest.mtconnect_xml import (
    AgentErrorDocument,
    ProbeDocument,
    StreamsDocument,
    parse_probe,
    parse_streams,
)
from mes_core.ingest.multipart import MultipartReader
from tests.processes import free_port


def agents_with_history(machines: int = 2, seconds: float = 10.0, buffer_size: int = 4096) -> LoadAgents:
    """Load agents at 28 observations per second whose devices already produced ``seconds`` of data."""
    agents = LoadAgents(machines, 28.0, buffer_size, instance=11)
    for device in agents.devices.values():
        device.epoch -= seconds
    return agents


def streams(body: bytes) -> StreamsDocument:
    document = parse_streams(body)
    assert isinstance(document, StreamsDocument), document
    return document


def test_stamps_are_the_reference_format_for_every_millisecond() -> None:
    stamps = _Stamps()
    for ms in [*range(1_767_225_599_000, 1_767_225_601_500, 7), 0, 999, 1_000, 1_700_000_000_123]:
        assert stamps.of_ms(ms) == _stamp(ms / 1000)
    assert stamps.of_ms(1_700_000_000_123) is stamps.of_ms(1_700_000_000_123)  # formatted once


def test_every_device_shares_one_stamp_cache() -> None:
    agents = LoadAgents(3, 28.0)
    assert len({id(device.stamps) for device in agents.devices.values()}) == 1


def test_successive_samples_serve_every_observation_once_in_order() -> None:
    """Polls with a small count walk the buffer: contiguous sequences, nextSequence where the next poll
    starts, 14 items cycling, values and part counts as produced."""
    agents = agents_with_history()
    current = streams(agents.answer("/DEV-1/current")[1])
    assert len(current.observations) == ITEMS_PER_DEVICE
    start = streams(agents.answer("/DEV-1/sample?count=1")[1]).header.first_sequence
    assert start is not None
    seen: list[int] = []
    nxt = start
    for _ in range(30):
        status, body = agents.answer(f"/DEV-1/sample?from={nxt}&count=9")
        assert status == 200
        document = streams(body)
        sequences = [o.sequence for o in document.observations]
        assert len(sequences) == 9
        assert document.header.next_sequence == sequences[-1] + 1
        seen += sequences
        nxt = document.header.next_sequence
    assert seen == list(range(start, start + 270))
    counts = list(streams(agents.answer(f"/DEV-1/sample?from={start}&count=140")[1]).observations)
    parts = [int(o.value or 0) for o in counts if o.element == "PartCount"]
    assert parts == sorted(parts)
    assert len(parts) == 10
    assert {o.device_name for o in counts} == {"DEV-1"}


def test_the_probe_describes_every_item_of_the_samples() -> None:
    agents = agents_with_history(machines=1)
    probe = parse_probe(agents.answer("/DEV-0/probe")[1])
    assert isinstance(probe, ProbeDocument)
    (device,) = probe.devices
    sample = streams(agents.answer("/DEV-0/sample?count=14")[1])
    assert {o.data_item_id for o in sample.observations} == {item.id for item in device.data_items}


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("/DEV-0/sample?from=1", "OUT_OF_RANGE"),
        ("/DEV-9/sample", "NO_DEVICE"),
        ("/DEV-0/sample?from=x", "INVALID_REQUEST"),
    ],
)
def test_bad_requests_get_error_documents(target: str, code: str) -> None:
    agents = agents_with_history(machines=1, seconds=60.0, buffer_size=256)  # sequence 1 was overwritten
    status, body = agents.answer(target)
    assert status in (400, 404)
    error = parse_streams(body)
    assert isinstance(error, AgentErrorDocument)
    assert error.has(code)


def test_a_query_is_read_like_parse_qsl() -> None:
    assert _query("from=12&count=5") == {"from": "12", "count": "5"}
    assert _query("from=&count=5&x") == {"count": "5"}
    assert _query("path=%2F%2FDevice") == {"path": "//Device"}


def test_the_server_answers_polls_on_one_connection_and_streams_parts() -> None:
    """Over loopback: keep-alive polls, then a multipart stream whose parts carry the following sequences."""

    async def main() -> None:
        agents = agents_with_history(machines=2)
        port = free_port()
        server = asyncio.create_task(serve(agents, port, 30.0))
        try:
            for _ in range(100):
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    break
                except OSError:
                    await asyncio.sleep(0.02)
            bodies = []
            for path in ("/DEV-0/probe", "/DEV-0/current", "/DEV-1/sample?count=5"):
                writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3.0)
                length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
                bodies.append(await asyncio.wait_for(reader.readexactly(length), 3.0))
            writer.close()
            nxt = streams(bodies[2]).header.next_sequence
            assert nxt is not None
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET /DEV-1/sample?from={nxt}&interval=50&count=100 HTTP/1.1\r\n\r\n".encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3.0)
            assert b"multipart/mixed;boundary=" in head
            parts = MultipartReader("mestwinloadboundary")
            documents: list[StreamsDocument] = []
            while len(documents) < 3:
                chunk = await asyncio.wait_for(reader.read(65536), 3.0)
                assert chunk
                documents += [streams(part) for part in parts.feed(chunk)]
            writer.close()
        finally:
            server.cancel()
        sequences = [o.sequence for d in documents for o in d.observations]
        assert sequences
        assert sequences == list(range(nxt, nxt + len(sequences)))

    asyncio.run(asyncio.wait_for(main(), 15.0))
