"""Reads one MTConnect agent over HTTP for every device it fronts: ``/probe``, one ``/current``, then
``/sample`` deltas, polled or streamed, with recovery that is never silent.

Wiring::

    AgentClient.run(session, sink)
      PROBE    GET /probe    ─ parse_probe ──> bind devices ─────────────────> Probed
      CURRENT  GET /current  ─ parse_streams ─> instanceId, nextSequence ─> [DataLost] Bootstrap per machine
      SAMPLE   poll:   GET /sample?from=<next>&count=<n> every interval_s (at once while there is more)
               stream: GET /sample?from=<next>&interval=<ms>&heartbeat=<ms> ─ MultipartReader ─ parts
                        ─ parse_streams ──> Observations per machine; next = header nextSequence
      recovery: OUT_OF_RANGE (error document, any HTTP status, or an error part) ─> CURRENT, then DataLost
                instanceId changed ──────────────────────────────> Restarted, then PROBE and CURRENT again
                transport error, timeout, HTML page, truncated XML ─> ReadFailed, retry with capped
                    exponential backoff from the last good nextSequence; Offline after offline_after_s
                    without an answer, Online at the next one

The sink is called synchronously, in order, from the client's task. Only data timestamps go into
``DataLost``; ``Offline``/``Online`` and the lag use the injected ``clock`` ("now"). Every request has a
timeout and every body a size limit; ``stop()`` ends ``run``.

Requests (probe, current, polled samples) to a plain ``http://`` agent go over the client's own keep-alive
connection (``http1.HttpConnection``, a fraction of aiohttp's CPU per request); streams, ``https://`` and
URLs with user info go through the aiohttp session (``transport="aiohttp"`` sends everything there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from operator import attrgetter
from types import MappingProxyType
from typing import Final, Literal

import aiohttp

from mes_core.ingest.http1 import HttpConnection, HttpError
from mes_core.ingest.mtconnect_xml import (
    AgentErrorDocument,
    DeviceInfo,
    ProbeDocument,
    StreamObservation,
    StreamsDocument,
    Unparsable,
    parse_probe,
    parse_streams,
)
from mes_core.ingest.multipart import MultipartReader, boundary_of

__all__ = [
    "AgentClient",
    "AgentEvent",
    "Bootstrap",
    "ClientStats",
    "DataLost",
    "Observations",
    "Offline",
    "Online",
    "Probed",
    "ReadFailed",
    "Restarted",
]

_log = logging.getLogger(__name__)

ResyncReason = Literal["start", "out_of_range", "restart", "resume"]
"""Why a Bootstrap came: the first read, data lost, an agent restart, or a reader resuming from its cursor
(its observations all lie before the cursor, so they were read and stored before)."""


# -- events ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probed:
    """The agent's devices were read (at start and after every restart of the agent)."""

    instance_id: int
    devices: Mapping[str, DeviceInfo]
    """Machine key -> the device of the probe it reads."""
    missing: tuple[str, ...]
    """Configured device names or uuids the probe does not have."""
    schema_version: str | None


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """One machine's whole current state from ``/current``: at start, and after data was lost or the
    agent restarted.

    It repeats the latest value of every item, observations already delivered included; consumers skip
    those by (``instance_id``, sequence), as ``MachineTracker`` does.
    """

    machine: str
    instance_id: int
    next_sequence: int
    observations: tuple[StreamObservation, ...]
    reason: ResyncReason
    gap: tuple[float, float] | None
    """For a resync: (start, end) data timestamps between which observations were lost; else None."""


@dataclass(frozen=True, slots=True)
class Observations:
    """New observations of one machine, in sequence order, each delivered once."""

    machine: str
    instance_id: int
    observations: tuple[StreamObservation, ...]


@dataclass(frozen=True, slots=True)
class DataLost:
    """The agent's buffer moved past the reader: sequences from ``first_missing_seq`` up to (not
    including) ``resumed_at_seq`` were not read; only their latest values per item came back with the
    ``/current`` that follows. ``start_ts`` .. ``end_ts``: the data timestamps between which the lost
    observations lie (the newest observation read before, the newest in that ``/current``)."""

    instance_id: int
    first_missing_seq: int
    resumed_at_seq: int
    start_ts: float
    end_ts: float


@dataclass(frozen=True, slots=True)
class Restarted:
    """The agent's ``instanceId`` changed (its buffer starts anew); the client probes and resyncs.
    ``since_ts`` is the newest observation timestamp read from the old instance (None if none)."""

    old: int
    new: int
    since_ts: float | None


@dataclass(frozen=True, slots=True)
class Offline:
    """No answer for ``offline_after_s``; ``since`` is when (``clock``) the agent last answered."""

    since: float


@dataclass(frozen=True, slots=True)
class Online:
    """The agent answers again (at ``at`` on the client's ``clock``), after an ``Offline``."""

    at: float


@dataclass(frozen=True, slots=True)
class ReadFailed:
    """A request failed (``kind``: connect, timeout, disconnected, http, unparsable, agent_error,
    too_large); the client retries in ``retry_in_s`` from where it was."""

    kind: str
    detail: str
    retry_in_s: float


AgentEvent = Probed | Bootstrap | Observations | DataLost | Restarted | Offline | Online | ReadFailed
"""Everything an ``AgentClient`` delivers to its sink."""


@dataclass
class ClientStats:
    """Counters of one agent's reader (for the metrics endpoint); they only grow, but ``lag_s``,
    ``online``, ``instance_id`` and ``next_sequence``, which say how things are now."""

    requests: int = 0
    """HTTP requests sent (a stream is one)."""
    polls: int = 0
    """``/sample`` documents taken: poll answers and stream parts (heartbeats included)."""
    heartbeats: int = 0
    """Documents without observations (empty ``<Streams/>``)."""
    observations: int = 0
    """Observations delivered in ``Observations`` events."""
    ignored: int = 0
    """Observations of devices the client was not asked for (the Agent device, others)."""
    duplicates: int = 0
    """Observations dropped because their sequence was already read."""
    bootstraps: int = 0
    gaps: int = 0
    """``DataLost`` events."""
    lost_sequences: int = 0
    """Sequences skipped by the gaps (at most this many observations were lost)."""
    restarts: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    """Failures by kind (see ``ReadFailed``), plus ``out_of_range``."""
    lag_s: float | None = None
    """``clock()`` at delivery minus the newest timestamp delivered, for the last batch."""
    max_lag_s: float = 0.0
    online: bool = False
    instance_id: int | None = None
    next_sequence: int | None = None


class _Failure(Exception):
    """A failed request: what kind, and why."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


_PROBE, _CURRENT, _SAMPLE = "probe", "current", "sample"
_timestamp_of = attrgetter("timestamp")
_MiB: Final = 1024 * 1024


class AgentClient:
    """Reads ONE agent (``base_url``) for the devices ``devices`` maps to machine keys.

    Example::

        client = AgentClient("http://10.0.0.5:5000", {"VF2-1": "HAAS-VF2-001"}, interval_s=0.5)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            await client.run(session, sink)      # until client.stop()

    One request at a time, so one keep-alive connection per agent. Observations of other devices (the
    Agent device included) are counted in ``stats.ignored`` and dropped.
    """

    def __init__(
        self,
        base_url: str,
        devices: Mapping[str, str],
        *,
        mode: Literal["poll", "stream"] = "poll",
        interval_s: float = 0.5,
        count: int = 1000,
        heartbeat_s: float = 10.0,
        timeout_s: float = 10.0,
        offline_after_s: float = 10.0,
        backoff_min_s: float = 0.1,
        backoff_max_s: float = 5.0,
        max_body_bytes: int = 64 * _MiB,
        clock: Callable[[], float] = time.time,
        resume: tuple[int, int] | None = None,
        transport: Literal["auto", "aiohttp"] = "auto",
        room: asyncio.Event | None = None,
    ) -> None:
        """A reader of the agent at ``base_url`` (``http://host:port``, optionally with a path prefix).

        ``devices`` maps a device name or uuid at that agent to the machine key the events carry.
        ``interval_s`` is the poll period (stream mode: the agent's ``interval``); ``count`` the most
        observations per document (capped at the agent's buffer size); ``heartbeat_s`` the stream's
        heartbeat (a stream silent for twice that is dropped and reopened); ``timeout_s`` bounds every
        request (a stream's connect and each read). ``transport``: ``auto`` sends the requests to a plain
        ``http://`` agent over the client's own connection (see the module's docstring), ``aiohttp`` sends
        every request through the session. ``room`` is the consumer's backpressure: while it is clear the
        client sends no request and hands over no streamed part; it waits, and reads on from where it was
        (an agent whose buffer moved past it meanwhile is a ``DataLost``, as ever).

        Raises:
            ValueError: a URL that is not http(s), no devices, an unknown mode or transport, or a bad number.
        """
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"agent URL {base_url!r} must start with http:// or https://")
        if not devices:
            raise ValueError(f"agent {base_url}: no devices to read")
        if mode not in ("poll", "stream"):
            raise ValueError(f"mode {mode!r} must be 'poll' or 'stream'")
        if transport not in ("auto", "aiohttp"):
            raise ValueError(f"transport {transport!r} must be 'auto' or 'aiohttp'")
        for label, value in (
            ("interval_s", interval_s),
            ("heartbeat_s", heartbeat_s),
            ("timeout_s", timeout_s),
            ("offline_after_s", offline_after_s),
            ("backoff_min_s", backoff_min_s),
        ):
            if not value > 0:
                raise ValueError(f"{label} ({value!r}) must be > 0")
        if backoff_max_s < backoff_min_s:
            raise ValueError(
                f"backoff_max_s ({backoff_max_s!r}) must be >= backoff_min_s ({backoff_min_s!r})"
            )
        if count < 1 or max_body_bytes < 1:
            raise ValueError(f"count ({count!r}) and max_body_bytes ({max_body_bytes!r}) must be >= 1")
        self.base_url = base_url.rstrip("/")
        self.devices: Mapping[str, str] = MappingProxyType(dict(devices))
        self.mode = mode
        self.interval_s = interval_s
        self._wake: asyncio.Event | None = None
        self.count = count
        self.heartbeat_s = heartbeat_s
        self.offline_after_s = offline_after_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.max_body_bytes = max_body_bytes
        self.stats = ClientStats()
        self._clock = clock
        self._timeout_s = timeout_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._room = room
        self._http: HttpConnection | None = None
        if transport == "auto" and HttpConnection.supports(self.base_url):
            self._http = HttpConnection(self.base_url, max_body_bytes=max_body_bytes)
        self._stream_timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout_s, sock_read=2 * heartbeat_s + interval_s + timeout_s
        )
        # where the reader is
        self._phase = _PROBE
        self._instance: int | None = None
        self._resume = resume
        """(instanceId, nextSequence) read up to before a restart of the reader: resumed when the agent still
        is that instance and still holds that sequence, so nothing it holds is lost."""
        self._next: int | None = None
        self._buffer_size: int | None = None
        self._count_cap: int | None = None
        self._by_uuid: dict[str, str] = {}
        self._by_name: dict[str, str] = {}
        self._machines: tuple[str, ...] = ()
        self._newest: float | None = None
        """The newest observation timestamp read from the agent (data time)."""
        self._reason: ResyncReason = "start"
        self._first_missing: int | None = None
        self._gap_start: float | None = None
        # health
        self._failures = 0
        self._last_ok = 0.0
        self._last_ok_at = 0.0
        self._offline = False
        self._stopped = False
        self._stop_event: asyncio.Event | None = None

    # -- control ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Make ``run`` return (soon: at once from any wait). Call it from the event loop's thread."""
        self._stopped = True
        if self._stop_event is not None:
            self._stop_event.set()

    async def run(self, session: aiohttp.ClientSession, sink: Callable[[AgentEvent], None]) -> None:
        """Read the agent until ``stop()``, delivering every event to ``sink``.

        Raises:
            Exception: whatever ``sink`` raises (the client stops).
        """
        self._stop_event = asyncio.Event()
        if self._stopped:
            return
        self._last_ok, self._last_ok_at = time.monotonic(), self._clock()
        main = asyncio.ensure_future(self._loop(session, sink))
        stopping = asyncio.ensure_future(self._stop_event.wait())
        try:
            await asyncio.wait({main, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (main, stopping):
                task.cancel()
            try:
                for task in (main, stopping):
                    with contextlib.suppress(asyncio.CancelledError):
                        await task  # re-raises what the sink raised
            finally:
                if self._http is not None:
                    await self._http.aclose()

    async def _loop(self, session: aiohttp.ClientSession, sink: Callable[[AgentEvent], None]) -> None:
        room = self._room
        while True:
            try:
                while room is not None and not room.is_set():  # all waiters wake at once: look again
                    await room.wait()
                if self._phase == _PROBE:
                    await self._probe(session, sink)
                elif self._phase == _CURRENT:
                    await self._current(session, sink)
                elif self.mode == "poll":
                    await self._poll(session, sink)
                else:
                    await self._stream(session, sink)
            except _Failure as failure:
                await self._failed(failure, sink)

    # -- health ----------------------------------------------------------------------------------

    def _answered(self, sink: Callable[[AgentEvent], None]) -> None:
        """The agent answered with an MTConnect document."""
        self._failures = 0
        self._last_ok, self._last_ok_at = time.monotonic(), self._clock()
        self.stats.online = True
        if self._offline:
            self._offline = False
            _log.info("agent %s answers again", self.base_url)
            sink(Online(self._last_ok_at))

    async def _failed(self, failure: _Failure, sink: Callable[[AgentEvent], None]) -> None:
        self.stats.errors[failure.kind] += 1
        self._failures += 1
        delay = min(self.backoff_max_s, self.backoff_min_s * 2 ** min(self._failures - 1, 30))
        level = logging.WARNING if self._failures == 1 else logging.DEBUG
        _log.log(level, "agent %s: %s (retry %d in %.2f s)", self.base_url, failure, self._failures, delay)
        sink(ReadFailed(failure.kind, failure.detail, delay))
        if not self._offline and time.monotonic() - self._last_ok >= self.offline_after_s:
            self._offline = True
            self.stats.online = False
            _log.warning("agent %s offline: no answer for %.1f s", self.base_url, self.offline_after_s)
            sink(Offline(self._last_ok_at))
        await asyncio.sleep(delay)

    # -- HTTP ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """aiohttp's and the OS's exceptions as ``_Failure``s."""
        try:
            yield
        except TimeoutError as exc:
            raise _Failure("timeout", f"no answer in time ({type(exc).__name__})") from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            raise _Failure("disconnected", str(exc) or type(exc).__name__) from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise _Failure("connect", str(exc) or type(exc).__name__) from exc
        except aiohttp.ClientError as exc:
            raise _Failure("http", str(exc) or type(exc).__name__) from exc

    async def _body(self, response: aiohttp.ClientResponse) -> bytes:
        length = response.content_length
        if length is not None and length > self.max_body_bytes:
            raise _Failure("too_large", f"{length} bytes (limit {self.max_body_bytes})")
        body = bytearray()
        async for chunk in response.content.iter_chunked(256 * 1024):
            body += chunk
            if len(body) > self.max_body_bytes:
                raise _Failure("too_large", f"over {self.max_body_bytes} bytes")
        return bytes(body)

    async def _get(
        self, session: aiohttp.ClientSession, path: str, query: Mapping[str, str]
    ) -> tuple[int, bytes]:
        self.stats.requests += 1
        if self._http is not None:
            try:
                async with asyncio.timeout(self._timeout_s):
                    return await self._http.get(path, query)
            except TimeoutError as exc:
                raise _Failure("timeout", f"no answer in time ({type(exc).__name__})") from exc
            except HttpError as exc:
                raise _Failure(exc.kind, exc.detail) from exc
        with self._translated():
            async with session.get(self.base_url + path, params=query, timeout=self._timeout) as response:
                return response.status, await self._body(response)

    @staticmethod
    def _probe_document(status: int, body: bytes) -> ProbeDocument | AgentErrorDocument:
        """The parsed /probe answer, or a failure for a body that is none (an HTML page, cut-off XML)."""
        document = parse_probe(body)
        if isinstance(document, Unparsable):
            raise _unusable(status, document)
        return document

    @staticmethod
    def _streams_document(status: int, body: bytes) -> StreamsDocument | AgentErrorDocument:
        """The parsed /current or /sample answer (or stream part), or a failure for a body that is none."""
        document = parse_streams(body)
        if isinstance(document, Unparsable):
            raise _unusable(status, document)
        return document

    # -- phases ----------------------------------------------------------------------------------

    async def _probe(self, session: aiohttp.ClientSession, sink: Callable[[AgentEvent], None]) -> None:
        status, body = await self._get(session, "/probe", {})
        document = self._probe_document(status, body)
        self._answered(sink)
        if isinstance(document, AgentErrorDocument):
            raise _Failure("agent_error", _describe(document))
        self._check_instance(document.header.instance_id, sink)
        self._instance = self.stats.instance_id = document.header.instance_id
        self._bind(document, sink)
        if document.header.buffer_size:
            self._buffer_size = document.header.buffer_size
        self._phase = _CURRENT

    def _bind(self, document: ProbeDocument, sink: Callable[[AgentEvent], None]) -> None:
        found: dict[str, DeviceInfo] = {}
        missing: list[str] = []
        self._by_uuid, self._by_name = {}, {}
        for key, machine in self.devices.items():
            device = next((d for d in document.devices if not d.is_agent and key in (d.name, d.uuid)), None)
            if device is None:
                missing.append(key)
                continue
            found[machine] = device
            if device.uuid:
                self._by_uuid[device.uuid] = machine
            if device.name:
                self._by_name[device.name] = machine
        if missing:
            _log.warning("agent %s has no device %s", self.base_url, ", ".join(map(repr, missing)))
        self._machines = tuple(found)
        sink(
            Probed(
                document.header.instance_id, MappingProxyType(found), tuple(missing), document.schema_version
            )
        )

    async def _current(self, session: aiohttp.ClientSession, sink: Callable[[AgentEvent], None]) -> None:
        status, body = await self._get(session, "/current", {})
        document = self._streams_document(status, body)
        self._answered(sink)
        if isinstance(document, AgentErrorDocument):
            raise _Failure("agent_error", _describe(document))
        header = document.header
        resume, self._resume = self._resume, None
        resumed = False
        if (
            resume is not None
            and self._reason == "start"
            and resume[0] == header.instance_id
            and header.first_sequence is not None
            and header.next_sequence is not None
            and header.first_sequence <= resume[1] - 1 < header.next_sequence
        ):
            # The state as of the cursor, then every observation after it: what the agent holds is not lost.
            status, body = await self._get(session, "/current", {"at": str(resume[1] - 1)})
            document = self._streams_document(status, body)
            if isinstance(document, AgentErrorDocument):
                raise _Failure("agent_error", _describe(document))
            header = replace(document.header, next_sequence=resume[1])
            resumed = True
        if self._check_instance(header.instance_id, sink):
            return
        assert header.next_sequence is not None  # the parser requires it in a streams header
        observations = document.observations
        newest = max((o.timestamp for o in observations), default=None)
        gap: tuple[float, float] | None = None
        if self._reason != "start":
            # The newest data time read before; with none at all (nothing was ever read), the gap is empty
            # in time but still reported.
            start = next((t for t in (self._gap_start, self._newest, newest) if t is not None), None)
            if start is None:
                start = self._clock()
            end = max(start, newest if newest is not None else start)
            gap = (start, end)
            if self._reason == "out_of_range" and self._first_missing is not None:
                lost = DataLost(header.instance_id, self._first_missing, header.next_sequence, start, end)
                self.stats.gaps += 1
                self.stats.lost_sequences += max(0, header.next_sequence - self._first_missing)
                _log.warning(
                    "agent %s: sequences %d..%d lost (buffer overrun); resynced from /current",
                    self.base_url,
                    self._first_missing,
                    header.next_sequence - 1,
                )
                sink(lost)
        grouped = self._group(observations)
        self.stats.bootstraps += 1
        self.stats.next_sequence = header.next_sequence  # before delivering: see _take
        for machine in self._machines:
            sink(
                Bootstrap(
                    machine,
                    header.instance_id,
                    header.next_sequence,
                    tuple(grouped.get(machine, ())),
                    "resume" if resumed else self._reason,
                    gap,
                )
            )
        if newest is not None and (self._newest is None or newest > self._newest):
            self._newest = newest
        if header.buffer_size:
            self._buffer_size = header.buffer_size
        self._next = self.stats.next_sequence = header.next_sequence
        self._reason, self._first_missing, self._gap_start = "start", None, None
        self._phase = _SAMPLE

    async def _poll(self, session: aiohttp.ClientSession, sink: Callable[[AgentEvent], None]) -> None:
        started = time.monotonic()
        status, body = await self._get(session, "/sample", self._sample_query())
        document = self._streams_document(status, body)
        self._answered(sink)
        more = self._take(document, sink)
        if not more and self._phase == _SAMPLE:
            await self._pause(max(0.0, started + self.interval_s - time.monotonic()))

    async def _pause(self, seconds: float) -> None:
        """Wait until the next poll is due, or until ``wake()``."""
        if self._wake is None:
            self._wake = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    def wake(self) -> None:
        """Poll now rather than at the next interval (a driver that knows the agent has news, e.g. a harness
        stepping a twin in virtual time). Call it from the client's event loop."""
        if self._wake is not None:
            self._wake.set()

    async def _stream(self, session: aiohttp.ClientSession, sink: Callable[[AgentEvent], None]) -> None:
        query = self._sample_query()
        query["interval"] = str(round(self.interval_s * 1000))
        query["heartbeat"] = str(max(1, round(self.heartbeat_s * 1000)))
        self.stats.requests += 1
        with self._translated():
            response = await session.get(
                self.base_url + "/sample", params=query, timeout=self._stream_timeout
            )
        try:
            boundary = boundary_of(response.headers.get("Content-Type", ""))
            if boundary is None:  # an error before the stream began, or an agent that does not stream
                with self._translated():
                    body = await self._body(response)
                document = self._streams_document(response.status, body)
                self._answered(sink)
                if not self._take(document, sink) and self._phase == _SAMPLE:
                    await asyncio.sleep(self.interval_s)
                return
            reader = MultipartReader(boundary, max_part_bytes=self.max_body_bytes)
            while not reader.closed:
                with self._translated():  # only the network: the sink's own errors are not failures
                    chunk = await response.content.readany()
                if not chunk:
                    break
                parts = reader.feed(chunk)
                for part in parts:
                    while self._room is not None and not self._room.is_set():
                        await self._room.wait()
                    document = self._streams_document(response.status, part)
                    self._answered(sink)
                    self._take(document, sink)
                    if self._phase != _SAMPLE:
                        return
                if reader.dropped:
                    raise _Failure("too_large", f"a stream part over {self.max_body_bytes} bytes")
                if parts:
                    # A chunk at a time: with thousands of streams, a reader that had more buffered would
                    # otherwise hold the loop (and the writer's flushes) for the whole of it.
                    await asyncio.sleep(0)
        finally:
            response.close()  # a stream's connection is never reused
        raise _Failure("disconnected", "the agent ended the stream")

    def _sample_query(self) -> dict[str, str]:
        assert self._next is not None  # set by /current before any sample
        count = self.count
        if self._buffer_size:
            count = min(count, self._buffer_size)
        if self._count_cap is not None:
            count = min(count, self._count_cap)
        return {"from": str(self._next), "count": str(count)}

    # -- documents -------------------------------------------------------------------------------

    def _take(
        self, document: StreamsDocument | AgentErrorDocument, sink: Callable[[AgentEvent], None]
    ) -> bool:
        """Deliver a sample document (or handle an error document).

        Returns:
            Whether the agent holds more than this document gave (fetch again at once).

        Raises:
            _Failure: an error document other than OUT_OF_RANGE on ``from``.
        """
        if isinstance(document, AgentErrorDocument):
            self._agent_error(document)
            return False
        header = document.header
        if self._check_instance(header.instance_id, sink):
            return False
        assert self._next is not None
        assert header.next_sequence is not None  # the parser requires it in a streams header
        if header.first_sequence is not None and header.first_sequence > self._next:
            # An agent that answers from its first sequence instead of refusing ``from``: same loss.
            self._lost(f"firstSequence {header.first_sequence} is past from={self._next}")
            return False
        self.stats.polls += 1
        observations = document.observations
        # Sorted by sequence: when the first is new, all are (the usual case, checked in O(1)).
        if observations and observations[0].sequence >= self._next:
            fresh: tuple[StreamObservation, ...] | list[StreamObservation] = observations
        else:
            fresh = [o for o in observations if o.sequence >= self._next]
        self.stats.duplicates += len(observations) - len(fresh)
        if not observations:
            self.stats.heartbeats += 1
        following = max(self._next, header.next_sequence)
        # Advanced before delivering, so a consumer saving a cursor while handling it covers this document.
        self.stats.next_sequence = following
        if fresh:
            self._deliver(header.instance_id, fresh, sink)
        self._next = following
        return header.last_sequence is not None and self._next <= header.last_sequence

    def _agent_error(self, document: AgentErrorDocument) -> None:
        """OUT_OF_RANGE on ``from`` is a buffer overrun: resync. Any other error document is a failure
        (OUT_OF_RANGE on ``count`` halves the count first)."""
        if document.has("OUT_OF_RANGE"):
            text = " ".join(message for code, message in document.errors if code == "OUT_OF_RANGE").lower()
            if "count" in text and "from" not in text:
                self._count_cap = max(1, int(self._sample_query()["count"]) // 2)
                raise _Failure("agent_error", _describe(document))
            self.stats.errors["out_of_range"] += 1
            self._lost(_describe(document))
            return
        raise _Failure("agent_error", _describe(document))

    def _lost(self, why: str) -> None:
        _log.warning(
            "agent %s: from=%s is out of the buffer (%s); resync from /current",
            self.base_url,
            self._next,
            why,
        )
        if self._first_missing is None:
            self._first_missing = self._next
            self._gap_start = self._newest
        if self._reason == "start":
            self._reason = "out_of_range"
        self._phase = _CURRENT

    def _check_instance(self, instance_id: int, sink: Callable[[AgentEvent], None]) -> bool:
        """Whether the agent restarted (a new ``instanceId``); if so: Restarted, and probe again."""
        old = self._instance
        if old is None or instance_id == old:
            return False
        self.stats.restarts += 1
        _log.warning(
            "agent %s restarted (instanceId %d -> %d); probing again", self.base_url, old, instance_id
        )
        if self._reason != "restart":
            self._gap_start = self._newest if self._gap_start is None else self._gap_start
        self._reason, self._first_missing = "restart", None
        self._instance = self.stats.instance_id = instance_id
        self._next = None
        self._phase = _PROBE
        sink(Restarted(old, instance_id, self._newest))
        return True

    def _group(
        self, observations: tuple[StreamObservation, ...] | list[StreamObservation]
    ) -> dict[str, list[StreamObservation]]:
        """The observations of the devices read, per machine, in order; others are counted as ignored."""
        grouped: dict[str, list[StreamObservation]] = {}
        by_uuid, by_name = self._by_uuid, self._by_name
        # The parser gives every observation of one DeviceStream the same name and uuid strings, so the
        # machine of the previous observation is reused while they are the very same objects.
        last_uuid: str | None = None
        last_name: str | None = None
        batch: list[StreamObservation] | None = None
        for obs in observations:
            uuid, name = obs.device_uuid, obs.device_name
            if uuid is not last_uuid or name is not last_name:
                last_uuid, last_name = uuid, name
                machine = by_uuid.get(uuid) if uuid else None
                if machine is None:
                    machine = by_name.get(name)
                batch = None if machine is None else grouped.setdefault(machine, [])
            if batch is None:
                self.stats.ignored += 1
            else:
                batch.append(obs)
        return grouped

    def _deliver(
        self,
        instance_id: int,
        observations: tuple[StreamObservation, ...] | list[StreamObservation],
        sink: Callable[[AgentEvent], None],
    ) -> None:
        newest = max(map(_timestamp_of, observations))
        if self._newest is None or newest > self._newest:
            self._newest = newest
        grouped = self._group(observations)
        if not grouped:
            return
        lag = self._clock() - newest
        self.stats.lag_s = lag
        self.stats.max_lag_s = max(self.stats.max_lag_s, lag)
        for machine, batch in grouped.items():
            self.stats.observations += len(batch)
            sink(Observations(machine, instance_id, tuple(batch)))


def _unusable(status: int, document: Unparsable) -> _Failure:
    """The failure for a body that is no MTConnect document: ``http`` with an error status, else
    ``unparsable``."""
    return _Failure("http" if status >= 400 else "unparsable", f"HTTP {status}: {document.reason}")


def _describe(document: AgentErrorDocument) -> str:
    return "; ".join(f"{code}: {message}" for code, message in document.errors) or "an empty error document"
