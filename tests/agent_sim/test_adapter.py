"""Rules of the SHDR adapter server: fan-out to every client, ``* PING`` -> ``* PONG <ms>``, a bounded
buffer per client (a client that stops reading is dropped, the others are not), all on loopback TCP."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest

from agent_sim.adapter import ShdrAdapterServer

from .shdr_helpers import run, wait_until


async def _client(
    port: int, *, receive_buffer: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if receive_buffer is None:
        return await asyncio.open_connection("127.0.0.1", port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await asyncio.open_connection(sock=sock)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def _read_line(reader: asyncio.StreamReader) -> str:
    return (await asyncio.wait_for(reader.readline(), 3.0)).decode()


def test_adapter_answers_ping_with_pong_and_its_heartbeat() -> None:
    async def scenario() -> None:
        server = ShdrAdapterServer("127.0.0.1", 0, heartbeat_ms=1234)
        await server.start()
        reader, writer = await _client(server.port)
        try:
            writer.write(b"* PING\n")
            assert await _read_line(reader) == "* PONG 1234\n"
            writer.write(b"* PING\r\n* PING\n")  # CRLF too, and every PING
            assert [await _read_line(reader) for _ in range(2)] == ["* PONG 1234\n"] * 2
        finally:
            await _close(writer)
            await server.stop()

    run(scenario())


def test_adapter_sends_every_line_to_every_client() -> None:
    async def scenario() -> None:
        server = ShdrAdapterServer("127.0.0.1", 0)
        await server.start()
        clients = [await _client(server.port) for _ in range(3)]
        try:
            await wait_until(lambda: server.clients == 3, "three clients")
            server.send("2024-03-01T10:00:00Z|exec|ACTIVE\n2024-03-01T10:00:01Z|exec|READY\n")
            for reader, _ in clients:
                assert [await _read_line(reader) for _ in range(2)] == [
                    "2024-03-01T10:00:00Z|exec|ACTIVE\n",
                    "2024-03-01T10:00:01Z|exec|READY\n",
                ]
            assert server.lines_sent == 2
        finally:
            for _, writer in clients:
                await _close(writer)
            await server.stop()

    run(scenario())


def test_adapter_ignores_anything_but_ping_from_a_client() -> None:
    async def scenario() -> None:
        server = ShdrAdapterServer("127.0.0.1", 0, heartbeat_ms=500)
        await server.start()
        reader, writer = await _client(server.port)
        try:
            writer.write(b"garbage\n\xff\xfe\x00\n|exec|ACTIVE\n* PING\n")
            assert await _read_line(reader) == "* PONG 500\n"
            server.send("|exec|READY\n")
            assert await _read_line(reader) == "|exec|READY\n"
        finally:
            await _close(writer)
            await server.stop()

    run(scenario())


def test_adapter_sends_the_snapshot_first_to_a_new_client() -> None:
    async def scenario() -> None:
        server = ShdrAdapterServer("127.0.0.1", 0, snapshot=lambda: "|avail|AVAILABLE\n|exec|READY\n")
        await server.start()
        reader, writer = await _client(server.port)
        try:
            assert [await _read_line(reader) for _ in range(2)] == ["|avail|AVAILABLE\n", "|exec|READY\n"]
            await wait_until(lambda: server.clients == 1, "the client")
            server.send("|exec|ACTIVE\n")
            assert await _read_line(reader) == "|exec|ACTIVE\n"
        finally:
            await _close(writer)
            await server.stop()

    run(scenario())


def test_adapter_drops_a_client_that_stops_reading_and_keeps_the_others() -> None:
    async def scenario() -> None:
        server = ShdrAdapterServer("127.0.0.1", 0, max_buffer_bytes=64 * 1024)
        await server.start()
        stalled_reader, stalled_writer = await _client(server.port, receive_buffer=4096)
        reader, writer = await _client(server.port)
        received = 0

        async def drain() -> None:
            nonlocal received
            while chunk := await reader.read(1 << 16):
                received += len(chunk)

        draining = asyncio.create_task(drain())
        try:
            await wait_until(lambda: server.clients == 2, "two clients")
            line = "|block|" + "x" * 8185 + "\n"  # 8 KiB
            sent = 0
            while server.clients == 2 and sent < 64 * 1024 * 1024:
                server.send(line * 8)
                sent += len(line) * 8
                await asyncio.sleep(0)  # let the reading client read
            assert server.clients == 1, "the client that does not read was never dropped"
            await wait_until(lambda: server.connections == 1, "the dropped connection to be released")
            server.send("|block|LAST\n")
            await wait_until(
                lambda: received >= sent + len("|block|LAST\n"), "everything at the reading client"
            )
            with contextlib.suppress(ConnectionError):  # the stalled client finds its connection gone
                while await asyncio.wait_for(stalled_reader.read(1 << 16), 3.0):
                    pass
        finally:
            draining.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await draining
            for w in (stalled_writer, writer):
                await _close(w)
            await server.stop()

    run(scenario())


def test_disconnect_all_drops_clients_but_keeps_listening() -> None:
    async def scenario() -> None:
        server = ShdrAdapterServer("127.0.0.1", 0)
        await server.start()
        reader, writer = await _client(server.port)
        try:
            await wait_until(lambda: server.clients == 1, "the client")
            await server.disconnect_all()
            assert await asyncio.wait_for(reader.read(), 3.0) == b""  # end of stream
            assert (server.clients, server.connections) == (0, 0)
            reader2, writer2 = await _client(server.port)
            await wait_until(lambda: server.clients == 1, "a new client")
            server.send("|exec|ACTIVE\n")
            assert await _read_line(reader2) == "|exec|ACTIVE\n"
            await _close(writer2)
        finally:
            await _close(writer)
            await server.stop()

    run(scenario())


def test_adapter_restarts_on_the_same_port() -> None:
    async def scenario() -> None:
        server = ShdrAdapterServer("127.0.0.1", 0)
        await server.start()
        port = server.port
        await server.stop()
        await server.start()
        try:
            assert server.port == port
            reader, writer = await _client(port)
            writer.write(b"* PING\n")
            assert await _read_line(reader) == "* PONG 10000\n"
            await _close(writer)
        finally:
            await server.stop()

    run(scenario())


@pytest.mark.parametrize("heartbeat_ms", [0, -1, 30 * 60 * 1000])
def test_adapter_refuses_a_heartbeat_no_agent_would_accept(heartbeat_ms: int) -> None:
    with pytest.raises(ValueError, match=str(heartbeat_ms)):
        ShdrAdapterServer("127.0.0.1", 0, heartbeat_ms=heartbeat_ms)


def test_samples_of_one_instant_share_a_line_and_other_lines_keep_their_place() -> None:
    """What one loop turn sends goes out in order; consecutive samples taken at one instant are one line
    (as an adapter writes the values it sampled together), any other line or instant starts a new one."""

    async def scenario() -> None:
        server = ShdrAdapterServer("127.0.0.1", 0)
        await server.start()
        reader, writer = await _client(server.port)
        try:
            await wait_until(lambda: server.clients == 1, "a client")
            t0 = 1709287200.0  # 2024-03-01T10:00:00Z
            server.send_sample(t0, "Sspeed", "1200.5")
            server.send_sample(t0, "Xpos", "12.25")
            server.send("2024-03-01T10:00:00.000000Z|exec|ACTIVE\n")
            server.send_sample(t0, "Sload", "a|b")  # escaped as one field
            server.send_sample(t0 + 0.5, "Sspeed", "1190")
            lines = [await _read_line(reader) for _ in range(4)]
            assert lines == [
                "2024-03-01T10:00:00.000000Z|Sspeed|1200.5|Xpos|12.25\n",
                "2024-03-01T10:00:00.000000Z|exec|ACTIVE\n",
                '2024-03-01T10:00:00.000000Z|Sload|"a\\|b"\n',
                "2024-03-01T10:00:00.500000Z|Sspeed|1190\n",
            ]
            assert server.lines_sent == 4
            with pytest.raises(ValueError, match="line break"):
                server.send_sample(t0, "Sspeed", "1\n2")
            for bad in (float("nan"), float("inf"), 1e12):  # 1e12: the year 33658
                with pytest.raises(ValueError, match=r"years 1\.\.9999"):
                    server.send_sample(bad, "Sspeed", "1")
            server.send_sample(t0 + 1, "Sspeed", "1180")  # the adapter goes on
            assert await _read_line(reader) == "2024-03-01T10:00:01.000000Z|Sspeed|1180\n"
        finally:
            await _close(writer)
            await server.stop()

    run(scenario())
