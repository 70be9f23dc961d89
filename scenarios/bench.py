"""``mestwin bench poll``: MES ingestion throughput against many simulated agents, with a bare baseline.

Wiring::

    child process, pinned to CPU 0:  agent_sim.load_agents  N devices, /DEV-i/{probe,current,sample}
    this process, pinned to CPU 1:   1. IngestionService (one AgentClient per machine, tracker, BatchWriter
                                        -> SQLite WAL in a temp dir, or --db) for ``duration`` seconds
                                     2. bare_poller (aiohttp + lxml root.iter() + sqlite3 executemany every
                                        0.5 s) for ``duration`` seconds against the same agents

Both read every machine at its own path, so each machine is its own keep-alive connection (poll) or its own
stream. Each measurement starts once every machine has been read for the first time (the MES: probed and
bootstrapped from /current; the bare poller: its /current), which takes ``startup_s``; then the window of
``duration`` seconds. Lag is sampled per delivered batch from the window's start: delivery time minus the
newest observation timestamp in it. Lost observations: sequences skipped by resyncs plus sequences read but
not found stored. Rates count what was delivered inside the window; a saturated MES drains its backlog after
it (reported as ``drained_after_window``; lags include it). CPU is this process's within the window (also
per poll and per observation), ``agents_cpu_pct`` the simulated agents' process's. Every wait is bounded (a
watchdog ends a run that cannot drain); loopback only. Prints one JSON object.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from array import array
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from lxml import etree
from sqlalchemy import text

from agent_sim.load_agents import ITEMS_PER_DEVICE
from mes_core.ingest.client import AgentEvent, Bootstrap, Observations
from mes_core.services.ingestion import IngestionService
from mes_core.services.tenants import create_tenant
from mes_core.store import connect, migrate, repository, transaction
from mes_core.store.records import Machine

__all__ = ["AGENTS_MARGIN_S", "bare_poller", "run_bench"]

ROOT = Path(__file__).resolve().parents[1]
_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 30.0
AGENTS_MARGIN_S = 300.0
"""The agents' process lives twice the duration plus this (start-up, stop and both measurements)."""


# -- processes and measures ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process ``pid`` has used, 0.0 where /proc cannot tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return 0.0


@contextlib.contextmanager
def _agents(machines: int, rate: float, seconds: float, cpu: int | None) -> Iterator[tuple[str, int]]:
    """The simulated agents in a child process (pinned to ``cpu``); yields their base URL and pid."""
    port = _free_port()
    command = [sys.executable, "-m", "agent_sim.load_agents", "--machines", str(machines)]
    command += ["--port", str(port), "--rate", f"{rate:g}", "--seconds", f"{seconds:g}"]
    command += ["--buffer", str(max(1024, round(rate * 30)))]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    process = subprocess.Popen(command, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{base}/DEV-0/probe", timeout=1) as answer:
                    answer.read()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the simulated agents did not start") from None
                time.sleep(0.1)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _rss_mb() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 1e6, 1)
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class _Window:
    """CPU over the measurement window (``start`` .. ``end``): this process's, its writer process's (when
    there is one) and the agents' process's."""

    def __init__(self, agents_pid: int) -> None:
        self.agents_pid = agents_pid
        self.writer_pid: int | None = None
        self.t0 = self.t1 = self.c0 = self.c1 = self.a0 = self.a1 = self.w0 = self.w1 = 0.0

    @staticmethod
    def _cpu() -> float:
        times = os.times()
        return times.user + times.system

    def _writer(self) -> float:
        return 0.0 if self.writer_pid is None else _cpu_s(self.writer_pid)

    def start(self) -> None:
        self.t0, self.c0, self.a0, self.w0 = (
            time.monotonic(),
            self._cpu(),
            _cpu_s(self.agents_pid),
            self._writer(),
        )

    def end(self) -> None:
        self.t1, self.c1, self.a1, self.w1 = (
            time.monotonic(),
            self._cpu(),
            _cpu_s(self.agents_pid),
            self._writer(),
        )

    @property
    def wall(self) -> float:
        return max(self.t1 - self.t0, 1e-9)

    @property
    def cpu_pct(self) -> float:
        return round(100 * (self.c1 - self.c0) / self.wall, 1)

    @property
    def writer_cpu_pct(self) -> float | None:
        return None if self.writer_pid is None else round(100 * (self.w1 - self.w0) / self.wall, 1)

    @property
    def agents_cpu_pct(self) -> float:
        return round(100 * (self.a1 - self.a0) / self.wall, 1)

    def per(self, count: int) -> float | None:
        """CPU microseconds (this process's and its writer's) per ``count`` things done in the window."""
        used = self.c1 - self.c0 + self.w1 - self.w0
        return round(1e6 * used / count, 1) if count else None


def _percentile(values: array[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def _figures(
    machines: int,
    interval: float,
    mode: str,
    polls: int,
    observations: int,
    lags: array[float],
    lost: int,
    window: _Window,
    startup_s: float,
) -> dict[str, Any]:
    seconds = window.wall
    return {
        "machines": machines,
        "interval_s": interval,
        "mode": mode,
        "seconds": round(seconds, 2),
        "startup_s": round(startup_s, 2),
        "polls_per_s": round(polls / seconds, 1),
        "observations_per_s": round(observations / seconds, 1),
        "lag_p50_ms": _percentile(lags, 0.50),
        "lag_p99_ms": _percentile(lags, 0.99),
        "lost_observations": lost,
        "cpu_pct": window.cpu_pct,
        "writer_cpu_pct": window.writer_cpu_pct,
        "cpu_us_per_poll": window.per(polls),
        "cpu_us_per_observation": window.per(observations),
        "agents_cpu_pct": window.agents_cpu_pct,
        "rss_mb": _rss_mb(),
    }


# -- the MES --------------------------------------------------------------------------------------------


class _MeasuredIngestion(IngestionService):
    """The ingestion service with every delivery timed and each machine's bootstrap remembered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lags: array[float] = array("d")
        self.boot: dict[str, tuple[int, int]] = {}
        """machine -> (next sequence after its first /current, observations that /current gave)."""

    def _sink(self, agent: Any) -> Any:
        inner = super()._sink(agent)
        lags, boot = self.lags, self.boot

        def sink(event: AgentEvent) -> None:
            if isinstance(event, Observations) and event.observations:
                lags.append(time.time() - max(o.timestamp for o in event.observations))
            elif isinstance(event, Bootstrap) and event.machine not in boot:
                boot[event.machine] = (event.next_sequence, len(event.observations))
            inner(event)

        return sink


def _mes(
    base: str,
    agents_pid: int,
    machines: int,
    interval: float,
    duration: float,
    mode: str,
    db: str,
    writer_process: bool = False,
    writer_cpu: int | None = None,
) -> dict[str, Any]:
    """The MES's figures; with ``writer_process`` its writer runs in a child process (pinned to
    ``writer_cpu`` when given)."""
    engine = connect(db)
    try:
        migrate(engine)
        tenant, _ = create_tenant(engine, f"bench-{time.time_ns()}")
        now = time.time_ns() // 1000
        records = [
            Machine(
                tenant_id=tenant.id,
                machine_id=f"DEV-{i}",
                name=f"DEV-{i}",
                created_us=now,
                updated_us=now,
                agent_url=f"{base}/DEV-{i}",
                device=f"DEV-{i}",
                poll_interval_ms=round(interval * 1000),
            )
            for i in range(machines)
        ]
        with transaction(engine) as conn:
            for record in records:
                repository.insert_machine(conn, record)
        service = _MeasuredIngestion(engine, mode=mode, flush_interval_s=0.5, writer_process=writer_process)
        service.load(records)

        stop_timed_out = False
        startup = 0.0
        counted: list[int] = [0, 0]
        meter = _Window(agents_pid)

        def totals() -> tuple[int, int]:
            running = [a.client for a in service.agents.values() if a.client is not None]
            return sum(c.stats.polls for c in running), sum(c.stats.observations for c in running)

        async def main() -> None:
            nonlocal stop_timed_out, startup
            task = asyncio.create_task(service.run())
            began = time.monotonic()
            try:
                # The window opens once every machine was probed and bootstrapped (bounded).
                while len(service.boot) < machines and not task.done():
                    if time.monotonic() - began > _START_TIMEOUT_S:
                        raise RuntimeError(f"the MES read {len(service.boot)} of {machines} machines")
                    await asyncio.sleep(0.05)
                startup = time.monotonic() - began
                meter.writer_pid = service.writer.process_pid
                if meter.writer_pid is not None and writer_cpu is not None:
                    os.sched_setaffinity(meter.writer_pid, {writer_cpu})
                del service.lags[:]
                polls0, observations0 = totals()
                meter.start()
                await asyncio.wait({task}, timeout=duration)
            finally:
                # Rates count what was delivered within the window (a saturated reader drains long after).
                meter.end()
                polls1, observations1 = totals()
                counted[:] = [polls1 - polls0, observations1 - observations0]
                # Every reader first, at once: the service halts its agents one by one, and on a saturated
                # loop each of those waits costs a whole loop iteration while the others keep reading.
                for agent in service.agents.values():
                    if agent.client is not None:
                        agent.client.stop()
                service.stop()
                try:
                    await asyncio.wait_for(task, _STOP_TIMEOUT_S)
                except TimeoutError:
                    stop_timed_out = True
                counted.append(polls1)
                counted.append(observations1)

        uvloop.run(main())
        clients = [a.client for a in service.agents.values() if a.client is not None]
        polls, observations, polls_by_end, observations_by_end = counted
        lost = sum(c.stats.lost_sequences for c in clients)
        # Every sequence a reader moved past must be stored (plus what its first /current gave).
        with transaction(engine) as conn:
            rows = conn.execute(
                text(
                    "SELECT machine_id, count(*) FROM observations WHERE tenant_id = :t GROUP BY machine_id"
                ),
                {"t": tenant.id},
            ).all()
        stored = {str(machine): int(count) for machine, count in rows}
        for agent in service.agents.values():
            client = agent.client
            for key in agent.machines:
                if client is None or key not in service.boot or client.stats.next_sequence is None:
                    continue
                boot_next, boot_count = service.boot[key]
                expected = boot_count + client.stats.next_sequence - boot_next
                lost += max(0, expected - stored.get(key, 0))
        figures = _figures(machines, interval, mode, polls, observations, service.lags, lost, meter, startup)
        figures["errors"] = sum(sum(c.stats.errors.values()) for c in clients)
        figures["stop_timed_out"] = stop_timed_out
        figures["drained_after_window"] = {
            "polls": sum(c.stats.polls for c in clients) - polls_by_end,
            "observations": sum(c.stats.observations for c in clients) - observations_by_end,
        }
        return figures
    finally:
        engine.dispose()


# -- the bare baseline ----------------------------------------------------------------------------------

_STAMPS: dict[str, float] = {}


def _epoch(raw: str) -> float:
    stamp = _STAMPS.get(raw)
    if stamp is None:
        if len(_STAMPS) > 100_000:
            _STAMPS.clear()
        stamp = _STAMPS[raw] = datetime.fromisoformat(raw).timestamp()
    return stamp


_NEXT = re.compile(rb'nextSequence="(\d+)"')


class bare_poller:
    """The bare poller of reference/performance.md: aiohttp with one keep-alive connection per machine,
    lxml ``root.iter()`` extraction, rows batched into SQLite (WAL) every 0.5 s. No tracker, no recovery
    beyond counting what a resync would skip."""

    def __init__(self, base: str, machines: int, interval: float, mode: str, db_path: Path) -> None:
        self.base, self.machines, self.interval, self.mode = base, machines, interval, mode
        self.polls = self.observations = self.lost = self.errors = 0
        self.startup_s = 0.0
        self.lags: array[float] = array("d")
        self.rows: list[tuple[str, int, int, str, str | None]] = []
        self.span: dict[str, list[int]] = {}
        """machine -> [first sequence read by samples, next sequence, rows from /current]."""
        self.db = sqlite3.connect(db_path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS obs (machine TEXT, seq INTEGER, ts_us INTEGER, item TEXT, value TEXT)"
        )

    def _take(self, machine: str, body: bytes) -> int | None:
        """Store a streams document's observations; return its nextSequence (None for an error document)."""
        root = etree.fromstring(body)
        if not root.tag.endswith("MTConnectStreams"):
            return None
        header = root[0]
        nxt = int(header.get("nextSequence"))
        newest = 0.0
        rows = self.rows
        count = 0
        for element in root.iter():
            get = element.get
            item = get("dataItemId")
            if item is None:
                continue
            stamp = _epoch(get("timestamp"))
            newest = max(newest, stamp)
            rows.append((machine, int(get("sequence")), int(stamp * 1e6), item, element.text))
            count += 1
        if count:
            self.lags.append(time.time() - newest)
            self.observations += count
        return nxt

    async def _current(self, session: aiohttp.ClientSession, machine: str) -> int:
        async with session.get(f"{self.base}/{machine}/current") as response:
            body = await response.read()
        before = len(self.rows)
        nxt = self._take(machine, body)
        assert nxt is not None
        self.observations -= len(self.rows) - before  # /current repeats; only samples count
        self.span[machine] = [nxt, nxt, len(self.rows) - before]
        return nxt

    async def _poll(self, session: aiohttp.ClientSession, machine: str) -> None:
        nxt = await self._current(session, machine)
        url = f"{self.base}/{machine}/sample"
        while True:
            started = time.monotonic()
            try:
                async with session.get(url, params={"from": str(nxt), "count": "1000"}) as response:
                    body = await response.read()
            except (aiohttp.ClientError, TimeoutError):
                self.errors += 1
                await asyncio.sleep(self.interval)
                continue
            self.polls += 1
            got = self._take(machine, body)
            if got is None:  # OUT_OF_RANGE: what a resync would skip is lost
                fresh = await self._current(session, machine)
                self.lost += max(0, fresh - nxt)
                continue
            nxt = self.span[machine][1] = got
            await asyncio.sleep(max(0.0, started + self.interval - time.monotonic()))

    async def _stream(self, session: aiohttp.ClientSession, machine: str) -> None:
        nxt = await self._current(session, machine)
        query = {"from": str(nxt), "count": "1000", "interval": str(round(self.interval * 1000))}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=30)
        async with session.get(f"{self.base}/{machine}/sample", params=query, timeout=timeout) as response:
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                while True:
                    head_end = buffer.find(b"\r\n\r\n")
                    if head_end < 0:
                        break
                    match = re.search(rb"Content-Length: (\d+)", buffer[:head_end])
                    if match is None:
                        return
                    end = head_end + 4 + int(match.group(1))
                    if len(buffer) < end:
                        break
                    document, buffer = buffer[head_end + 4 : end], buffer[end + 2 :]
                    self.polls += 1
                    got = self._take(machine, document)
                    if got is None:
                        return
                    self.span[machine][1] = got

    def flush(self) -> int:
        rows, self.rows = self.rows, []
        if rows:
            with self.db:
                self.db.executemany("INSERT INTO obs VALUES (?, ?, ?, ?, ?)", rows)
        return len(rows)

    async def run(self, duration: float, window: _Window) -> None:
        """Read every machine; measure (``window``) ``duration`` seconds from when all had their /current."""
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=10)
        ) as session:
            read = self._poll if self.mode == "poll" else self._stream
            began = time.monotonic()
            tasks = [asyncio.create_task(read(session, f"DEV-{i}")) for i in range(self.machines)]
            try:
                while len(self.span) < self.machines:
                    if time.monotonic() - began > _START_TIMEOUT_S:
                        raise RuntimeError(f"the bare poller read {len(self.span)} of {self.machines}")
                    await asyncio.sleep(0.05)
                self.startup_s = time.monotonic() - began
                gc.collect()  # as the MES's service does once every machine was read (fair to both)
                gc.freeze()
                del self.lags[:]
                self.polls = self.observations = 0
                window.start()
                deadline = time.monotonic() + duration
                while time.monotonic() < deadline:
                    await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
                    await asyncio.to_thread(self.flush)
            finally:
                window.end()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self.flush()

    def missing(self) -> int:
        """Sequences read past but not stored."""
        stored = dict(self.db.execute("SELECT machine, count(*) FROM obs GROUP BY machine").fetchall())
        return sum(
            max(0, boot + nxt - first - stored.get(m, 0)) for m, (first, nxt, boot) in self.span.items()
        )


def _bare(
    base: str, agents_pid: int, machines: int, interval: float, duration: float, mode: str, db_path: Path
) -> dict[str, Any]:
    poller = bare_poller(base, machines, interval, mode, db_path)
    try:
        window = _Window(agents_pid)
        uvloop.run(poller.run(duration, window))
        lost = poller.lost + poller.missing()
        figures = _figures(
            machines,
            interval,
            mode,
            poller.polls,
            poller.observations,
            poller.lags,
            lost,
            window,
            poller.startup_s,
        )
        figures["errors"] = poller.errors
        return figures
    finally:
        poller.db.close()


# -- the command ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _pinned(cpu: int | None) -> Iterator[None]:
    saved = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, saved)


def _raise_file_limit() -> None:
    """Each machine is a socket (here and in the agents' process): lift the soft limit to the hard one."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_bench(
    machines: int, interval: float, duration: float, mode: str, db: str | None, writer: str = "thread"
) -> dict[str, Any]:
    """Run both measurements against one set of simulated agents; return the report. With ``writer``
    ``process`` the MES's writer runs in a child process on the agents' CPU."""
    _raise_file_limit()
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = (cpus[0], cpus[-1]) if len(cpus) >= 2 else (None, None)
    rate = ITEMS_PER_DEVICE / interval  # about 14 observations (3 KB) per machine per interval
    with (
        tempfile.TemporaryDirectory(prefix="mestwin-bench-") as tmp,
        _agents(machines, rate, 2 * duration + AGENTS_MARGIN_S, server_cpu) as (base, pid),
        _pinned(client_cpu),
    ):
        url = db or f"sqlite:///{Path(tmp) / 'mes.sqlite'}"
        mes = _mes(base, pid, machines, interval, duration, mode, url, writer == "process", server_cpu)
        baseline = _bare(base, pid, machines, interval, duration, mode, Path(tmp) / "bare.sqlite")

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or not b else round(a / b, 3)

    return {
        **mes,
        "loop": "uvloop",
        "pinned": {"agents_cpu": server_cpu, "ingestion_cpu": client_cpu},
        "database": "sqlite (temp dir)" if db is None else "given --db",
        "writer": writer,
        "baseline": baseline,
        "ratio": {
            "polls_per_s": ratio(mes["polls_per_s"], baseline["polls_per_s"]),
            "cpu_pct": ratio(mes["cpu_pct"], baseline["cpu_pct"]),
            "cpu_per_poll": ratio(mes["cpu_us_per_poll"], baseline["cpu_us_per_poll"]),
            "cpu_per_observation": ratio(mes["cpu_us_per_observation"], baseline["cpu_us_per_observation"]),
        },
    }
