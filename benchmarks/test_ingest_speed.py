"""Ingest speed: the MES's work per polled document, without the network, against the bare extraction.

Run with ``.venv/bin/pytest benchmarks/test_ingest_speed.py --benchmark-only -s``. The documents are what
``mestwin bench poll`` reads: /sample answers of the load agents (``agent_sim.load_agents``), 14 observations
(about 3 KB) each, 100 devices x 12 polls. Measured on the same documents in the same run:

* bare: lxml ``fromstring`` and a ``root.iter()`` walk into (machine, sequence, time, item, text) tuples,
  as the bench's bare poller does (reference/performance.md 2a);
* parse: ``mtconnect_xml.parse_streams`` (every field of every observation, errors, namespaces);
* pipeline: what the ingestion does with a document once it has the body: parse, the client's take and
  grouping, the tracker, the observation rows and part events buffered for the writer, the statuses (a fresh
  service per round, made untimed, so every observation is new).

It prints, and stores in ``extra_info``, documents per second for each and the parse / bare and pipeline /
bare ratios (CPU per document relative to the bare extraction).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lxml import etree

from agent_sim.load_agents import LoadAgents
from mes_core.ingest.mtconnect_xml import ProbeDocument, parse_probe, parse_streams
from mes_core.services.ingestion import IngestionService
from mes_core.store import connect, migrate
from mes_core.store.records import Machine

DEVICES = 100
POLLS = 12
ROUNDS = 7
RESULTS: dict[str, float] = {}

Document = tuple[str, bytes]


@pytest.fixture(scope="module")
def agents() -> LoadAgents:
    agents = LoadAgents(DEVICES, 28.0, 4096, instance=9)
    for device in agents.devices.values():
        device.epoch -= 60.0  # a minute of data, produced
    return agents


@pytest.fixture(scope="module")
def documents(agents: LoadAgents) -> list[Document]:
    """Each device's next 12 polls of 14 observations, device after device (as polls interleave)."""
    found = []
    for poll in range(POLLS):
        for name in agents.devices:
            found.append((name, agents.answer(f"/{name}/sample?from={1000 + 14 * poll}&count=14")[1]))
    return found


def _bare(documents: list[Document]) -> list[tuple[str, int, str, str, str | None]]:
    rows = []
    for machine, body in documents:
        for element in etree.fromstring(body).iter():
            get = element.get
            item = get("dataItemId")
            if item is not None:
                rows.append((machine, int(get("sequence")), get("timestamp"), item, element.text))
    return rows


def _parse(documents: list[Document]) -> None:
    for _, body in documents:
        parse_streams(body)


def _service(agents: LoadAgents) -> tuple[IngestionService, dict[str, tuple[Any, Any]]]:
    """A service over an in-memory database with one bound, bootstrapped client per device (untimed)."""
    engine = connect("sqlite://")
    migrate(engine)
    service = IngestionService(engine, freeze_gc=False)
    service.load(
        Machine(
            tenant_id=1,
            machine_id=name,
            name=name,
            created_us=0,
            updated_us=0,
            agent_url=f"http://127.0.0.1:1/{name}",
            device=name,
            poll_interval_ms=500,
        )
        for name in agents.devices
    )
    readers: dict[str, tuple[Any, Any]] = {}

    async def bind() -> None:  # asyncio objects of the clients want a running loop
        for agent in service.agents.values():
            client = agent.client = service._client(agent, None)
            sink = service._sink(agent)
            name = agent.url.rsplit("/", 1)[1]
            probe = parse_probe(agents.answer(f"/{name}/probe")[1])
            assert isinstance(probe, ProbeDocument)
            client._instance = probe.header.instance_id
            client._bind(probe, sink)
            client._next, client._phase = 1000, "sample"
            readers[name] = (client, sink)

    asyncio.run(bind())
    return service, readers


def _pipeline(
    service: IngestionService, readers: dict[str, tuple[Any, Any]], documents: list[Document]
) -> None:
    for name, body in documents:
        client, sink = readers[name]
        client._take(client._streams_document(200, body), sink)
    service._statuses(False)


def _report(name: str, benchmark: Any, documents: list[Document]) -> None:
    RESULTS[name] = len(documents) / benchmark.stats.stats.min
    benchmark.extra_info["documents_per_s"] = round(RESULTS[name])
    if "bare" in RESULTS and name != "bare":
        ratio = RESULTS["bare"] / RESULTS[name]
        benchmark.extra_info["cpu_per_document_vs_bare"] = round(ratio, 2)
        print(f"\n{name}: {RESULTS[name]:,.0f} documents/s, {ratio:.2f} x the bare extraction's time")
    else:
        print(f"\n{name}: {RESULTS[name]:,.0f} documents/s")


def test_bare_extraction(benchmark: Any, documents: list[Document]) -> None:
    rows = benchmark.pedantic(_bare, args=(documents,), rounds=ROUNDS, iterations=1)
    assert len(rows) == DEVICES * POLLS * 14
    _report("bare", benchmark, documents)


def test_parse(benchmark: Any, documents: list[Document]) -> None:
    benchmark.pedantic(_parse, args=(documents,), rounds=ROUNDS, iterations=1)
    _report("parse", benchmark, documents)


def test_pipeline(benchmark: Any, agents: LoadAgents, documents: list[Document]) -> None:
    services: list[IngestionService] = []

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        service, readers = _service(agents)
        services.append(service)
        return (service, readers, documents), {}

    benchmark.pedantic(_pipeline, setup=setup, rounds=ROUNDS, iterations=1)
    assert services[-1].writer.pending >= DEVICES * POLLS * 14
    _report("pipeline", benchmark, documents)
