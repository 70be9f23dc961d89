"""A site: every agent, HTTP server, SHDR adapter and connector of one plant, and the faults they suffer.

Wiring::

    TwinBridge ──> in-process agents ─────────────────────────────┐
              └──> ShdrAdapterServer (per machine) ── TCP ──> ShdrConnector ──> agents
                                                                   └──> AgentServer (HTTP, per agent)

Faults: ``restart_agent`` (new instanceId, empty buffer; adapters reconnect or the bridge reseeds),
``disconnect_adapters`` (SHDR connections dropped; agents mark the data UNAVAILABLE, then reconnect),
``drop_network`` (the agent's HTTP port refuses connections for a while), ``slow`` (delayed responses).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agent_sim.adapter import ShdrAdapterServer
from agent_sim.agent import Agent
from agent_sim.bridge import MachineRoute, TwinBridge, describe, template_for
from agent_sim.connector import ShdrConnector
from agent_sim.device_templates import devices_document
from agent_sim.http import AgentServer
from agent_sim.shdr_encode import encode_command
from twin.config import MachineConfig

__all__ = ["AgentPlan", "Site"]


@dataclass(frozen=True, slots=True)
class AgentPlan:
    """One agent of a site: its port, schema version, machines and how they reach it."""

    name: str
    port: int
    machines: tuple[str, ...]
    schema_version: str = "2.7"
    transport: str = "inprocess"
    shdr_port: int | None = None
    buffer_size: int = 131072


@dataclass
class _AgentParts:
    plan: AgentPlan
    document: str
    server: AgentServer
    adapters: dict[str, ShdrAdapterServer] = field(default_factory=dict)
    connectors: dict[str, ShdrConnector] = field(default_factory=dict)


class Site:
    """Builds and runs the agents of a plant on ``host`` (loopback unless told otherwise)."""

    def __init__(
        self,
        machines: Sequence[MachineConfig],
        agents: Sequence[AgentPlan],
        *,
        host: str = "127.0.0.1",
        reconnect_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        by_id = {m.id: m for m in machines}
        self.clock = clock
        """What time it is for the agents; under a twin, the twin's clock (set it once the plant exists), so
        that the agents' own observations (UNAVAILABLE at start, availability) share the twin's time."""
        self.host = host
        self.reconnect_interval = reconnect_interval
        self._parts: dict[str, _AgentParts] = {}
        self._sync = 0
        routes: list[MachineRoute] = []
        versions = {a.schema_version for a in agents}
        for plan in agents:
            unknown = [m for m in plan.machines if m not in by_id]
            if unknown:
                raise ValueError(f"agent {plan.name!r} names unknown machines: {', '.join(unknown)}")
            configs = [by_id[m] for m in plan.machines]
            document = devices_document([describe(m) for m in configs], plan.schema_version)
            agent = self._new_agent(plan, document)
            parts = _AgentParts(plan, document, AgentServer(agent, host, plan.port))
            for index, config in enumerate(configs):
                route = MachineRoute(config, template_for(config, plan.schema_version))
                if plan.transport == "shdr":
                    port = 0 if plan.shdr_port is None else plan.shdr_port + index
                    route.adapter = ShdrAdapterServer(host, port, snapshot=self._snapshot(config.id))
                    parts.adapters[config.id] = route.adapter
                else:
                    route.agent = agent
                routes.append(route)
            self._parts[plan.name] = parts
        self.bridge = TwinBridge(routes, schema_version=min(versions) if versions else "2.7")

    def _snapshot(self, machine_id: str) -> Callable[[], str]:
        return lambda: self.bridge.snapshot(machine_id, self.clock())

    def _new_agent(self, plan: AgentPlan, document: str) -> Agent:
        exponent = max(4, math.ceil(math.log2(max(2, plan.buffer_size))))
        # Adapters on fixed ports are listed in the Agent device (as an agent's configuration lists them).
        adapters = []
        if plan.transport == "shdr" and plan.shdr_port is not None:
            adapters = [f"shdr://{self.host}:{plan.shdr_port + i}" for i in range(len(plan.machines))]
        return Agent(
            document,
            schema_version=plan.schema_version,
            buffer_size_exponent=exponent,
            adapters=adapters,
            clock=lambda: self.clock(),
        )

    def agent(self, name: str) -> Agent:
        return self._parts[name].server.agent

    @property
    def urls(self) -> dict[str, str]:
        return {name: parts.server.url for name, parts in self._parts.items()}

    def adapter_urls(self) -> dict[str, str]:
        return {
            machine: f"shdr://{adapter.host}:{adapter.port}"
            for parts in self._parts.values()
            for machine, adapter in parts.adapters.items()
        }

    async def start(self) -> None:
        """Start every adapter, server and connector; return once the connectors are connected."""
        for parts in self._parts.values():
            for adapter in parts.adapters.values():
                await adapter.start()
            await parts.server.start()
            agent = parts.server.agent
            for machine_id, adapter in parts.adapters.items():
                device = agent.model.device(machine_id)
                assert device is not None
                connector = ShdrConnector(
                    agent, device, adapter.host, adapter.port, reconnect_interval=self.reconnect_interval
                )
                connector.start()
                parts.connectors[machine_id] = connector
        for parts in self._parts.values():
            for connector in parts.connectors.values():
                await connector.wait_connected()

    async def stop(self) -> None:
        for parts in self._parts.values():
            for connector in parts.connectors.values():
                await connector.stop()
            await parts.server.stop()
            for adapter in parts.adapters.values():
                await adapter.stop()

    async def settle(self, timeout: float = 5.0) -> bool:
        """Wait until every SHDR line sent so far has been applied by its agent (in process: at once).

        Each connected adapter sends a ``* sync: N`` marker; this returns when every connector has applied
        its marker, or False when ``timeout`` passed first (a connection down, for instance).
        """
        self._sync += 1
        token = str(self._sync)
        waiting = []
        for parts in self._parts.values():
            for machine_id, adapter in parts.adapters.items():
                if adapter.clients:
                    adapter.send(encode_command("sync", token))
                    waiting.append(parts.connectors[machine_id])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(c.ingest.synced != token and c.status == "ESTABLISHED" for c in waiting):
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.0005)
        return True

    # -- faults --------------------------------------------------------------------------------------

    async def restart_agent(self, name: str) -> Agent:
        """Replace agent ``name`` by a fresh one (new instanceId, empty buffer), as after a restart.

        Its SHDR connections are made anew, so each adapter sends its machine's state again on connect, as
        real adapters do; in-process machines are reseeded by the bridge.
        """
        parts = self._parts[name]
        agent = self._new_agent(parts.plan, parts.document)
        parts.server.restart(agent)
        for machine_id in parts.plan.machines:
            route = self.bridge.routes[machine_id]
            if route.agent is not None:
                route.agent = agent
                self.bridge.reseed(machine_id, self.clock())
        before = {m: c.connections for m, c in parts.connectors.items()}
        for connector in parts.connectors.values():
            connector.rebind(agent)
        for adapter in parts.adapters.values():
            await adapter.disconnect_all()
        await self._reconnected(parts, before)
        return agent

    async def disconnect_adapters(self, name: str) -> None:
        """Drop the SHDR connections of agent ``name``'s adapters; returns once they have reconnected by
        themselves (or after a bounded wait), as the agent's data went UNAVAILABLE and came back."""
        parts = self._parts[name]
        if not parts.adapters:
            agent = parts.server.agent
            for machine_id in parts.plan.machines:
                device = agent.model.device(machine_id)
                if device is not None:
                    agent.make_unavailable(device.data_items)
                self.bridge.reseed(machine_id, self.clock())
            return
        before = {m: c.connections for m, c in parts.connectors.items()}
        for adapter in parts.adapters.values():
            await adapter.disconnect_all()
        await self._reconnected(parts, before)

    async def _reconnected(self, parts: _AgentParts, before: dict[str, int]) -> bool:
        """Wait until each connector of ``parts`` has made a new connection since ``before`` (bounded)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10 * self.reconnect_interval + 5
        while any(
            c.connections <= before[m] or c.status != "ESTABLISHED" for m, c in parts.connectors.items()
        ):
            if loop.time() > deadline:
                return False  # the adapters did not come back; the agent goes on without them
            await asyncio.sleep(0.005)
        return True

    async def drop_network(self, name: str, seconds: float) -> None:
        """Refuse connections to agent ``name`` for ``seconds``."""
        await self._parts[name].server.drop_network(seconds)

    async def network_down(self, name: str) -> None:
        """Cut agent ``name`` off the network (open connections dropped, new ones refused) until
        ``network_up``; the agent itself keeps taking observations into its buffer."""
        await self._parts[name].server.stop()

    async def network_up(self, name: str) -> None:
        """Make agent ``name`` reachable again on its port."""
        await self._parts[name].server.start()

    def slow(self, name: str, delay_s: float) -> None:
        self._parts[name].server.slow(delay_s)

    async def __aenter__(self) -> Site:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.stop()
