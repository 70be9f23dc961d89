"""From a scenario to the wire: its agents as ``agent_sim`` plans, and its timed faults on agents."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from agent_sim.site import AgentPlan, Site
from scenarios.build import event_time
from scenarios.model import Scenario, parse_duration

__all__ = ["WireFault", "agent_plans", "apply_fault", "wire_faults"]

_DEFAULT_DROP_S = 30.0
_BACKGROUND: set[asyncio.Task[None]] = set()
"""Faults that end by themselves, kept referenced until they do."""


def _background(coroutine: Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(coroutine)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


_DEFAULT_SLOW_DELAY_S = 0.5


@dataclass(frozen=True, slots=True)
class WireFault:
    """A fault on an agent at twin instant ``at`` (UTC epoch seconds)."""

    at: float
    agent: str
    kind: str
    duration_s: float | None


def agent_plans(scenario: Scenario) -> list[AgentPlan]:
    """The scenario's agents as plans for ``agent_sim.site.Site``."""
    return [
        AgentPlan(
            name=a.name,
            port=a.port,
            machines=tuple(scenario.agent_machines(a)),
            schema_version=a.schema_version,
            transport=a.transport,
            shdr_port=a.shdr_port,
            buffer_size=a.buffer_size,
        )
        for a in scenario.agents
    ]


def wire_faults(scenario: Scenario) -> list[WireFault]:
    """The scenario's faults on agents (restart, adapter disconnect, network drop, slow), in time order."""
    faults = [
        WireFault(
            event_time(scenario, e), e.agent, e.kind, parse_duration(e.duration) if e.duration else None
        )
        for e in scenario.events
        if e.agent is not None
    ]
    return sorted(faults, key=lambda f: f.at)


async def apply_fault(site: Site, fault: WireFault) -> None:
    """Apply one fault; network drops and slow spells end by themselves after their duration."""
    if fault.kind == "agent_restart":
        await site.restart_agent(fault.agent)
    elif fault.kind == "adapter_disconnect":
        await site.disconnect_adapters(fault.agent)
    elif fault.kind == "network_drop":
        _background(site.drop_network(fault.agent, fault.duration_s or _DEFAULT_DROP_S))
    elif fault.kind == "slow_responses":
        site.slow(fault.agent, _DEFAULT_SLOW_DELAY_S)

        async def recover() -> None:
            await asyncio.sleep(fault.duration_s or _DEFAULT_DROP_S)
            site.slow(fault.agent, 0.0)

        _background(recover())
    else:  # pragma: no cover - the scenario schema allows only the kinds above
        raise ValueError(f"unknown agent fault {fault.kind!r}")
