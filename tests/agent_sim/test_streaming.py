"""Streaming /sample and /current over real HTTP (reference sections 1.5 and 1.6): multipart/mixed framing,
the first part at once, data within the interval, heartbeats, and the error part that ends a stream.

Timing is asserted only with generous upper bounds (the machine is shared); order and content are exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable

from lxml import etree

from agent_sim.agent import Agent

from .helpers import Part, Stream, doc, header, make_agent, one, open_stream, put, run, sequences, serving

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def streamed(agent: Agent, target: str, body: Callable[[Stream], Awaitable[None]]) -> None:
    """Serve ``agent``, open a stream on ``target`` and run ``body`` on it (all bounded in time)."""

    async def main() -> None:
        async with serving(agent) as server:
            stream = await open_stream(server.port, target)
            try:
                await body(stream)
            finally:
                stream.close()

    run(main)


async def next_part(stream: Stream, timeout: float = 3.0) -> Part:
    part = await stream.part(timeout)
    assert part is not None, "the stream ended"
    return part


def root(part: Part) -> etree._Element:
    return doc(part.text)


def is_heartbeat(part: Part) -> bool:
    return root(part).xpath("//Streams/*") == [] and "<Streams/>" in part.text


# -- framing ------------------------------------------------------------------------------------


def test_streaming_response_is_chunked_multipart_mixed_with_a_uuid_boundary() -> None:
    async def check(stream: Stream) -> None:
        assert stream.status == 200
        headers = stream.headers
        assert headers["content-type"] == f"multipart/mixed;boundary={stream.boundary}"
        assert UUID.fullmatch(stream.boundary)
        assert headers["transfer-encoding"] == "chunked"
        assert headers["connection"] == "close"
        assert headers["server"] == "MTConnectAgent"
        assert headers["expires"] == "-1"
        assert headers["cache-control"] == "no-cache, no-store, max-age=0"
        await next_part(stream)

    streamed(make_agent(), "/sample?interval=100", check)


def test_each_chunk_is_one_part_with_content_type_and_content_length() -> None:
    async def check(stream: Stream) -> None:
        part = await next_part(stream)  # Stream.part checks the framing: --boundary, headers, CRLF after body
        assert part.headers == {"content-type": "application/xml", "content-length": str(len(part.body))}
        assert part.chunk.startswith(f"--{stream.boundary}\r\n".encode())
        assert part.chunk.endswith(b"</MTConnectStreams>\n\r\n")
        assert root(part).tag == "MTConnectStreams"

    streamed(make_agent(), "/sample?interval=100", check)


def test_json_stream_parts_are_mtconnect_json() -> None:
    async def check(stream: Stream) -> None:
        part = await next_part(stream)
        assert part.headers["content-type"] == "application/mtconnect+json"
        assert part.text.startswith('{"MTConnectStreams"')

    streamed(make_agent(), "/sample?interval=100&format=json", check)


# -- sample stream ------------------------------------------------------------------------------


def test_streaming_sample_sends_the_first_part_at_once() -> None:
    agent = make_agent()
    nxt = agent.buffer.next_sequence

    async def check(stream: Stream) -> None:
        part = await next_part(stream, timeout=3.0)  # heartbeat and interval are far longer than the wait
        assert is_heartbeat(part)
        assert int(header(root(part))["nextSequence"]) == nxt

    streamed(agent, f"/sample?interval=60000&heartbeat=60000&from={nxt}", check)


def test_streaming_sample_without_from_starts_at_the_first_sequence() -> None:
    agent = make_agent()

    async def check(stream: Stream) -> None:
        part = await next_part(stream)
        assert min(sequences(root(part))) == agent.buffer.first_sequence

    streamed(agent, "/sample?interval=1000", check)


def test_streaming_sample_sends_new_data_within_the_interval() -> None:
    agent = make_agent()
    nxt = agent.buffer.next_sequence

    async def check(stream: Stream) -> None:
        assert is_heartbeat(await next_part(stream))
        sequence = put(agent, "line", "204")
        started = time.monotonic()
        part = await next_part(stream, timeout=5.0)
        assert time.monotonic() - started < 5.0  # the heartbeat is 60 s: this part came for the data
        assert one(root(part), "//Line").get("sequence") == str(sequence)
        assert int(header(root(part))["nextSequence"]) == sequence + 1

    streamed(agent, f"/sample?interval=50&heartbeat=60000&from={nxt}", check)


def test_streaming_sample_sends_parts_no_more_often_than_the_interval() -> None:
    agent = make_agent(exponent=10)
    nxt = agent.buffer.next_sequence

    async def check(stream: Stream) -> None:
        await next_part(stream)
        received: list[float] = []

        async def read() -> None:
            while True:
                await next_part(stream, timeout=5.0)
                received.append(time.monotonic())

        reader = asyncio.create_task(read())
        started, value = time.monotonic(), 0
        while time.monotonic() - started < 1.0:
            value += 1
            put(agent, "line", str(value))
            await asyncio.sleep(0.01)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        # data arrives every ~10 ms; with a 300 ms interval at most 1.0 / 0.3 + 2 parts can come in 1 s
        assert 1 <= len(received) <= 5

    streamed(agent, f"/sample?interval=300&heartbeat=10000&from={nxt}", check)


def test_streaming_sample_sends_heartbeat_when_idle() -> None:
    agent = make_agent()
    nxt = agent.buffer.next_sequence

    async def check(stream: Stream) -> None:
        await next_part(stream)
        started = time.monotonic()
        part = await next_part(stream, timeout=1.0)  # 5x the 200 ms heartbeat
        elapsed = time.monotonic() - started
        assert is_heartbeat(part)
        assert elapsed > 0.1  # it waited for the heartbeat, it did not spin
        assert int(header(root(part))["nextSequence"]) == agent.buffer.next_sequence

    streamed(agent, f"/sample?interval=50&heartbeat=200&from={nxt}", check)


def test_streaming_sample_parts_chain_on_next_sequence_with_at_most_count_each() -> None:
    agent = make_agent()
    first = agent.buffer.first_sequence
    total = agent.buffer.next_sequence - first

    async def check(stream: Stream) -> None:
        seen: list[int] = []
        expected_start = first
        while len(seen) < total:
            part = await next_part(stream)
            got = sorted(sequences(root(part)))
            assert len(got) <= 3
            assert got[0] == expected_start
            seen.extend(got)
            expected_start = int(header(root(part))["nextSequence"])
        assert seen == list(range(first, first + total))

    streamed(agent, f"/sample?interval=10&count=3&from={first}", check)


def test_streaming_sample_is_woken_only_by_matching_items() -> None:
    agent = make_agent()
    nxt = agent.buffer.next_sequence

    async def check(stream: Stream) -> None:
        assert is_heartbeat(await next_part(stream))
        for i in range(20):
            put(agent, "exec", "ACTIVE" if i % 2 else "READY")
        sequence = put(agent, "line", "204")
        part = await next_part(stream)
        assert sequences(root(part)) == [sequence]
        assert sequence == nxt + 20

    streamed(
        agent,
        f"/sample?interval=100&heartbeat=10000&count=10&path=//DataItem[@name='line']&from={nxt}",
        check,
    )


def test_stream_ends_with_an_error_part_when_the_client_fell_behind() -> None:
    agent = make_agent(exponent=4)
    nxt = agent.buffer.next_sequence

    async def check(stream: Stream) -> None:
        assert is_heartbeat(await next_part(stream))
        for i in range(40):  # 16 slots: the stream's next sequence is evicted within its interval
            put(agent, "line", str(i))
        part = await next_part(stream)
        error = one(root(part), "//Errors/InternalError")
        assert error.get("errorCode") == "INTERNAL_ERROR"
        assert error.findtext("ErrorMessage") == "Client fell too far behind, disconnecting"
        assert await stream.part() is None  # the final chunk follows the error part
        assert stream.ended

    streamed(agent, f"/sample?interval=300&heartbeat=10000&count=10&from={nxt}", check)


def test_stream_with_a_bad_count_ends_with_an_error_part() -> None:
    async def check(stream: Stream) -> None:
        assert stream.status == 200
        part = await next_part(stream)
        assert root(part).xpath("//Errors/*/@errorCode") == ["OUT_OF_RANGE"]
        assert await stream.part() is None

    streamed(make_agent(), "/sample?interval=100&count=0", check)


def test_client_disconnect_ends_the_stream_and_the_agent_keeps_serving() -> None:
    async def main() -> None:
        agent = make_agent()
        async with serving(agent) as server:
            stream = await open_stream(server.port, "/sample?interval=10&heartbeat=50")
            await next_part(stream)
            stream.close()
            await asyncio.sleep(0.1)
            put(agent, "line", "1")
            again = await open_stream(server.port, "/current?interval=100")
            try:
                assert root(await next_part(again)).tag == "MTConnectStreams"
            finally:
                again.close()

    run(main)


# -- current stream -----------------------------------------------------------------------------


def test_streaming_current_sends_the_current_document_every_interval() -> None:
    agent = make_agent()

    async def check(stream: Stream) -> None:
        first = await next_part(stream)
        assert one(root(first), "//Line").text == "UNAVAILABLE"
        put(agent, "line", "42")
        second = await next_part(stream)
        third = await next_part(stream)
        assert one(root(third), "//Line").text == "42"
        for part in (first, second, third):
            assert int(header(root(part))["lastSequence"]) == int(header(root(part))["nextSequence"]) - 1

    streamed(agent, "/current?interval=50", check)
