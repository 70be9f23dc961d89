"""Real machine recordings through the real path: an SHDR log replayed into this repo's agent, served over
HTTP, read by the MES into a database. The part counts, the execution timeline and the alarms stored are
those the log contains, computed here straight from the log (no project code reads it for the test)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from agent_sim.agent import Agent
from agent_sim.http import AgentServer
from agent_sim.ingest import ShdrIngest
from agent_sim.shdr import ShdrDecoder
from mes_core.services.ingestion import IngestionService
from mes_core.services.machines import register_machine
from mes_core.services.tenants import create_tenant
from mes_core.store import repository
from mes_core.store.engine import transaction
from mes_core.store.schema import observations
from tests.shared_data import shared_dir

RECORDINGS = [
    # log, devices file, device, SHDR key of its part count, of its execution, and its condition keys' suffix
    (
        "nist_Hurco01_2017-05-02.shdr",
        "nist-smstestbed_8-machines_1.3.xml",
        "Hurco01",
        "Part_Count",
        "Program_Status",
    ),
    (
        "nist_Mazak03_2016-05-10.shdr",
        "nist-smstestbed_8-machines_1.3.xml",
        "Mazak03",
        "PartCountAct",
        "execution",
    ),
    (
        "okuma-multus-u3000_imts2022.shdr",
        "cppagent-demo_okuma-mazak_2.7.xml",
        "OKUMA",
        "ppartcount",
        "pexecution",
    ),
]


def _epoch(stamp: str) -> float:
    """An SHDR timestamp (UTC, up to 7 fraction digits) as epoch seconds."""
    head, _, fraction = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(fraction or '0')[:6]}+00:00").timestamp()


def _log(path: Path) -> list[tuple[str, list[str]]]:
    """(timestamp, fields) of the log's data lines: a plain split, enough for the simple keys used here."""
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw[:4].isdigit() and "|" in raw:
            stamp, _, rest = raw.partition("|")
            lines.append((stamp, rest.split("|")))
    return lines


def _values(lines: list[tuple[str, list[str]]], key: str) -> list[str]:
    """Every value the log gives ``key`` (simple key|value pairs), in order."""
    out = []
    for _, fields in lines:
        for i in range(0, len(fields) - 1, 2):
            if fields[i] == key:
                out.append(fields[i + 1].strip())
    return out


def _expected_parts(values: list[str]) -> int:
    """Parts as a counter's rises (a fall is a reset: the new value counts), the first reading a baseline."""
    parts, previous = 0, None
    for value in values:
        if not value.isdigit():
            continue
        count = int(value)
        if previous is not None:
            parts += count - previous if count >= previous else count
        previous = count
    return parts


def _expected_alarm_codes(lines: list[tuple[str, list[str]]]) -> set[str]:
    """Native codes of the WARNING/FAULT conditions in the log (``key|LEVEL|code|...``)."""
    codes = set()
    for _, fields in lines:
        if len(fields) >= 3 and fields[1].upper() in ("WARNING", "FAULT") and fields[2]:
            codes.add(fields[2].split(":")[0])
    return codes


@pytest.mark.parametrize(("log", "devices", "device", "count_key", "execution_key"), RECORDINGS)
def test_the_mes_stores_what_the_recording_contains(
    store: Engine, log: str, devices: str, device: str, count_key: str, execution_key: str
) -> None:
    root = shared_dir() / "mtconnect"
    lines = _log(root / "shdr" / log)
    first = _epoch(lines[0][0])
    tenant, _ = create_tenant(store, "acme")

    async def main() -> None:
        # The agent's own start-up observations take the recording's first instant, as data time.
        agent = Agent((root / "devices" / devices).read_bytes(), schema_version="2.7", clock=lambda: first)
        server = AgentServer(agent, port=0)
        await server.start()
        try:
            register_machine(
                store,
                tenant.id,
                {"name": device, "machine_id": device, "agent_url": server.url, "poll_interval_ms": 50},
            )
            service = IngestionService(store, flush_interval_s=0.1)
            service.load()
            task = asyncio.create_task(service.run())
            await _until(lambda: _client_next(service) is not None)
            target = agent.model.device(device)
            assert target is not None
            ingest, decoder = ShdrIngest(agent, target), ShdrDecoder()
            text = (root / "shdr" / log).read_text(encoding="utf-8")
            for start in range(0, len(text), 64 * 1024):
                for record in decoder.feed(text[start : start + 64 * 1024]):
                    ingest.handle(record)
                await asyncio.sleep(0)
            for record in decoder.close():
                ingest.handle(record)
            assert ingest.stats.malformed == 0
            await _until(lambda: _client_next(service) == agent.buffer.next_sequence, timeout=30)
            await service.flush()
            service.stop()
            await asyncio.wait_for(task, 10)
        finally:
            await server.stop()

    asyncio.run(asyncio.wait_for(main(), 90))
    with transaction(store) as conn:
        totals = repository.part_totals(conn, tenant.id, device, 0, 2**62)
        assert totals.get("total", 0) == _expected_parts(_values(lines, count_key))
        execution = conn.execute(
            select(observations.c.value)
            .where(observations.c.machine_id == device, observations.c.signal == "execution")
            .order_by(observations.c.seq)
        ).scalars()
        stored = [v for v in execution if v is not None]
        expected = [v.upper() for v in _values(lines, execution_key) if v.upper() != "UNAVAILABLE"]
        assert _deduped(stored) == _deduped(expected)
        alarms = repository.alarm_history(conn, tenant.id, machine_id=device, limit=10_000)
        assert {a.native_code for a in alarms} == _expected_alarm_codes(lines)


def _deduped(values: list[str]) -> list[str]:
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


def _client_next(service: IngestionService) -> int | None:
    clients = [a.client for a in service.agents.values() if a.client is not None]
    return clients[0].stats.next_sequence if clients else None


async def _until(condition: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)
