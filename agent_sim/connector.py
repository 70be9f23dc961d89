"""The agent as an SHDR client of a real (or simulated) adapter: connect, heartbeat, reconnect.

Rules of the reference agent (cppagent ``connector.cpp``): after connecting send ``* PING``; a valid
``* PONG <ms>`` starts heartbeats (a PING every ``ms``, the connection dropped after ``2 x ms`` of silence);
without one the connection is "legacy" and dropped after ``legacy_timeout`` of silence; any data counts as
a keep-alive; reconnect every ``reconnect_interval`` (at least 0.5 s). On disconnect, every data item the
adapter had set goes UNAVAILABLE once, and so does the device's availability when ``auto_available``.

Wiring::

    adapter ── TCP ──> ShdrDecoder ──> PONG? heartbeat state : ShdrIngest ──> Agent
       ^                                                     (a bad record is counted, never fatal)
       └── "* PING" on connect, then every heartbeat
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from agent_sim.agent import Agent
from agent_sim.devices import Device
from agent_sim.ingest import ShdrIngest
from agent_sim.shdr import PING, Command, Decoded, ShdrDecoder, pong_interval_ms

__all__ = ["ShdrConnector"]

log = logging.getLogger(__name__)


class ShdrConnector:
    """Feeds ``agent`` for ``device`` from the SHDR adapter at ``host:port``, for as long as it runs.

    ``status`` is the adapter's connection status as the reference agent reports it: LISTEN before the first
    connection, then ESTABLISHED or CLOSED.
    """

    def __init__(
        self,
        agent: Agent,
        device: Device,
        host: str,
        port: int,
        *,
        reconnect_interval: float = 10.0,
        legacy_timeout: float = 600.0,
        heartbeat_ms: int | None = None,
        auto_available: bool = False,
        upcase_values: bool = True,
        ignore_timestamps: bool = False,
    ) -> None:
        if legacy_timeout <= 0:
            raise ValueError(f"legacy_timeout ({legacy_timeout}) must be greater than 0")
        self.agent = agent
        self.device = device
        self.host = host
        self.port = port
        self.reconnect_interval = max(0.5, reconnect_interval)
        self.legacy_timeout = legacy_timeout
        self.heartbeat_override_ms = heartbeat_ms
        self.auto_available = auto_available
        self.status = "LISTEN"
        self.heartbeat_ms: int | None = None
        """The heartbeat of the current connection; None while it is legacy (no valid PONG yet)."""
        self.connections = 0
        self.ingest = ShdrIngest(
            agent,
            device,
            upcase_values=upcase_values,
            ignore_timestamps=ignore_timestamps,
            adapter_uri=self.uri,
        )
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    @property
    def uri(self) -> str:
        """The adapter's URI as the Agent device names it: ``shdr://host:port``."""
        return f"shdr://{self.host}:{self.port}"

    def start(self) -> None:
        self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        """Stop connecting and close the connection (its data goes UNAVAILABLE, as on any disconnect)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_connected(self, timeout: float = 5.0) -> None:
        """Return once connected.

        Raises:
            TimeoutError: not connected within ``timeout`` seconds.
        """
        await asyncio.wait_for(self._connected.wait(), timeout)

    def rebind(self, agent: Agent) -> None:
        """Feed another agent from now on (an agent restart keeps its adapters and their connections).

        Raises:
            ValueError: the new agent has no device of this name or uuid.
        """
        device = agent.model.device(self.device.name) or agent.model.device(self.device.uuid)
        if device is None:
            raise ValueError(f"the new agent has no device {self.device.name!r}")
        old = self.ingest
        self.agent, self.device = agent, device
        self.ingest = ShdrIngest(
            agent,
            device,
            upcase_values=old.upcase_values,
            ignore_timestamps=old.ignore_timestamps,
            adapter_uri=self.uri,
        )
        self.ingest.shdr_version = old.shdr_version  # a setting of the connection, which goes on

    async def run(self) -> None:
        """Connect, read until the connection ends, mark the data unavailable, wait, and do it again."""
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                log.debug("SHDR adapter %s:%d refused: %s", self.host, self.port, exc)
                await asyncio.sleep(self.reconnect_interval)
                continue
            self.connections += 1
            self.status = "ESTABLISHED"
            self.agent.adapter_status(self.uri, "CONNECTION_STATUS", "ESTABLISHED")
            self._connected.set()
            if self.auto_available:
                self._availability("AVAILABLE")
            try:
                await self._session(reader, writer)
            except (OSError, asyncio.IncompleteReadError) as exc:  # TimeoutError is an OSError
                log.info("SHDR adapter %s:%d connection ended: %r", self.host, self.port, exc)
            finally:
                self._connected.clear()
                self.status = "CLOSED"
                self.agent.adapter_status(self.uri, "CONNECTION_STATUS", "CLOSED")
                self.heartbeat_ms = None
                with contextlib.suppress(Exception):
                    writer.close()
                self._disconnected()
            await asyncio.sleep(self.reconnect_interval)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = ShdrDecoder()
        writer.write(PING.encode())
        await writer.drain()
        self.heartbeat_ms = None
        pinger: asyncio.Task[None] | None = None
        try:
            while True:
                timeout = (2 * self.heartbeat_ms / 1000.0) if self.heartbeat_ms else self.legacy_timeout
                data = await asyncio.wait_for(reader.read(65536), timeout)
                if not data:
                    return
                for record in decoder.feed(data):
                    if isinstance(record, Command) and record.key == "pong":
                        interval = self.heartbeat_override_ms or pong_interval_ms(record)
                        if interval and self.heartbeat_ms is None:
                            self.heartbeat_ms = interval
                            pinger = asyncio.create_task(self._ping(writer, interval))
                        continue
                    self._handle(record)
                if pinger is not None and pinger.done():
                    pinger.result()  # a failed heartbeat write ends the session like a failed read
        finally:
            if pinger is not None:
                # Not awaited: awaiting here could swallow the cancellation of this task (stop()).
                pinger.cancel()
                pinger.add_done_callback(_retrieve)

    def _handle(self, record: Decoded) -> None:
        try:
            self.ingest.handle(record)
        except Exception:  # a fault in one record must end neither the connection nor the agent
            self.ingest.stats.malformed += 1
            log.exception("SHDR record from %s:%d could not be applied: %.200r", self.host, self.port, record)

    @staticmethod
    async def _ping(writer: asyncio.StreamWriter, interval_ms: int) -> None:
        while True:
            await asyncio.sleep(interval_ms / 1000.0)
            writer.write(PING.encode())
            await writer.drain()

    def _availability(self, value: str) -> None:
        for item in self.device.data_items:
            if item.type == "AVAILABILITY":
                self.agent.add(item, value)

    def _disconnected(self) -> None:
        items = set(self.ingest.touched)
        if self.auto_available:
            items.update(i for i in self.device.data_items if i.type == "AVAILABILITY")
        # make_unavailable skips items already unavailable, so repeated disconnects add nothing.
        self.agent.make_unavailable(sorted(items, key=lambda i: i.id))


def _retrieve(task: asyncio.Task[None]) -> None:
    """Collect a finished heartbeat task's outcome, so that asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()
