"""An SHDR adapter server: listens on TCP, sends SHDR lines to every connected agent, answers heartbeats.

Wiring::

    producer (twin bridge, log replay) ── send(lines) ──> ShdrAdapterServer ──> every connected client
                                                               │  on connect: snapshot() lines first
    client ── "* PING" ──> "* PONG <ms>";  anything else from a client is ignored
    a client that stops reading (write buffer over the limit) is disconnected rather than allowed to
    hold memory without bound
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from agent_sim.shdr import Command, ShdrDecoder, pong
from agent_sim.shdr_encode import encode_pair, format_timestamp

__all__ = ["ShdrAdapterServer"]

log = logging.getLogger(__name__)

_FIRST_EPOCH = -62_135_596_800.0
"""0001-01-01T00:00:00Z: the first instant a timestamp can be written for."""
_END_EPOCH = 253_402_300_800.0
"""10000-01-01T00:00:00Z: from here on no timestamp can be written (floats this large step by 30 µs, so
none below it rounds up to it)."""


class ShdrAdapterServer:
    """One SHDR adapter on ``host:port`` (port 0 picks a free one).

    Raises:
        ValueError: ``heartbeat_ms`` outside 0 < ms < 30 min, or ``max_buffer_bytes`` not positive.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 7878,
        *,
        heartbeat_ms: int = 10_000,
        snapshot: Callable[[], str] | None = None,
        max_buffer_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        pong(heartbeat_ms)  # raises ValueError now for a heartbeat no agent would accept
        if max_buffer_bytes < 1:
            raise ValueError(f"max_buffer_bytes ({max_buffer_bytes}) must be positive")
        self.host = host
        self.port = port
        self.heartbeat_ms = heartbeat_ms
        self._snapshot = snapshot
        self._max_buffer = max_buffer_bytes
        self._server: asyncio.base_events.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._pending: list[str | tuple[float, str]] = []
        self._flush_scheduled = False
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.lines_sent = 0

    @property
    def clients(self) -> int:
        """Clients that receive what is sent."""
        return len(self._clients)

    @property
    def connections(self) -> int:
        """Client connections still open, including those being dropped."""
        return len(self._connections)

    async def start(self) -> None:
        """Listen (again, after stop(): on the same port); the port is resolved when it was 0."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and close every client connection."""
        if self._server is not None:
            self._server.close()
            await self.disconnect_all()
            await self._server.wait_closed()
            self._server = None

    async def disconnect_all(self, timeout: float = 2.0) -> None:
        """Drop every connected client (the listening socket stays open, so agents reconnect).

        What was sent is flushed first, for up to ``timeout`` seconds; connections still open then are
        aborted. The connection handlers are left to end by themselves: cancelling the handler of
        ``asyncio.start_server`` makes asyncio log an error.
        """
        connections = dict(self._connections)
        for writer in connections.values():
            self._drop(writer)
        if not connections:
            return
        _, pending = await asyncio.wait(connections, timeout=timeout)
        if pending:
            for task in pending:
                connections[task].transport.abort()
            await asyncio.wait(pending, timeout=1.0)

    def send(self, text: str) -> None:
        """Send one or more complete lines (each ending in a newline) to every client.

        Inside a running event loop, what is sent in one turn of the loop (e.g. everything a twin step emits)
        goes out as one write at the end of that turn, in order; outside one, at once.
        """
        if not text or not self._clients:
            return
        self.lines_sent += text.count("\n")
        self._pending.append(text)
        self._schedule()

    def send_sample(self, epoch: float, key: str, value: str) -> None:
        """Send one value of one field (a sample) taken at ``epoch``, as ``send`` does; the values of one
        instant sent one after another share a line, as an adapter writes the values it sampled together.

        Raises:
            ValueError: a bad key, or a line break in the value.
        """
        if not _FIRST_EPOCH <= epoch < _END_EPOCH:  # also refuses NaN
            raise ValueError(f"epoch ({epoch}) must be a finite instant in years 1..9999")
        if not self._clients:
            return
        self._pending.append((epoch, encode_pair(key, value)))
        self._schedule()

    def _schedule(self) -> None:
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._flush()
            return
        self._flush_scheduled = True
        loop.call_soon(self._flush)

    def _text(self) -> str:
        """What is pending, as lines: consecutive samples of one instant joined into one line."""
        parts: list[str] = []
        run: list[str] = []
        run_epoch = 0.0
        pending, self._pending = self._pending, []  # taken whole: nothing stays behind to fail again
        for entry in pending:
            if isinstance(entry, str):
                if run:
                    parts.append(self._sample_line(run_epoch, run))
                    run = []
                parts.append(entry)
                continue
            epoch, pair = entry
            if run and epoch != run_epoch:
                parts.append(self._sample_line(run_epoch, run))
                run = []
            run_epoch = epoch
            run.append(pair)
        if run:
            parts.append(self._sample_line(run_epoch, run))
        return "".join(parts)

    def _sample_line(self, epoch: float, pairs: list[str]) -> str:
        self.lines_sent += 1
        return f"{format_timestamp(epoch)}|{'|'.join(pairs)}\n"

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._pending:
            return
        text = self._text()
        data = text.encode("utf-8")
        for writer in list(self._clients):
            transport = writer.transport
            if transport.is_closing():
                self._drop(writer)
                continue
            if transport.get_write_buffer_size() > self._max_buffer:
                log.warning("SHDR client on port %d is not reading; disconnecting it", self.port)
                self._drop(writer, abort=True)
                continue
            writer.write(data)

    def _drop(self, writer: asyncio.StreamWriter, *, abort: bool = False) -> None:
        self._clients.discard(writer)
        with contextlib.suppress(Exception):
            if abort:
                # close() would wait to flush a buffer the client never reads, holding it (and the socket)
                # for as long as the client stays; abort() frees both now.
                writer.transport.abort()
            else:
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            if self._snapshot is not None:
                writer.write(self._snapshot().encode("utf-8"))
            self._clients.add(writer)
            decoder = ShdrDecoder()
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                for record in decoder.feed(data):
                    if isinstance(record, Command) and record.key == "ping":
                        writer.write(pong(self.heartbeat_ms).encode())
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._drop(writer)
            del self._connections[task]
