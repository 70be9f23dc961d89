"""``mestwin run``: the twin, its agents on loopback and the MES core end to end, checked against the truth.

The twin advances one step of virtual time; its agents (HTTP on loopback, SHDR adapters where the scenario
says so) hold what it did; the MES ingestion reads them over the wire until it has every observation the
agents hold; the harness registers machines, shifts, planned stops and the twin's production runs through
the MES API, over HTTP, as they happen. At the end it asks the MES API for OEE, parts and alarms per machine,
per shift instance and per business day, and compares them with the twin's truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import uvicorn

from agent_sim.site import Site
from mes_core.api.app import Settings, create_app
from mes_core.services.ingestion import IngestionService
from mes_core.services.tenants import create_tenant
from mes_core.store import repository
from mes_core.store.engine import connect, migrate, transaction
from scenarios.build import plant_config
from scenarios.compare import Comparison, compare_rows
from scenarios.errors import HarnessError
from scenarios.model import Scenario, parse_duration
from scenarios.report import kpi_dict
from scenarios.wire import WireFault, agent_plans, apply_fault, wire_faults
from twin.ledger import RunRecord
from twin.observations import format_utc
from twin.plant import Plant
from twin.truth import TruthResult

__all__ = ["HarnessError", "HarnessResult", "run_harness"]

Progress = Callable[[float, float], None]
_FAST_POLL_MS = 50
"""The MES's poll interval in virtual time (the API's minimum)."""
_CATCH_UP_S = 30.0
"""How long the MES may take to read what the agents hold after a step before the run fails."""
_SLICE_S = 10.0
"""Twin seconds stepped between turns of the event loop."""


@dataclass
class HarnessResult:
    """What a run produced: the report document and what the plots and table need."""

    document: dict[str, Any]
    comparisons: list[Comparison]
    timelines: dict[str, dict[str, list[tuple[float, float, str]]]] = field(default_factory=dict)
    """Per machine, ``{"truth": [...], "mes": [...]}`` state intervals (UTC epoch seconds)."""

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.comparisons)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Api:
    """The MES API over HTTP on loopback, as a client sees it."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str) -> None:
        self._session = session
        self._base = base
        self._headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self._base}{path}"
        async with self._session.request(method, url, headers=self._headers, **kwargs) as response:
            body = await response.json()
            if response.status >= 400:
                raise HarnessError(f"{method} {path} answered {response.status}: {body.get('error', body)}")
            return body["data"]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _local(t: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(t, zone).replace(tzinfo=None).isoformat(timespec="seconds")


class _RunSync:
    """Mirrors the twin's production runs into the MES API as their lifecycle events happen.

    Each machine's events go out in order, by a sender task of its own, while the twin steps on: the MES
    dates each event by its ``at``, as it would an operator terminal's that reports late, so the twin need
    not wait for the answers. ``drain`` waits until every event is in.
    """

    def __init__(self, plant: Plant, api: _Api, machines: Sequence[str], concurrency: int = 8) -> None:
        self._plant = plant
        self._api = api
        self._machines = list(machines)
        self._queued: dict[str, int] = {}
        """Twin run id -> its events queued so far."""
        self._mes_ids: dict[str, str] = {}
        """Twin run id -> MES run id."""
        self._queues: dict[str, deque[tuple[RunRecord, float, str]]] = {m: deque() for m in self._machines}
        self._senders: dict[str, asyncio.Task[None]] = {}
        self._limit = asyncio.Semaphore(concurrency)

    async def sync(self) -> None:
        """Queue the events that happened since the last call; raises what a sender met."""
        for machine_id, task in list(self._senders.items()):
            if task.done():
                del self._senders[machine_id]
                task.result()
        for machine_id in self._machines:
            queue = self._queues[machine_id]
            for run in self._plant.ledger_of(machine_id).runs:
                queued = self._queued.get(run.run_id, 0)
                if queued < len(run.events):
                    queue.extend((run, at, status) for at, status in run.events[queued:])
                    self._queued[run.run_id] = len(run.events)
            if queue and machine_id not in self._senders:
                self._senders[machine_id] = asyncio.create_task(self._send(machine_id, queue))

    async def drain(self) -> None:
        """Wait until every queued event is in the MES; raises what a sender met."""
        await self.sync()
        while self._senders:
            machine_id, task = next(iter(self._senders.items()))
            await task
            del self._senders[machine_id]

    def cancel(self) -> None:
        for task in self._senders.values():
            task.cancel()

    async def _send(self, machine_id: str, queue: deque[tuple[RunRecord, float, str]]) -> None:
        while queue:
            run, at, status = queue[0]
            async with self._limit:
                mes_id = self._mes_ids.get(run.run_id)
                if mes_id is None:
                    created = await self._api.call(
                        "POST",
                        "/runs",
                        json={
                            "machine_id": machine_id,
                            "job_number": run.job_number,
                            "part_number": run.part_number,
                            "program_name": run.program,
                            "planned_quantity": run.planned_quantity,
                            "ideal_cycle_time_sec": run.ideal_cycle_s,
                            "status": status if status in ("setup", "running") else "setup",
                            "at": _iso(at),
                        },
                    )
                    self._mes_ids[run.run_id] = created["id"]
                else:
                    await self._api.call("PATCH", f"/runs/{mes_id}", json={"status": status, "at": _iso(at)})
            queue.popleft()


def _mes_kpis(answer: dict[str, Any]) -> dict[str, float | int | None]:
    details = answer["details"]
    return {
        "availability": answer["availability"],
        "performance": answer["performance"],
        "quality": answer["quality"],
        "oee": answer["oee"],
        "planned_s": details["planned_time_s"],
        "run_s": details["run_time_s"],
        "downtime_s": details["downtime_s"],
        "total_parts": details["total_parts"],
        "good_parts": details["good_parts"],
        "alarms": details["alarms"],
        "ideal_time_total_s": details["ideal_time_s"],
        "ideal_time_good_s": details["ideal_time_good_s"],
        "no_data_s": answer["time_accounting"]["planned"].get("no_data", 0.0),
        "losses": answer["losses"],
        "flags": answer["flags"],
    }


async def _ask(api: _Api, result: TruthResult) -> dict[str, Any]:
    params = {"from": _iso(result.start), "to": _iso(result.end)}
    if result.shift is not None:
        params["shift"] = result.shift
    answer: dict[str, Any] = await api.call("GET", f"/oee/{result.machine_id}", params=params)
    return answer


async def _caught_up(site: Site, service: IngestionService, offline: Collection[str] = ()) -> None:
    """Wait until the MES has read everything every reachable agent holds (their next sequence)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _CATCH_UP_S
    while True:
        behind = []
        for agent in service.agents.values():
            client = agent.client
            name = next(n for n, url in site.urls.items() if url.rstrip("/") == agent.url)
            if name in offline:
                continue
            want = site.agent(name).buffer.next_sequence
            if client is None or client.stats.next_sequence != want:
                behind.append(name)
        if not behind:
            return
        if loop.time() > deadline:
            raise HarnessError(
                f"the MES did not catch up with agent(s) {', '.join(behind)} within {_CATCH_UP_S:.0f} s"
            )
        await asyncio.sleep(0.005)


class _InProcessMes:
    """The MES (API and ingestion) in the harness's own event loop: one core; the harness wakes the
    ingestion at each step and waits until it has read everything."""

    def __init__(self, engine: Any, db_url: str, mode: str, clock: Callable[[], float]) -> None:
        self._db_url, self._clock = db_url, clock
        self.service = IngestionService(engine, mode=mode, flush_interval_s=0.2, offline_after_s=3600.0)
        self._server: uvicorn.Server | None = None
        self._server_task: asyncio.Task[None] | None = None
        self._ingest_task: asyncio.Task[None] | None = None
        self.base = ""

    async def start(self) -> None:
        self._server, self._server_task, self.base = await _serve_api(self._db_url, self._clock)

    def machines_registered(self) -> None:
        self.service.load()
        self._ingest_task = asyncio.create_task(self.service.run())

    async def sync(self, site: Site, offline: Collection[str] = (), *, full: bool = True) -> None:
        for agent in self.service.agents.values():
            if agent.client is not None:
                agent.client.wake()
        await _caught_up(site, self.service, offline)

    async def finish(self, site: Site) -> None:
        await self.sync(site)
        await self.service.flush()

    async def stop(self) -> None:
        self.service.stop()
        if self._ingest_task is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._ingest_task, 10)
        if self._server is not None and self._server_task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server_task, 10)


class _ChildMes:
    """The MES as ``python -m mes_core serve`` in a process of its own (its own core): the harness steps the
    twin on while the MES reads the agents, and waits only where it must (before a fault, at the end, or
    when the MES falls half an agent buffer behind), from the cursors the MES stores with its writes."""

    def __init__(self, engine: Any, db_url: str, mode: str, tenant_id: int) -> None:
        self._engine, self._db_url, self._mode, self._tenant_id = engine, db_url, mode, tenant_id
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self.base = ""
        self._sequences: dict[str, int] = {}
        """Agent name -> its next sequence when last looked at (what it took since is the step's)."""
        self._cursors: dict[str, tuple[int, int]] = {}
        """Agent name -> (instanceId, next sequence) of the MES's cursor when last read."""

    async def start(self) -> None:
        port = _free_port()
        command = [
            sys.executable, "-m", "mes_core", "serve", "--db", self._db_url, "--port", str(port),
            "--mode", self._mode, "--reload-interval", "0.1", "--flush-interval", "0.02",
        ]  # fmt: skip
        self._process = subprocess.Popen(command, stdout=self._log, stderr=self._log)
        self.base = f"http://127.0.0.1:{port}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30.0
        async with aiohttp.ClientSession() as session:
            while True:
                self._check_alive()
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{self.base}/healthz") as response:
                        if response.status == 200:
                            return
                if loop.time() > deadline:
                    raise HarnessError(f"the MES did not start within 30 s: {self._tail()}")
                await asyncio.sleep(0.05)

    def _tail(self) -> str:
        self._log.seek(0)
        lines = self._log.read().decode("utf-8", "replace").strip().splitlines()
        return " | ".join(lines[-5:]) or "(no output)"

    def _check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise HarnessError(f"the MES process ended (exit {self._process.returncode}): {self._tail()}")

    def machines_registered(self) -> None:
        """Nothing to do: the MES picks new machines up by itself within its reload interval."""

    def _behind(self, site: Site, offline: Collection[str], slacks: dict[str, int]) -> list[str]:
        """The reachable agents of which the MES is behind by more than their ``slacks`` (0: it has not
        stored all their news yet)."""
        behind: list[str] = []
        ask = []
        for name in site.urls:
            if name in offline:
                continue
            agent = site.agent(name)
            slack = slacks.get(name, 0)
            known = self._cursors.get(name)
            # A cursor only moves on: one already far enough along needs no second look.
            sequence = agent.buffer.next_sequence
            if known is None or known[0] != agent.instance_id or sequence - known[1] > slack:
                ask.append((name, agent, slack))
        if not ask:
            return behind
        with transaction(self._engine) as conn:
            for name, agent, slack in ask:
                cursor = repository.get_cursor(conn, self._tenant_id, site.urls[name].rstrip("/"))
                if cursor is not None:
                    self._cursors[name] = (cursor.instance_id, cursor.next_sequence)
                if (
                    cursor is None
                    or cursor.instance_id != agent.instance_id
                    or agent.buffer.next_sequence - cursor.next_sequence > slack
                ):
                    behind.append(name)
        return behind

    def _slack(self, name: str, size: int, sequence: int) -> int:
        """How far the MES may be behind agent ``name`` when the twin steps on: half the agent's buffer, less
        twice what the agent took in the last step, so that the next step cannot push what the MES has not
        read out of the buffer (a small buffer gets no slack: the MES catches up at every step)."""
        growth = sequence - self._sequences.get(name, sequence)
        self._sequences[name] = sequence
        return max(0, min(size // 2, size - 2 * growth))

    async def sync(self, site: Site, offline: Collection[str] = (), *, full: bool = True) -> None:
        """Wait until the MES has stored everything the reachable agents hold (``full``), or until it is
        behind each agent by no more than the slack its buffer leaves."""
        slacks = {}
        for name in site.urls:
            buffer = site.agent(name).buffer
            slack = self._slack(name, buffer.size, buffer.next_sequence)
            slacks[name] = 0 if full else slack
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _CATCH_UP_S
        while behind := self._behind(site, offline, slacks):
            self._check_alive()
            if loop.time() > deadline:
                raise HarnessError(
                    f"the MES did not catch up with agent(s) {', '.join(behind)} within {_CATCH_UP_S:.0f} s"
                )
            await asyncio.sleep(0.01)

    async def finish(self, site: Site) -> None:
        await self.sync(site)

    async def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(asyncio.to_thread(process.wait), 15)
            except TimeoutError:
                process.kill()
                process.wait(5)
        self._log.close()


_Mes = _InProcessMes | _ChildMes


async def _serve_api(
    db_url: str, clock: Callable[[], float]
) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    app = create_app(Settings(db_url, migrate=False, clock=clock))
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise HarnessError("the MES API did not start")
        await asyncio.sleep(0.01)
    return server, task, f"http://127.0.0.1:{port}"


async def _harness(
    scenario: Scenario, source: str, db_url: str, progress: Progress | None, *, mes_process: bool
) -> HarnessResult:
    began = time.perf_counter()
    config = plant_config(scenario, source)
    plans = [replace(p, port=0, shdr_port=None) for p in agent_plans(scenario)]
    site = Site(config.machines, plans, reconnect_interval=0.2, clock=lambda: config.start)
    plant = Plant(config, site.bridge)
    site.clock = lambda: plant.now
    zone = ZoneInfo(scenario.scenario.timezone)

    engine = connect(db_url)
    migrate(engine)
    tenant, token = create_tenant(
        engine, f"{scenario.scenario.name}-{int(time.time() * 1e6)}", scenario.scenario.timezone
    )
    mes: _Mes = (
        _ChildMes(engine, db_url, scenario.mes.mode, tenant.id)
        if mes_process
        else _InProcessMes(engine, db_url, scenario.mes.mode, lambda: plant.now)
    )
    faults = wire_faults(scenario)
    await site.start()
    try:
        await mes.start()
        # A connection per request: the API server closes idle keep-alive connections (after 5 s), and the
        # harness's requests are few and far between in wall time (a weekend without run events).
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            api = _Api(session, f"{mes.base}/api/{tenant.name}/mes", token)
            read = await _register(api, scenario, plant, site, zone)
            skipped = [
                {
                    "machine_id": m,
                    "reason": "no MTConnect agent fronts it (the MES reads machines over MTConnect)",
                }
                for m in plant.machines
                if m not in read
            ]
            mes.machines_registered()
            runs = _RunSync(plant, api, read)
            try:
                await _step_through(site, mes, plant, faults, runs, _step_seconds(scenario), progress)
            finally:
                runs.cancel()
            await _settle(site, mes)
            await mes.finish(site)
            results = [r for r in plant.truth() if r.machine_id in read]
            rows = []
            for result in results:
                answer = await _ask(api, result)
                rows.append((result, _mes_kpis(answer)))
            timelines = await _timelines(plant, engine, tenant.id, read)
    finally:
        await mes.stop()
        await site.stop()
        engine.dispose()
    comparisons = compare_rows(rows, scenario.tolerances)
    document = {
        "scenario": scenario.scenario.name,
        "seed": config.seed,
        "period": {"from": format_utc(config.start), "to": format_utc(config.end)},
        "wall_seconds": round(time.perf_counter() - began, 3),
        "pass": all(c.ok for c in comparisons),
        "skipped": skipped,
        "results": [
            {
                "machine_id": c.result.machine_id,
                "shift": c.result.shift,
                "business_date": c.result.business_date.isoformat() if c.result.business_date else None,
                "from": format_utc(c.result.start),
                "to": format_utc(c.result.end),
                "truth": kpi_dict(c.result.kpis),
                "mes": c.mes,
                "ok": c.ok,
                "failures": c.failures,
            }
            for c in comparisons
        ],
    }
    return HarnessResult(document, comparisons, timelines)


def _step_seconds(scenario: Scenario) -> float:
    return parse_duration(scenario.mes.step)


async def _step_through(
    site: Site,
    mes: _Mes,
    plant: Plant,
    faults: list[WireFault],
    runs: _RunSync,
    step_s: float,
    progress: Progress | None,
) -> None:
    """Step the twin to the scenario's end, the MES reading behind it, faults applied as their time comes;
    returns once every run event is in the MES."""
    config = plant.config
    step = max(1.0, step_s)
    while plant.now < config.end:
        target = min(config.end, plant.now + step)
        while faults and faults[0].at <= target:
            fault = faults.pop(0)
            await _advance(plant, max(plant.now, fault.at))
            await _settle(site, mes)
            if fault.kind == "network_drop":
                await _network_drop(site, mes, plant, fault, step, runs)
            else:
                await apply_fault(site, fault)
            target = max(target, plant.now)
        await _advance(plant, target)
        await _settle(site, mes, full=False)
        await runs.sync()
        if progress is not None:
            progress(plant.now - config.start, config.end - config.start)
    await runs.drain()


async def _advance(plant: Plant, until: float) -> None:
    """Advance the twin to ``until`` in slices, giving the event loop a turn after each: the agents, served
    from this loop, answer the MES while the twin steps on rather than after the whole step."""
    until = min(until, plant.config.end)  # the twin stops at its end
    while plant.now < until:
        plant.advance(min(until, plant.now + _SLICE_S))
        await asyncio.sleep(0)


async def _settle(site: Site, mes: _Mes, offline: Collection[str] = (), *, full: bool = True) -> None:
    if not await site.settle():
        raise HarnessError("the agents did not take the twin's observations in time")
    await mes.sync(site, offline, full=full)


async def _network_drop(
    site: Site, mes: _Mes, plant: Plant, fault: WireFault, step: float, runs: _RunSync
) -> None:
    """A network drop in twin time: the agent is unreachable while the twin goes on for the drop's length,
    so that what the agent's buffer cannot hold meanwhile is truly lost, as on a real network."""
    end = min(plant.config.end, fault.at + (fault.duration_s or 0.0))
    await site.network_down(fault.agent)
    try:
        while plant.now < end:
            await _advance(plant, min(end, plant.now + step))
            await _settle(site, mes, offline={fault.agent}, full=False)
            await runs.sync()
    finally:
        await site.network_up(fault.agent)
    # The twin waits for the MES to be back, so that what is lost is what the drop lost, not what the MES's
    # reconnection backoff (wall time) would add.
    await _settle(site, mes)


async def _register(api: _Api, scenario: Scenario, plant: Plant, site: Site, zone: ZoneInfo) -> list[str]:
    """Machines, the shift schedule and the planned stops, through the MES API; returns the machines the
    MES reads (those an MTConnect agent fronts)."""
    agent_of = {m: plan.name for plan in agent_plans(scenario) for m in plan.machines}
    for spec in scenario.all_machines:
        if spec.id not in agent_of:
            continue
        await api.call(
            "POST",
            "/machines",
            json={
                "machine_id": spec.id,
                "name": spec.name or spec.id,
                "type": spec.model,
                "location": spec.location,
                "agent_url": site.urls[agent_of[spec.id]],
                # In virtual time the MES polls as often as it may: each step waits for it to catch up.
                "poll_interval_ms": _FAST_POLL_MS,
            },
        )
    shifts = []
    for shift in scenario.shifts:
        shifts.append(
            {
                "name": shift.name,
                "start": shift.start.strftime("%H:%M"),
                "end": shift.end.strftime("%H:%M"),
                "break_minutes": shift.break_minutes,
                "breaks": [{"start": b.start.strftime("%H:%M"), "minutes": b.minutes} for b in shift.breaks],
                "days": list(shift.days),
            }
        )
    await api.call(
        "POST",
        "/shifts",
        json={
            "shifts": shifts,
            "timezone": scenario.scenario.timezone,
            "day_start": plant.calendar.day_start.strftime("%H:%M"),
        },
    )
    for machine_id, stops in plant.planned_stops.items():
        if machine_id not in agent_of:
            continue
        for start, end in stops:
            await api.call(
                "POST",
                "/shifts/exceptions",
                json={
                    "kind": "planned_downtime",
                    "start": _local(start, zone),
                    "end": _local(end, zone),
                    "name": "planned stop",
                    "machine_id": machine_id,
                },
            )
    return [m.id for m in scenario.all_machines if m.id in agent_of]


async def _timelines(
    plant: Plant, engine: Any, tenant_id: int, machines: Sequence[str]
) -> dict[str, dict[str, list[tuple[float, float, str]]]]:
    """The state timelines of truth and MES per machine, for the plots."""
    from mes_core.store import repository
    from mes_core.store.engine import transaction

    start, end = plant.config.start, plant.config.end
    timelines: dict[str, dict[str, list[tuple[float, float, str]]]] = {}
    for machine_id in machines:
        truth = [(i.start, i.end, i.state.value) for i in plant.ledger_of(machine_id).intervals]
        with transaction(engine) as conn:
            stored = repository.state_intervals_between(
                conn, tenant_id, machine_id, int(start * 1e6), int(end * 1e6)
            )
        mes = [
            (max(i.start_us / 1e6, start), min((i.end_us or end * 1e6) / 1e6, end), i.state) for i in stored
        ]
        timelines[machine_id] = {"truth": truth, "mes": mes}
    return timelines


def run_harness(
    scenario: Scenario,
    source: str,
    db_url: str,
    *,
    progress: Progress | None = None,
    timeout_s: float = 3600.0,
    mes_process: bool = True,
) -> HarnessResult:
    """Run ``scenario`` end to end against the MES on ``db_url``; the result says what passed.

    ``mes_process``: the MES runs as ``python -m mes_core serve`` in a process of its own (the default: the
    twin and the MES each have a core); False runs it in this process (one core; for tests that change the
    MES's code in place).
    """
    return asyncio.run(
        asyncio.wait_for(_harness(scenario, source, db_url, progress, mes_process=mes_process), timeout_s)
    )


def write_outputs(result: HarnessResult, out: Path) -> None:
    """report.json and the plots into ``out``."""
    from scenarios.plots import write_plots
    from scenarios.report import write_json

    write_json(out / "report.json", result.document)
    write_plots(result, out)
