"""Ingestion end to end: the twin behind a real agent on loopback, the MES polling it over HTTP into a
real database (SQLite and PostgreSQL), and the stored parts, alarms and timeline checked against the truth."""

from __future__ import annotations

import asyncio
import gc
import re
import threading
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select, text

from agent_sim.site import AgentPlan, Site
from mes_core.services.ingestion import IngestionService
from mes_core.services.machines import register_machine
from mes_core.services.tenants import create_tenant
from mes_core.store import repository
from mes_core.store.engine import transaction
from mes_core.store.schema import machine_status, observations
from twin.clock import local_to_epoch
from twin.config import EventConfig, FailureMode, JobConfig, MachineConfig, PlantConfig
from twin.plant import Plant
from twin.shift_calendar import ShiftDefinition

BERLIN = ZoneInfo("Europe/Berlin")
START = local_to_epoch(datetime(2026, 3, 2, 6, 0), BERLIN)
DAY = ShiftDefinition(
    "Day", datetime(2026, 1, 1, 6).time(), datetime(2026, 1, 1, 14).time(), frozenset(range(7))
)
JOB = JobConfig("J1", "P1", "O1000", 10_000, 40.0, setup_minutes=3.0, scrap_rate=0.0)
MACHINES = (
    MachineConfig("MILL-1", "haas_vf2", "Mill", jobs=(JOB,), warmup_minutes=0.0),
    MachineConfig(
        "LATHE-1",
        "dmg_nlx2500",
        "Lathe",
        jobs=(JOB,),
        warmup_minutes=0.0,
        reliability=(FailureMode("spindle", 0.5, 3.0),),
    ),
)
EVENTS = (EventConfig(START + 1200.0, "MILL-1", "estop", duration_s=180.0),)


def _run(
    store: Engine, hours: float, transport: str = "inprocess", restart_at: float | None = None
) -> tuple[Plant, int]:
    tenant, _ = create_tenant(store, "acme")

    async def main() -> Plant:
        plans = [AgentPlan("a", 0, ("MILL-1", "LATHE-1"), "2.7", transport=transport)]
        site = Site(MACHINES, plans, reconnect_interval=0.5, clock=lambda: START)
        plant = Plant(
            PlantConfig(START, 8 * 3600.0, BERLIN, (DAY,), MACHINES, seed=5, events=EVENTS), site.bridge
        )
        site.clock = lambda: plant.now  # the agents' own observations in twin time
        await site.start()
        try:
            for config in MACHINES:
                fields = {"name": config.name, "machine_id": config.id, "agent_url": site.urls["a"]}
                register_machine(store, tenant.id, {**fields, "poll_interval_ms": 50})
            service = IngestionService(store, flush_interval_s=0.1)
            service.load()
            task = asyncio.create_task(service.run())
            agent = site.agent("a")
            pending_restart = restart_at
            while plant.now < START + hours * 3600.0:
                plant.advance(plant.now + 60.0)
                assert await site.settle()
                await _caught_up(service, lambda: site.agent("a").buffer.next_sequence)
                if pending_restart is not None and plant.now >= START + pending_restart:
                    pending_restart = None
                    # The MES restarts: a new reader bootstraps from /current, repeating the latest values.
                    service.stop()
                    await asyncio.wait_for(task, 10)
                    service = IngestionService(store, flush_interval_s=0.1)
                    service.load()
                    task = asyncio.create_task(service.run())
            await service.flush()
            service.stop()
            await asyncio.wait_for(task, 10)
            assert agent is site.agent("a")
        finally:
            await site.stop()
        return plant

    return asyncio.run(asyncio.wait_for(main(), 120)), tenant.id


async def _caught_up(service: IngestionService, agent_next: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        clients = [a.client for a in service.agents.values()]
        if all(c is not None and c.stats.next_sequence == agent_next() for c in clients):  # type: ignore[operator]
            return
        assert loop.time() < deadline, "the MES did not catch up with the agent"
        await asyncio.sleep(0.01)


def test_the_mes_stores_the_parts_and_alarms_the_twin_made(store: Engine) -> None:
    plant, tenant = _run(store, hours=1.0)
    end = plant.now
    with transaction(store) as conn:
        for config in MACHINES:
            truth = plant.ledger_of(config.id)
            totals = repository.part_totals(conn, tenant, config.id, int(START * 1e6), int(end * 1e6) + 1)
            assert totals.get("total", 0) == len(truth.parts), config.id
            stored = repository.alarm_history(conn, tenant, machine_id=config.id, limit=1000)
            assert sorted(a.native_code for a in stored) == sorted(a.code for a in truth.alarms), config.id
            for alarm in stored:
                original = next(
                    a
                    for a in truth.alarms
                    if a.code == alarm.native_code and round(a.onset * 1e6) == alarm.onset_us
                )
                assert alarm.category == original.category
                assert alarm.severity == original.severity
    with transaction(store) as conn:
        intervals = repository.state_intervals_between(
            conn, tenant, "MILL-1", int(START * 1e6), int(end * 1e6)
        )
    estop = [i for i in intervals if i.state == "alarm"]
    assert estop
    assert estop[0].start_us == round((START + 1200.0) * 1e6)


def test_a_restarted_mes_reading_the_same_agent_counts_nothing_twice(store: Engine) -> None:
    plant, tenant = _run(store, hours=1.0, restart_at=1800.0)
    with transaction(store) as conn:
        for config in MACHINES:
            totals = repository.part_totals(conn, tenant, config.id, 0, 2**62)
            assert totals.get("total", 0) == len(plant.ledger_of(config.id).parts), config.id
            alarms = repository.alarm_history(conn, tenant, machine_id=config.id, limit=1000)
            assert len(alarms) == len(plant.ledger_of(config.id).alarms), config.id


def test_the_twin_over_shdr_reaches_the_mes_the_same(store: Engine) -> None:
    plant, tenant = _run(store, hours=0.5, transport="shdr")
    with transaction(store) as conn:
        for config in MACHINES:
            totals = repository.part_totals(conn, tenant, config.id, 0, 2**62)
            assert totals.get("total", 0) == len(plant.ledger_of(config.id).parts), config.id


def test_machine_status_shows_the_twin_state_at_its_data_time(store: Engine) -> None:
    plant, tenant = _run(store, hours=0.5)
    from mes_core.services.machines import machine_status

    status = machine_status(store, tenant, "MILL-1")
    assert status["status"] in ("ACTIVE", "IDLE", "ALARM")
    assert status["program"]["name"] == "O1000"
    # The newest data time, in the twin's period (not the wall clock of the test run).
    start = datetime.fromtimestamp(START, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    now = datetime.fromtimestamp(plant.now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert start <= status["last_updated"] <= now


def test_no_observation_is_stored_twice(store: Engine) -> None:
    _run(store, hours=0.5, restart_at=900.0)
    with transaction(store) as conn:
        rows = conn.execute(
            select(observations.c.instance_id, observations.c.seq, observations.c.item_id, func.count())
            .group_by(observations.c.instance_id, observations.c.seq, observations.c.item_id)
            .having(func.count() > 1)
        ).all()
    assert rows == []


def test_machines_of_an_agent_that_never_answers_are_offline(store: Engine) -> None:
    tenant, _ = create_tenant(store, "acme")
    register_machine(store, tenant.id, {"name": "M", "machine_id": "M", "agent_url": "http://127.0.0.1:9"})

    async def main() -> None:
        service = IngestionService(store, flush_interval_s=0.1, offline_after_s=0.3)
        service.load()
        task = asyncio.create_task(service.run())
        await asyncio.sleep(1.5)
        service.stop()
        await asyncio.wait_for(task, 10)

    asyncio.run(main())
    with transaction(store) as conn:
        status = repository.get_status(conn, tenant.id, "M")
    assert status is not None
    assert (status.status, status.state) == ("OFFLINE", "no_data")


# -- load: backpressure, status cadence, start-up ------------------------------------------------------


async def _load_agents(machines: int, rate: float) -> tuple[str, asyncio.Task[None]]:
    """The fast load agents (agent_sim.load_agents) on a free loopback port, served by a task."""
    from agent_sim.load_agents import LoadAgents, serve
    from tests.processes import free_port

    port = free_port()
    agents = LoadAgents(machines, rate, buffer_size=4096)
    for device in agents.devices.values():
        device.epoch -= 5.0  # every item already reported: a first /current has them all
    task = asyncio.create_task(serve(agents, port, 60.0))
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        break
    return f"http://127.0.0.1:{port}", task


def _register_load_machines(store: Engine, base: str, machines: int) -> int:
    tenant, _ = create_tenant(store, "load")
    for i in range(machines):
        fields = {"name": f"DEV-{i}", "machine_id": f"DEV-{i}", "agent_url": f"{base}/DEV-{i}"}
        register_machine(store, tenant.id, {**fields, "device": f"DEV-{i}", "poll_interval_ms": 50})
    return tenant.id


def _stored_observations(store: Engine) -> tuple[int, list[Any]]:
    """How many observations are stored, and the (machine, sequence) pairs stored more than once."""
    with transaction(store) as conn:
        stored = conn.execute(select(func.count()).select_from(observations)).scalar_one()
        duplicates = conn.execute(
            select(observations.c.machine_id, observations.c.seq)
            .group_by(observations.c.machine_id, observations.c.seq)
            .having(func.count() > 1)
        ).all()
    return stored, list(duplicates)


def test_a_database_slower_than_the_agents_pauses_the_readers_and_nothing_is_lost(store: Engine) -> None:
    """With the writer held back, the rows waiting pass ``max_pending_rows`` by at most one document per
    reader: the readers pause. Released, the service catches up and stores every observation once."""
    machines, bound, service_count = 4, 300, 250

    async def main() -> tuple[int, bool, int]:
        base, agents = await _load_agents(machines, rate=400.0)
        _register_load_machines(store, base, machines)
        service = IngestionService(store, flush_interval_s=0.05, max_pending_rows=bound, count=service_count)
        released = threading.Event()
        flush = service.writer.flush

        def held_flush() -> int:
            released.wait(10.0)
            return flush()

        service.writer.flush = held_flush  # type: ignore[method-assign]
        service.load()
        task = asyncio.create_task(service.run())
        most = 0
        for _ in range(60):  # 1.5 s of reading while nothing can be written
            await asyncio.sleep(0.025)
            most = max(most, service.writer.pending)
        paused = not service._room.is_set()
        released.set()
        await asyncio.sleep(0.5)
        service.stop()
        await asyncio.wait_for(task, 10)
        agents.cancel()
        delivered = sum(a.client.stats.observations for a in service.agents.values() if a.client)
        return most, paused, delivered

    most, paused, delivered = asyncio.run(asyncio.wait_for(main(), 30))
    assert paused
    assert bound <= most <= bound + machines * service_count  # a document holds at most count of them
    stored, duplicates = _stored_observations(store)
    assert duplicates == []
    assert delivered <= stored <= delivered + machines * 14  # plus each machine's first /current


def test_a_database_that_goes_away_pauses_the_readers_and_loses_nothing(store: Engine) -> None:
    """The observations table is unreachable for a while (every flush fails): the service goes on, what waits
    for the database stays bounded (the readers pause), and once it is back every observation the agents
    delivered is stored exactly once."""
    machines, bound, count = 4, 300, 100

    def observations_table(present: bool) -> None:
        names = ("observations_away", "observations") if present else ("observations", "observations_away")
        with store.begin() as conn:
            conn.execute(text(f"ALTER TABLE {names[0]} RENAME TO {names[1]}"))

    async def main() -> tuple[int, bool, int]:
        base, agents = await _load_agents(machines, rate=400.0)
        _register_load_machines(store, base, machines)
        service = IngestionService(store, flush_interval_s=0.05, max_pending_rows=bound, count=count)
        service.load()
        task = asyncio.create_task(service.run())
        await _every_machine_read(service)
        await service.flush()
        observations_table(present=False)
        most = 0
        for _ in range(60):  # 1.5 s without the table: every flush fails and keeps its rows
            await asyncio.sleep(0.025)
            most = max(most, service.writer.pending)
        paused = not service._room.is_set()
        observations_table(present=True)
        await asyncio.sleep(0.5)
        service.stop()
        await asyncio.wait_for(task, 10)
        agents.cancel()
        delivered = sum(a.client.stats.observations for a in service.agents.values() if a.client)
        return most, paused, delivered

    most, paused, delivered = asyncio.run(asyncio.wait_for(main(), 30))
    assert paused
    assert bound <= most <= bound + machines * count
    stored, duplicates = _stored_observations(store)
    assert duplicates == []
    assert delivered <= stored <= delivered + machines * 14  # plus each machine's first /current


def test_a_status_whose_only_news_are_values_waits_for_its_turn(store: Engine) -> None:
    """Periodic flushes write the statuses of machines whose state changed at once, and spread the others
    over ``status_interval_s``; an explicit flush writes them all."""
    machines = 8

    async def main() -> list[int]:
        base, agents = await _load_agents(machines, rate=50.0)
        tenant = _register_load_machines(store, base, machines)
        service = IngestionService(store, flush_interval_s=3600.0, status_interval_s=3600.0 * 4)
        service.load()
        task = asyncio.create_task(service.run())
        counts = []
        try:
            await _every_machine_read(service)
            await service.flush(every_status=False)  # the bootstraps: every state changed
            counts.append(_statuses(store, tenant))
            _clear_statuses(store)
            await asyncio.sleep(0.3)  # values move, states do not
            await service.flush(every_status=False)  # a quarter of the machines' turn: 2 of 8
            counts.append(_statuses(store, tenant))
            await service.flush()
            counts.append(_statuses(store, tenant))
        finally:
            service.stop()
            await asyncio.wait_for(task, 10)
            agents.cancel()
        return counts

    assert asyncio.run(asyncio.wait_for(main(), 30)) == [machines, 2, machines]


async def _every_machine_read(service: IngestionService) -> None:
    """Wait (bounded) until each machine had its first /current (the service then freezes its start-up)."""
    for _ in range(500):
        if service._booted is None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not every machine was read")


def _statuses(store: Engine, tenant: int) -> int:
    with transaction(store) as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(machine_status).where(machine_status.c.tenant_id == tenant)
            ).scalar_one()
        )


def _clear_statuses(store: Engine) -> None:
    with transaction(store) as conn:
        conn.execute(machine_status.delete())


def test_the_objects_of_the_start_up_are_frozen_once_every_machine_was_read(store: Engine) -> None:
    """Once each machine had its first /current, what the start-up made is out of the collector's way."""
    machines = 3

    async def main() -> tuple[int, int]:
        base, agents = await _load_agents(machines, rate=20.0)
        _register_load_machines(store, base, machines)
        service = IngestionService(store, flush_interval_s=0.1)
        service.load()
        before = gc.get_freeze_count()
        task = asyncio.create_task(service.run())
        try:
            await _every_machine_read(service)
            return before, gc.get_freeze_count()
        finally:
            service.stop()
            await asyncio.wait_for(task, 10)
            agents.cancel()
            gc.unfreeze()

    before, after = asyncio.run(asyncio.wait_for(main(), 30))
    assert after > before


def test_a_machine_moved_to_another_agent_url_is_read_there_and_the_old_reader_stops(store: Engine) -> None:
    """PATCHing a machine's agent_url away from an agent that fronts nothing else stops that agent's reader
    (it is not polled any more) and starts one on the new URL, which the machine is then read from."""
    from mes_core.services.machines import update_machine

    async def main() -> tuple[bool, bool, bool, int]:
        base, agents = await _load_agents(2, rate=50.0)
        tenant, _ = create_tenant(store, "moves")
        register_machine(
            store,
            tenant.id,
            {
                "name": "M",
                "machine_id": "M",
                "agent_url": f"{base}/DEV-0",
                "device": "DEV-0",
                "poll_interval_ms": 50,
            },
        )
        service = IngestionService(store, flush_interval_s=0.05)
        task = asyncio.create_task(service.run(reload_interval_s=0.05))
        old_key, new_key = (tenant.id, f"{base}/DEV-0"), (tenant.id, f"{base}/DEV-1")
        for _ in range(100):
            await asyncio.sleep(0.05)
            old = service.agents.get(old_key)
            if old is not None and old.client is not None and old.client.stats.observations:
                break
        old = service.agents[old_key]
        assert old.client is not None
        update_machine(store, tenant.id, "M", {"agent_url": f"{base}/DEV-1", "device": "DEV-1"})
        for _ in range(100):
            await asyncio.sleep(0.05)
            new = service.agents.get(new_key)
            if (
                old_key not in service.agents
                and new is not None
                and new.client
                and new.client.stats.observations
            ):
                break
        requests_after = old.client.stats.requests
        await asyncio.sleep(0.3)  # six poll intervals
        old_polled_again = old.client.stats.requests != requests_after
        new = service.agents.get(new_key)
        read_on_new = new is not None and new.client is not None and new.client.stats.observations > 0
        service.stop()
        await asyncio.wait_for(task, 10)
        agents.cancel()
        return old_key not in service.agents, old.task is None, read_on_new, int(old_polled_again)

    gone, halted, read_on_new, polled_again = asyncio.run(asyncio.wait_for(main(), 30))
    assert gone, "the old URL's reader is still listed"
    assert halted, "the old URL's reader task was not stopped"
    assert not polled_again, "the old URL was polled after the move"
    assert read_on_new, "nothing was read from the new URL"


def test_metrics_are_per_tenant_and_agent(store: Engine) -> None:
    """Two tenants reading the same agent each get their own series: one tenant's figures never include the
    other's reads."""
    from prometheus_client import CollectorRegistry, generate_latest

    from mes_core.services.ingestion import IngestionMetrics

    async def main() -> tuple[str, int, int]:
        base, agents = await _load_agents(1, rate=50.0)
        ids = []
        for name in ("north", "south"):
            tenant, _ = create_tenant(store, name)
            ids.append(tenant.id)
            fields = {"name": "M", "machine_id": "M", "agent_url": f"{base}/DEV-0", "device": "DEV-0"}
            register_machine(store, tenant.id, {**fields, "poll_interval_ms": 50})
        registry = CollectorRegistry()
        service = IngestionService(store, flush_interval_s=0.05, metrics=IngestionMetrics(registry))
        task = asyncio.create_task(service.run())
        await asyncio.sleep(0.6)
        service.stop()
        await asyncio.wait_for(task, 10)
        agents.cancel()
        return generate_latest(registry).decode(), ids[0], ids[1]

    text, north, south = asyncio.run(asyncio.wait_for(main(), 30))
    series = {}
    for line in text.splitlines():
        match = re.fullmatch(r'mes_agent_observations_total\{agent="([^"]+)",tenant="([^"]+)"\} (\S+)', line)
        if match:
            series[(match[2], match[1])] = float(match[3])
    assert {tenant for tenant, _ in series} == {str(north), str(south)}, text
    assert len({agent for _, agent in series}) == 1  # the one agent, a series per tenant
    assert all(value > 0 for value in series.values()), series
