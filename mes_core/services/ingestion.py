"""Ingestion: every registered MTConnect machine read from its agent, tracked, and written in batches.

Wiring::

    machines (store) ──> one AgentClient per (tenant, agent URL) ── events ──> MachineTracker per machine
                                                                              │ state, parts, alarms, gaps
    observations, tracker events ──> BatchWriter ── flush every ``flush_interval_s`` ──> database
                                                    (in a worker thread: never a commit per observation)

Each agent is read once for all the machines it fronts. Recovery is the client's (resync, gaps, backoff,
offline); the tracker turns a resync into a data gap in the timeline; the writer keeps rows it could not
write and tries again, so a database that goes away loses nothing that fits in memory meanwhile.

A machine's live status (``machine_status``) is written at the next flush when its state, alarms or
connection changed; when only its values and counts moved, at most every ``status_interval_s`` (a
snapshot costs more than a whole poll of a busy machine, so the thousands of moving machines are spread
over the flushes).

Once every machine was read for the first time, the objects made so far (clients, trackers, the probes'
models; they live as long as the service) are collected once and frozen out of the garbage collector's way
(``gc.freeze``, with ``freeze_gc``): at thousands of machines a full collection that scans them all stalls
the loop for tens of milliseconds, several times a minute.

Memory is bounded: when ``max_pending_rows`` rows wait for the database (it is slower than the agents, or
away), a flush starts at once and the readers pause (``AgentClient(room=...)``) until fewer than half are
left. Agents keep what is not read yet in their buffers; one overrun meanwhile is recorded as a data gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import Engine

from mes_core.domain.states import MachineState, status_of
from mes_core.domain.tracker import (
    AlarmCleared,
    AlarmRaised,
    DataGap,
    Event,
    MachineTracker,
    PartsMade,
    StateChanged,
)
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
from mes_core.ingest.mtconnect_xml import StreamObservation
from mes_core.store import repository
from mes_core.store.engine import transaction
from mes_core.store.errors import StoreError
from mes_core.store.records import Machine
from mes_core.store.writer import BatchWriter

__all__ = ["IngestionMetrics", "IngestionService"]

log = logging.getLogger(__name__)


def _us(epoch: float) -> int:
    return round(epoch * 1_000_000)


_READ_BUFFER = 16 * 1024
_JSON = json.JSONEncoder(default=str)
"""One encoder for every status (``json.dumps`` with ``default`` builds a new one per call)."""


class IngestionMetrics:
    """Prometheus metrics per tenant (its id) and agent (its URL): polls, observations, gaps, errors, lag.
    Two tenants reading one agent get a series each."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        labels = ["tenant", "agent"]
        self.polls = Counter("mes_agent_polls", "Sample documents read", labels, registry=registry)
        self.observations = Counter(
            "mes_agent_observations", "Observations ingested", labels, registry=registry
        )
        self.gaps = Counter(
            "mes_agent_gaps", "Data gaps (buffer overrun or restart)", labels, registry=registry
        )
        self.errors = Counter(
            "mes_agent_errors", "Failed reads by kind", [*labels, "kind"], registry=registry
        )
        self.lag = Gauge(
            "mes_agent_lag_seconds", "Delivery time minus newest data timestamp", labels, registry=registry
        )
        self.online = Gauge("mes_agent_online", "1 when the agent answers", labels, registry=registry)
        self.pending = Gauge("mes_pending_rows", "Rows waiting to be written", registry=registry)


@dataclass
class _Machine:
    record: Machine
    tracker: MachineTracker | None = None
    items: tuple[Any, ...] = ()
    signals: dict[str, str] = field(default_factory=dict)
    """Item id -> the name of the signal it carries (items the MES does not read are left out)."""


@dataclass
class _Agent:
    tenant_id: int
    url: str
    machines: dict[str, _Machine] = field(default_factory=dict)
    client: AgentClient | None = None
    instance_id: int = 0
    task: asyncio.Task[None] | None = None
    polls_counted: int = 0


class IngestionService:
    """Reads the agents of every registered MTConnect machine until ``stop()``."""

    def __init__(
        self,
        engine: Engine,
        *,
        mode: str = "poll",
        flush_interval_s: float = 0.5,
        offline_after_s: float = 10.0,
        status_interval_s: float = 2.0,
        max_pending_rows: int = 200_000,
        count: int = 250,
        writer_process: bool = False,
        freeze_gc: bool = True,
        metrics: IngestionMetrics | None = None,
    ) -> None:
        """The service over ``engine``'s database. ``count`` is the most observations a reader asks an agent
        for in one document (or stream part): what a reader holds at once, and how far past
        ``max_pending_rows`` the readers can go before they pause. ``writer_process`` runs the writer's
        transactions in a child process (``BatchWriter(process=True)``: SQLite's index upkeep leaves this
        process's core).

        Raises:
            ValueError: ``max_pending_rows`` or ``count`` below 1, or a writer process for an in-memory
                database.
        """
        if max_pending_rows < 1 or count < 1:
            raise ValueError(f"max_pending_rows ({max_pending_rows!r}) and count ({count!r}) must be >= 1")
        self.engine = engine
        self.mode = mode
        self.flush_interval_s = flush_interval_s
        self.offline_after_s = offline_after_s
        self.status_interval_s = status_interval_s
        self.max_pending_rows = max_pending_rows
        self.count = count
        self.freeze_gc = freeze_gc
        self._booted: set[tuple[int, str]] | None = set()
        """Machines read for the first time (None once all were, and the start-up's objects are frozen)."""
        self._machines_at_start = 0
        self.metrics = metrics
        self.writer = BatchWriter(engine, process=writer_process)
        self.agents: dict[tuple[int, str], _Agent] = {}
        self._stopping = asyncio.Event()
        self._dirty: dict[tuple[int, str], None] = {}
        """Machines whose status moved since it was last written, the longest waiting first."""
        self._urgent: set[tuple[int, str]] = set()
        """Machines whose state, alarms or connection changed: their status goes at the next flush."""
        self._room = asyncio.Event()
        """Set while the readers may read (fewer than ``max_pending_rows`` rows wait for the database)."""
        self._room.set()
        self._flush_due = asyncio.Event()
        self._unflushed = 0
        """Observation rows buffered since the last flush (as far as this service knows)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- set-up -------------------------------------------------------------------------------------

    def load(self, machines: Iterable[Machine] | None = None) -> None:
        """Group the registered MTConnect machines by (tenant, agent URL)."""
        if machines is None:
            with transaction(self.engine) as conn:
                machines = repository.list_all_machines(conn)
        for machine in machines:
            if machine.source != "mtconnect" or not machine.agent_url:
                continue
            url = machine.agent_url.rstrip("/")
            agent = self.agents.setdefault((machine.tenant_id, url), _Agent(machine.tenant_id, url))
            agent.machines[machine.machine_id] = _Machine(machine)

    def _resume_points(self, agents: Iterable[_Agent]) -> dict[tuple[int, str], tuple[int, int] | None]:
        """Where each agent's reading stopped before (its stored cursor), read in one transaction.

        A restarted MES resumes there, so nothing the agent still holds is lost.
        """
        points: dict[tuple[int, str], tuple[int, int] | None] = {}
        with transaction(self.engine) as conn:
            for agent in agents:
                cursor = repository.get_cursor(conn, agent.tenant_id, agent.url)
                resume = None if cursor is None else (cursor.instance_id, cursor.next_sequence)
                points[(agent.tenant_id, agent.url)] = resume
        return points

    def _client(self, agent: _Agent, resume: tuple[int, int] | None) -> AgentClient:
        devices = {m.record.device or m.record.machine_id: key for key, m in agent.machines.items()}
        interval = min(m.record.poll_interval_ms for m in agent.machines.values()) / 1000.0
        mode: Literal["poll", "stream"] = "stream" if self.mode == "stream" else "poll"
        return AgentClient(
            agent.url,
            devices,
            mode=mode,
            interval_s=interval,
            count=self.count,
            offline_after_s=self.offline_after_s,
            resume=resume,
            room=self._room,
        )

    # -- running ------------------------------------------------------------------------------------

    async def run(self, reload_interval_s: float | None = None) -> None:
        """Read every agent and flush the writes, until ``stop()``.

        With ``reload_interval_s``, machines registered (or changed) meanwhile are picked up that often: an
        agent whose machines changed gets a new reader, which resumes from the stored cursor.
        """
        self._loop = asyncio.get_running_loop()
        if not self.agents:
            self.load()
        await asyncio.to_thread(self.writer.start)
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
        # A small read buffer per response: thousands of streams each buffer at most twice this.
        async with aiohttp.ClientSession(connector=connector, read_bufsize=_READ_BUFFER) as session:
            self._session = session
            resume = self._resume_points(self.agents.values())
            self._machines_at_start = sum(len(agent.machines) for agent in self.agents.values())
            for key, agent in self.agents.items():
                self._start(agent, resume[key])
            background = [asyncio.create_task(self._flush_loop())]
            if reload_interval_s is not None:
                background.append(asyncio.create_task(self._reload_loop(reload_interval_s)))
            try:
                await self._stopping.wait()
            finally:
                for agent in self.agents.values():  # stop every reader first, then wait for them together
                    if agent.client is not None:
                        agent.client.stop()
                await asyncio.gather(*(self._halt(agent) for agent in self.agents.values()))
                for task in background:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                try:
                    await self.flush()
                finally:
                    await asyncio.to_thread(self.writer.close)

    def _start(self, agent: _Agent, resume: tuple[int, int] | None) -> None:
        assert self._session is not None
        agent.client = self._client(agent, resume)
        agent.task = asyncio.create_task(agent.client.run(self._session, self._sink(agent)))

    async def _halt(self, agent: _Agent) -> None:
        if agent.client is not None:
            agent.client.stop()
        if agent.task is not None:
            agent.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await agent.task
            agent.task = None

    async def _reload_loop(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                with transaction(self.engine) as conn:
                    machines = repository.list_all_machines(conn)
            except StoreError as exc:
                log.warning("could not read the machines to reload: %s", exc)
                continue
            wanted: dict[tuple[int, str], dict[str, Machine]] = {}
            for machine in machines:
                if machine.source == "mtconnect" and machine.agent_url:
                    key = (machine.tenant_id, machine.agent_url.rstrip("/"))
                    wanted.setdefault(key, {})[machine.machine_id] = machine
            # An agent no machine names any more (its machines moved to another URL, or left MTConnect): its
            # reader stops first (before any new reader starts), then what it delivered is written.
            for key in [k for k in self.agents if k not in wanted]:
                gone = self.agents[key]
                try:
                    await self._halt(gone)
                    del self.agents[key]
                    await self.flush()
                except Exception:
                    log.exception("could not stop reading %s; trying again at the next reload", key[1])
            for key, records in wanted.items():
                agent = self.agents.get(key)
                if agent is not None and {k: m.record for k, m in agent.machines.items()} == records:
                    continue
                try:
                    if agent is not None:
                        await (
                            self.flush()
                        )  # the cursor of what was read so far, before the reader is replaced
                        await self._halt(agent)
                    agent = _Agent(*key) if agent is None else agent
                    agent.machines = {k: agent.machines.get(k, _Machine(r)) for k, r in records.items()}
                    for k, record in records.items():
                        agent.machines[k].record = record
                    self.agents[key] = agent
                    self._start(agent, self._resume_points([agent])[key])
                except (
                    Exception
                ):  # one agent that cannot be (re)started must not end the reloads of the others
                    log.exception("could not start reading %s; trying again at the next reload", key[1])
                    self.agents.pop(key, None)

    def stop(self) -> None:
        """Stop reading (callable from any thread)."""
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._stopping.set)
        else:
            self._stopping.set()

    async def flush(self, *, every_status: bool = True) -> int:
        """Write what is buffered (in a worker thread); return the rows written (0 when the database failed:
        the rows stay buffered for the next try). With ``every_status=False`` (the periodic flush) the
        statuses whose only news are values wait for their turn (see the module's docstring)."""
        self._statuses(every_status)
        try:
            written = await asyncio.to_thread(self.writer.flush)
        except StoreError as exc:
            log.warning(
                "could not write to the database; keeping %d rows for later: %s", self.writer.pending, exc
            )
            written = 0
        pending = self._unflushed = self.writer.pending
        if pending < self.max_pending_rows // 2:
            self._room.set()
        elif written and not self._room.is_set():
            self._flush_due.set()  # still too many (and the database takes them): flush again at once
        if self.metrics is not None:
            self.metrics.pending.set(pending)
        return written

    async def _flush_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_due.wait(), self.flush_interval_s)
            self._flush_due.clear()
            try:
                await self.flush(every_status=False)
            except Exception:  # never let one bad flush end the writing; the rows stay buffered
                log.exception("flushing the ingestion's writes failed; trying again")

    # -- events -------------------------------------------------------------------------------------

    def _sink(self, agent: _Agent) -> Any:
        def sink(event: AgentEvent) -> None:
            try:
                self._handle(agent, event)
            except Exception:  # a bug in one event must not stop the agent's reader
                log.exception("ingestion of %s failed on %s", agent.url, type(event).__name__)

        return sink

    def _handle(self, agent: _Agent, event: AgentEvent) -> None:
        metrics = self.metrics
        if isinstance(event, Probed):
            agent.instance_id = event.instance_id
            for key, device in event.devices.items():
                machine = agent.machines.get(key)
                # A tracker outlives an agent restart (its counters' baselines and open alarms go on),
                # unless the device's model changed.
                if machine is not None and (machine.tracker is None or machine.items != device.data_items):
                    # ValueChanged events are not stored: the status is read from the tracker's snapshot.
                    machine.tracker = MachineTracker(device.data_items, report_values=False)
                    machine.items = device.data_items
                    machine.signals = {i: signal.value for i, signal in machine.tracker.signals.items()}
            for missing in event.missing:
                log.warning("agent %s has no device %r", agent.url, missing)
        elif isinstance(event, Bootstrap):
            agent.instance_id = event.instance_id
            machine = agent.machines.get(event.machine)
            if machine is None or machine.tracker is None:
                return
            if self.freeze_gc and self._booted is not None:
                self._started((agent.tenant_id, event.machine))
            # A resumed reader's bootstrap holds only observations stored before the MES restarted.
            fresh = (
                ()
                if event.reason == "resume"
                else self._fresh(machine, event.observations, event.instance_id)
            )
            if event.gap is not None:
                start, end = event.gap
                reason = "agent_restart" if event.reason == "restart" else "data_lost"
                events = machine.tracker.gap(start, end, reason, event.observations, event.instance_id)
            else:
                events = machine.tracker.apply_all(event.observations, event.instance_id)
            self._observations(agent, machine, fresh, event.instance_id)
            self._events(agent, machine, events)
            self._cursor(agent)
        elif isinstance(event, Observations):
            agent.instance_id = event.instance_id
            machine = agent.machines.get(event.machine)
            if machine is None or machine.tracker is None:
                return
            fresh = self._fresh(machine, event.observations, event.instance_id)
            events = machine.tracker.apply_all(event.observations, event.instance_id)
            self._observations(agent, machine, fresh, event.instance_id)
            self._events(agent, machine, events)
            self._cursor(agent)
            if metrics is not None:
                metrics.observations.labels(str(agent.tenant_id), agent.url).inc(len(fresh))
        elif isinstance(event, DataLost | Restarted):
            if metrics is not None:
                metrics.gaps.labels(str(agent.tenant_id), agent.url).inc()
        elif isinstance(event, Offline | Online):
            online = isinstance(event, Online)
            at = event.at if isinstance(event, Online) else event.since
            for machine in agent.machines.values():
                if machine.tracker is not None:
                    machine.tracker.connection(online, at)
                    self._urgent.add((agent.tenant_id, machine.record.machine_id))
                elif not online:
                    # Never reached since the MES started: say so, rather than keep a status of before.
                    self.writer.set_status(
                        agent.tenant_id, machine.record.machine_id, "OFFLINE", "no_data", "{}"
                    )
            if metrics is not None:
                metrics.online.labels(str(agent.tenant_id), agent.url).set(1 if online else 0)
        elif isinstance(event, ReadFailed) and metrics is not None:
            metrics.errors.labels(str(agent.tenant_id), agent.url, event.kind).inc()
        if metrics is not None and agent.client is not None:
            stats = agent.client.stats
            polls = metrics.polls.labels(str(agent.tenant_id), agent.url)
            polls.inc(max(0, stats.polls - agent.polls_counted))
            agent.polls_counted = stats.polls
            metrics.online.labels(str(agent.tenant_id), agent.url).set(1 if stats.online else 0)
            if stats.lag_s is not None:
                metrics.lag.labels(str(agent.tenant_id), agent.url).set(stats.lag_s)

    def _started(self, key: tuple[int, str]) -> None:
        """``key`` was read for the first time; once every machine was, freeze what start-up made."""
        assert self._booted is not None
        self._booted.add(key)
        if len(self._booted) >= self._machines_at_start:
            self._booted = None
            gc.collect()
            gc.freeze()

    @staticmethod
    def _fresh(
        machine: _Machine, observations: tuple[StreamObservation, ...], instance_id: int
    ) -> tuple[StreamObservation, ...]:
        """The observations not stored yet: a /current bootstrap repeats ones already read."""
        assert machine.tracker is not None
        watermark = machine.tracker.last_sequence(instance_id)
        # In sequence order (as the client delivers them): when the first is new, all are.
        if watermark is None or not observations or observations[0].sequence > watermark:
            return observations
        return tuple(o for o in observations if o.sequence > watermark)

    def _cursor(self, agent: _Agent) -> None:
        """Where the agent was read up to; written with the data, in the same transaction."""
        client = agent.client
        if client is not None and client.stats.next_sequence is not None:
            self.writer.set_cursor(agent.tenant_id, agent.url, agent.instance_id, client.stats.next_sequence)

    def _observations(
        self,
        agent: _Agent,
        machine: _Machine,
        observations: tuple[StreamObservation, ...],
        instance_id: int,
    ) -> None:
        """Buffer the rows of ``observations`` (one ``OBSERVATION_COLUMNS`` tuple each)."""
        if not observations:
            return
        signals = machine.signals.get
        tenant, machine_id = agent.tenant_id, machine.record.machine_id
        rows: list[tuple[Any, ...]] = []
        append = rows.append
        for obs in observations:
            category = obs.category
            num: float | None = None
            if category == "CONDITION":
                value = obs.level
            else:
                value = obs.value
                if category == "SAMPLE" and value is not None:
                    try:  # not contextlib.suppress: this runs for every sample
                        num = float(value)
                    except ValueError:
                        num = None
            item_id = obs.data_item_id
            stamp = round(obs.timestamp * 1_000_000)  # as _us(), without the call
            append(
                (tenant, machine_id, stamp, instance_id, obs.sequence, item_id, signals(item_id), value, num)
            )
        self.writer.extend_observations(rows)
        self._dirty[(tenant, machine_id)] = None
        self._unflushed += len(rows)
        if self._unflushed >= self.max_pending_rows // 4:
            self._flush_due.set()  # a big batch: write it now rather than at the next interval
            if self._unflushed >= self.max_pending_rows and self._room.is_set():
                # The database is behind: no more reading until a flush has made room.
                log.info("%d rows wait for the database; reading pauses", self._unflushed)
                self._room.clear()

    def _events(self, agent: _Agent, machine: _Machine, events: list[Event]) -> None:
        writer = self.writer
        tenant, machine_id = agent.tenant_id, machine.record.machine_id
        self._dirty[(tenant, machine_id)] = None
        if not events:
            return
        parts = []
        urgent = False
        for event in events:
            if isinstance(event, StateChanged):
                urgent = True
                writer.upsert_state_interval(
                    tenant, machine_id, _us(event.at), event.state.value, event.detail
                )
            elif isinstance(event, PartsMade):
                parts.append(
                    (
                        tenant,
                        machine_id,
                        _us(event.at),
                        event.kind,
                        event.delta,
                        event.item_id,
                        event.instance_id,
                        event.sequence,
                    )
                )
            elif isinstance(event, AlarmRaised):
                urgent = True
                writer.upsert_alarm_onset(
                    tenant,
                    machine_id,
                    event.item_id,
                    event.native_code or "",
                    _us(event.at),
                    category=event.category.value,
                    severity=event.severity.value,
                    level=event.level,
                    text=event.text,
                )
            elif isinstance(event, AlarmCleared):
                urgent = True
                # The code as stored ("" for none): None would clear every code of the item.
                writer.clear_alarm(tenant, machine_id, event.item_id, event.native_code or "", _us(event.at))
            elif isinstance(event, DataGap):
                urgent = True
                writer.add_gap(tenant, machine_id, _us(event.start), _us(event.end), event.reason)
        if parts:
            writer.add_part_events(parts)
        if urgent:
            self._urgent.add((tenant, machine_id))

    def _statuses(self, every: bool = True) -> None:
        """Write the live status of the machines that changed since theirs was last written: every one,
        or (``every=False``) the urgent ones and the share of the others that spreads each over
        ``status_interval_s``, the longest waiting first."""
        dirty, due = self._dirty, list(self._urgent)
        self._urgent = set()
        for key in due:
            dirty.pop(key, None)
        if every or self.status_interval_s <= self.flush_interval_s:
            due += dirty
            dirty.clear()
        elif dirty:
            share = math.ceil(len(dirty) * self.flush_interval_s / self.status_interval_s)
            turn = list(itertools.islice(dirty, share))
            for key in turn:
                del dirty[key]
            due += turn
        if not due:
            return
        by_key: dict[tuple[int, str], _Machine] = {}
        for agent in self.agents.values():
            for machine_id, known in agent.machines.items():
                by_key[(agent.tenant_id, machine_id)] = known
        encode = _JSON.encode
        for key in due:
            machine = by_key.get(key)
            if machine is None or machine.tracker is None:
                continue
            snapshot = machine.tracker.snapshot()
            state = str(snapshot.get("state", "no_data"))
            status = str(snapshot.get("status") or status_of_state(state))
            newest = snapshot.get("last_updated")
            updated = _us(float(newest)) if isinstance(newest, int | float) else None  # data time, not now
            self.writer.set_status(*key, status, state, encode(snapshot), updated_us=updated)


def status_of_state(state: str) -> str:
    """The seed's status (ACTIVE, IDLE, ALARM, OFFLINE) of a timeline state."""
    return status_of(MachineState(state)).value
