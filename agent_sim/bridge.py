"""The bridge from the twin to the wire: the one module of ``agent_sim`` that knows the twin.

Wiring::

    twin.Plant ── Observation ──> TwinBridge ─┬─ in process ─> Agent.add(data item, value)
                                             └─ SHDR ─> ShdrAdapterServer ─ TCP ─> ShdrConnector ─> Agent
    tool number / tool life ──> CuttingTool assets (Agent.add_asset, or @ASSET@ over SHDR)

The bridge keeps each machine's latest values, so that a restarted agent (in process) or a reconnecting
agent (SHDR: the adapter's snapshot on connect) gets the machine's whole state again, as real adapters
send theirs when an agent connects.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from agent_sim.adapter import ShdrAdapterServer
from agent_sim.agent import Agent, Asset, iso_timestamp
from agent_sim.assets import ASSET_TYPE, cutting_tool_xml
from agent_sim.buffer import UNAVAILABLE, ConditionState
from agent_sim.device_templates import UNIT_SCALE, DeviceTemplate, MachineDescription, device_template
from agent_sim.devices import DataItem, Device
from agent_sim.shdr_encode import encode_asset, encode_condition, encode_line
from agent_sim.timestamps import utc_formatter
from twin.config import MachineConfig
from twin.machine_models import spec_for
from twin.observations import Condition, Observation

__all__ = ["MachineRoute", "TwinBridge", "describe", "shdr_value", "template_for"]


def describe(machine: MachineConfig) -> MachineDescription:
    """The plain description of a twin machine that the device templates need."""
    spec = spec_for(machine.model)
    return MachineDescription(
        machine_id=machine.id,
        uuid=f"mestwin-{machine.id}",
        kind=spec.kind,
        manufacturer=spec.manufacturer,
        model_name=spec.model_name,
        controller=spec.controller,
        serial_number=machine.id,
        axes=tuple((a.name, a.rotary) for a in spec.axes),
        spindles=spec.spindles,
        conditions=spec.conditions,
        signals=spec.signals(),
    )


def template_for(machine: MachineConfig, schema_version: str) -> DeviceTemplate:
    return device_template(describe(machine), schema_version)


def _text(signal: str, value: object) -> str:
    if value is None:
        return UNAVAILABLE
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        scale = UNIT_SCALE.get(signal)
        if scale is not None:
            value = round(value * scale, 4)
        return repr(value)
    return str(value)


def shdr_value(signal: str, value: object, key: str | None = None) -> tuple[str, str]:
    """The SHDR (key, value) of a twin signal's value, keyed by ``key`` (the data item id; default the
    signal's name); conditions come pre-encoded (several fields)."""
    key = key or signal
    if isinstance(value, Condition):
        return encode_condition(
            key, value.level, value.native_code or "", value.severity or "", "", value.text or ""
        )
    if value is None and signal.startswith("cond_"):
        return encode_condition(key, "UNAVAILABLE")
    return key, _text(signal, value)


def agent_value(signal: str, item: DataItem, value: object) -> object:
    """The agent-side value of a twin signal's value for ``item``."""
    if item.is_condition:
        if isinstance(value, Condition):
            return ConditionState(value.level, value.native_code, value.severity, None, value.text)
        return ConditionState(UNAVAILABLE)
    return _text(signal, value)


@dataclass
class MachineRoute:
    """Where one machine's observations go: an agent in process, or an SHDR adapter."""

    machine: MachineConfig
    template: DeviceTemplate
    agent: Agent | None = None
    adapter: ShdrAdapterServer | None = None
    latest: dict[str, Observation] = field(default_factory=dict)
    tool: tuple[int, float] | None = None

    @property
    def device_uuid(self) -> str:
        return f"mestwin-{self.machine.id}"

    def device(self) -> Device:
        assert self.agent is not None
        device = self.agent.model.device(self.machine.id)
        assert device is not None
        return device


class TwinBridge:
    """A twin sink that forwards every observation to its machine's agent or adapter."""

    def __init__(self, routes: Iterable[MachineRoute], schema_version: str = "2.7") -> None:
        self.routes: dict[str, MachineRoute] = {r.machine.id: r for r in routes}
        self.schema_version = schema_version
        self.forwarded = 0
        self._stamp = utc_formatter()

    def emit(self, observation: Observation) -> None:
        route = self.routes.get(observation.machine)
        if route is None:
            return
        signal = observation.signal
        route.latest[signal] = observation
        if signal in ("tool_number", "tool_life_pct"):
            self._tool(route, observation)
        if signal not in route.template.signals:
            return
        self.forwarded += 1
        if route.agent is not None:
            self._to_agent(route, observation)
        adapter = route.adapter
        if adapter is not None and adapter.clients:
            if signal in route.template.samples:
                adapter.send_sample(
                    observation.time, route.template.signals[signal], _text(signal, observation.value)
                )
            else:
                adapter.send(self._lines(route, [observation]))

    def _to_agent(self, route: MachineRoute, observation: Observation) -> None:
        agent = route.agent
        assert agent is not None
        item = agent.model.items.get(route.template.signals[observation.signal])
        if item is not None:
            agent.add(
                item,
                agent_value(observation.signal, item, observation.value),
                self._stamp(observation.time),
            )

    @staticmethod
    def _lines(route: MachineRoute, observations: Iterable[Observation]) -> str:
        """SHDR lines, one per observation, each with its own timestamp (the MES reads data timestamps)."""
        lines = []
        signals = route.template.signals
        for obs in observations:
            item_id = signals.get(obs.signal)
            if item_id is not None:
                lines.append(encode_line(obs.time, [shdr_value(obs.signal, obs.value, item_id)]))
        return "".join(lines)

    def _tool(self, route: MachineRoute, observation: Observation) -> None:
        latest = route.latest
        number = latest.get("tool_number")
        life = latest.get("tool_life_pct")
        if number is None or life is None or not isinstance(number.value, int):
            return
        if not isinstance(life.value, int | float):
            return
        # Tool assets change with the tool, and in 5 % steps of its life, as adapters report them.
        step = (number.value, float(round(life.value / 5.0) * 5.0))
        if route.tool == step:
            return
        route.tool = step
        limit = next((j.tool_life_parts for j in route.machine.jobs if j.tool_number == number.value), 1000)
        asset_id = f"{route.machine.id}.T{number.value}"
        stamp = iso_timestamp(observation.time)
        xml = cutting_tool_xml(
            asset_id, route.device_uuid, stamp, number.value, float(life.value), limit, self.schema_version
        )
        if route.agent is not None:
            route.agent.add_asset(Asset(asset_id, ASSET_TYPE, route.device_uuid, stamp, xml))
        if route.adapter is not None and route.adapter.clients:
            route.adapter.send(encode_asset(observation.time, asset_id, ASSET_TYPE, xml))

    @staticmethod
    def _current(route: MachineRoute, at: float | None) -> list[Observation]:
        """The machine's latest values, stamped ``at`` (when given) as an adapter does when it sends its
        state to an agent that has just connected: the values hold now, whenever they last changed."""
        latest = list(route.latest.values())
        if at is None:
            return latest
        return [o._replace(time=max(o.time, at)) for o in latest]

    def snapshot(self, machine_id: str, at: float | None = None) -> str:
        """The machine's whole state as SHDR lines, for an agent that has just connected."""
        route = self.routes[machine_id]
        return self._lines(route, self._current(route, at))

    def reseed(self, machine_id: str, at: float | None = None) -> None:
        """Give a restarted (or reconnected) in-process agent the machine's whole state again."""
        route = self.routes[machine_id]
        for observation in self._current(route, at):
            if observation.signal in route.template.signals and route.agent is not None:
                self._to_agent(route, observation)
        route.tool = None
        for signal in ("tool_number", "tool_life_pct"):
            if signal in route.latest:
                self._tool(route, route.latest[signal])
