"""Maps an MTConnect agent's data items to canonical MES signals by type, subtype, category and component.

Real agents name and number their data items their own way (the NIST Hurco's EXECUTION item is named
``Program_Status``, the DMG MORI's ``execution1``), so an item's ``id`` and ``name`` are never looked at:
``classify`` reads only its ``category``, ``type``, ``subType`` and the type and name of the component that
holds it. Several items of a device may qualify for one signal (a multi-path lathe, a machine with a main
and a sub-spindle, PROGRAM with and without ``subType="MAIN"``); ``bind`` then picks one primary item per
signal by the rule documented there and keeps the others as secondary.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Protocol

__all__ = ["ItemDescription", "Signal", "SignalMap", "bind", "classify"]


class Signal(StrEnum):
    """A canonical signal the MES reads from a machine, whatever the agent calls its data item."""

    AVAILABILITY = "availability"
    EXECUTION = "execution"
    CONTROLLER_MODE = "controller_mode"
    FUNCTIONAL_MODE = "functional_mode"
    EMERGENCY_STOP = "emergency_stop"
    PART_COUNT = "part_count"
    """PART_COUNT with subType ALL or none: every part made."""
    PART_COUNT_GOOD = "part_count_good"
    PART_COUNT_BAD = "part_count_bad"
    """PART_COUNT BAD (preferred) or FAILED."""
    PART_COUNT_TARGET = "part_count_target"
    PROGRAM = "program"
    BLOCK = "block"
    LINE = "line"
    """LINE_NUMBER (ABSOLUTE preferred, then none, then INCREMENTAL) or the deprecated LINE."""
    SPINDLE_SPEED = "spindle_speed"
    """ROTARY_VELOCITY or the deprecated SPINDLE_SPEED, ACTUAL or no subType, on a Rotary (or 1.1 Spindle)."""
    SPINDLE_LOAD = "spindle_load"
    """LOAD sample on a Rotary (or Spindle) component."""
    SPINDLE_OVERRIDE = "spindle_override"
    """ROTARY_VELOCITY_OVERRIDE (no subType or PROGRAMMED), or SPINDLE_SPEED with subType OVERRIDE."""
    FEED_RATE = "feed_rate"
    FEED_OVERRIDE = "feed_override"
    RAPID_OVERRIDE = "rapid_override"
    POSITION_X = "position_x"
    POSITION_Y = "position_y"
    POSITION_Z = "position_z"
    PATH_POSITION = "path_position"
    """PATH_POSITION: one ``x y z`` value for the tool tip, for devices without Linear X/Y/Z positions
    (the NIST GF Agie reports only this); read the axes from it when ``position_x`` has no item."""
    TOOL_NUMBER = "tool_number"
    TOOL_ASSET = "tool_asset"
    CYCLE_TIME = "cycle_time"
    """PROCESS_TIMER with subType PROCESS: the time the last (or current) cycle took."""
    CONDITION = "condition"
    """Any CONDITION data item: the machine's alarms and warnings."""


class ItemDescription(Protocol):
    """What ``classify`` needs to know about a data item, as any probe parser can describe it.

    ``component_type`` is the element name of the component that holds the item (``Device``, ``Path``,
    ``Rotary``, ``Linear``, ...), ``component_name`` that component's ``name`` attribute. Values are compared
    case-insensitively. Read-only properties, so frozen dataclasses and named tuples satisfy the protocol.
    """

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def sub_type(self) -> str | None: ...
    @property
    def category(self) -> str | None: ...
    @property
    def component_type(self) -> str | None: ...
    @property
    def component_name(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...


_SPINDLE_COMPONENTS: Final[frozenset[str]] = frozenset({"ROTARY", "SPINDLE"})
_LINEAR_AXIS: Final[re.Pattern[str]] = re.compile(r"([XYZ])\d*")
_POSITIONS: Final[dict[str, Signal]] = {
    "X": Signal.POSITION_X,
    "Y": Signal.POSITION_Y,
    "Z": Signal.POSITION_Z,
}

# type -> {subType (None for none) -> signal}, for items whose component does not matter.
_BY_TYPE: Final[dict[str, dict[str | None, Signal]]] = {
    "AVAILABILITY": {None: Signal.AVAILABILITY},
    "EXECUTION": {None: Signal.EXECUTION},
    "CONTROLLER_MODE": {None: Signal.CONTROLLER_MODE},
    "FUNCTIONAL_MODE": {None: Signal.FUNCTIONAL_MODE},
    "EMERGENCY_STOP": {None: Signal.EMERGENCY_STOP},
    "PART_COUNT": {
        None: Signal.PART_COUNT,
        "ALL": Signal.PART_COUNT,
        "GOOD": Signal.PART_COUNT_GOOD,
        "BAD": Signal.PART_COUNT_BAD,
        "FAILED": Signal.PART_COUNT_BAD,
        "TARGET": Signal.PART_COUNT_TARGET,
    },
    "PROGRAM": {None: Signal.PROGRAM, "MAIN": Signal.PROGRAM, "ACTIVE": Signal.PROGRAM},
    "BLOCK": {None: Signal.BLOCK},
    "LINE": {None: Signal.LINE},
    "LINE_NUMBER": {None: Signal.LINE, "ABSOLUTE": Signal.LINE, "INCREMENTAL": Signal.LINE},
    "ROTARY_VELOCITY_OVERRIDE": {None: Signal.SPINDLE_OVERRIDE, "PROGRAMMED": Signal.SPINDLE_OVERRIDE},
    "PATH_FEEDRATE": {None: Signal.FEED_RATE, "ACTUAL": Signal.FEED_RATE},
    # OVERRIDE is no standard subType; the NIST GF Agie's adapter uses it for the feed override.
    "PATH_FEEDRATE_OVERRIDE": {
        None: Signal.FEED_OVERRIDE,
        "PROGRAMMED": Signal.FEED_OVERRIDE,
        "OVERRIDE": Signal.FEED_OVERRIDE,
        "RAPID": Signal.RAPID_OVERRIDE,
    },
    "PATH_POSITION": {None: Signal.PATH_POSITION, "ACTUAL": Signal.PATH_POSITION},
    "TOOL_NUMBER": {None: Signal.TOOL_NUMBER},
    "TOOL_ID": {None: Signal.TOOL_NUMBER},
    "TOOL_ASSET_ID": {None: Signal.TOOL_ASSET},
    "PROCESS_TIMER": {"PROCESS": Signal.CYCLE_TIME},
}


def _norm(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip().upper()
    return stripped or None


def classify(item: ItemDescription) -> Signal | None:
    """The canonical signal ``item`` carries, judged by category, type, subType and component only.

    Any CONDITION item is ``Signal.CONDITION``. Spindle speed and load must sit on a Rotary (or the 1.1
    Spindle) component; a POSITION must sit on a Linear component named X, Y or Z, optionally followed by
    digits (``Z1``). Commanded, programmed and extension (``x:``) subtypes carry no canonical signal.

    Returns:
        The signal, or None for an item the MES does not read.
    """
    category = _norm(item.category)
    if category == "CONDITION":
        return Signal.CONDITION
    data_type = _norm(item.type)
    if data_type is None:
        return None
    sub_type = _norm(item.sub_type)
    component = _norm(item.component_type)
    if data_type in ("ROTARY_VELOCITY", "SPINDLE_SPEED"):
        if data_type == "SPINDLE_SPEED" and sub_type == "OVERRIDE":
            return Signal.SPINDLE_OVERRIDE
        if sub_type in (None, "ACTUAL") and component in _SPINDLE_COMPONENTS:
            return Signal.SPINDLE_SPEED
        return None
    if data_type == "LOAD":
        return Signal.SPINDLE_LOAD if component in _SPINDLE_COMPONENTS and sub_type is None else None
    if data_type == "POSITION":
        if component != "LINEAR" or sub_type not in (None, "ACTUAL"):
            return None
        match = _LINEAR_AXIS.fullmatch(_norm(item.component_name) or "")
        return _POSITIONS[match.group(1)] if match else None
    return _BY_TYPE.get(data_type, {}).get(sub_type)


_Rank = Callable[[ItemDescription], tuple[int, ...]]


def _place(order: tuple[str, ...]) -> _Rank:
    """Rank by the holding component's type: earlier in ``order`` first, any other type after."""

    def rank(item: ItemDescription) -> tuple[int, ...]:
        component = _norm(item.component_type) or ""
        return (order.index(component) if component in order else len(order),)

    return rank


def _then_sub_type(first: _Rank, order: tuple[str | None, ...]) -> _Rank:
    """Rank by ``first``, then by subType: earlier in ``order`` first."""

    def rank(item: ItemDescription) -> tuple[int, ...]:
        sub_type = _norm(item.sub_type)
        return (*first(item), order.index(sub_type) if sub_type in order else len(order))

    return rank


_PATH_FIRST = _place(("PATH", "CONTROLLER", "DEVICE"))
_DEVICE_FIRST = _place(("DEVICE", "CONTROLLER", "PATH"))
_CONTROLLER_FIRST = _place(("CONTROLLER", "DEVICE", "PATH"))
_ROTARY_FIRST = _place(("ROTARY", "SPINDLE", "PATH", "CONTROLLER"))
_ACTUAL_FIRST: tuple[str | None, ...] = ("ACTUAL", None)


def _line_rank(item: ItemDescription) -> tuple[int, ...]:
    key = (_norm(item.type), _norm(item.sub_type))
    order = (
        ("LINE_NUMBER", "ABSOLUTE"),
        ("LINE_NUMBER", None),
        ("LINE", None),
        ("LINE_NUMBER", "INCREMENTAL"),
    )
    return (*_PATH_FIRST(item), order.index(key) if key in order else len(order))


def _tool_rank(item: ItemDescription) -> tuple[int, ...]:
    return (*_PATH_FIRST(item), 0 if _norm(item.type) == "TOOL_NUMBER" else 1)


def _spindle_speed_rank(item: ItemDescription) -> tuple[int, ...]:
    sub_type = _norm(item.sub_type)
    return (0 if sub_type == "ACTUAL" else 1, 0 if _norm(item.type) == "ROTARY_VELOCITY" else 1)


def _position_rank(item: ItemDescription) -> tuple[int, ...]:
    exact = (_norm(item.component_name) or "") in _POSITIONS
    return (0 if _norm(item.sub_type) == "ACTUAL" else 1, 0 if exact else 1)


_RANKS: Final[Mapping[Signal, _Rank]] = MappingProxyType(
    {
        Signal.AVAILABILITY: _place(("DEVICE", "CONTROLLER", "PATH", "AGENT")),
        Signal.FUNCTIONAL_MODE: _DEVICE_FIRST,
        Signal.EMERGENCY_STOP: _CONTROLLER_FIRST,
        Signal.EXECUTION: _PATH_FIRST,
        Signal.CONTROLLER_MODE: _PATH_FIRST,
        Signal.PROGRAM: _then_sub_type(_PATH_FIRST, ("MAIN", None, "ACTIVE")),
        Signal.BLOCK: _PATH_FIRST,
        Signal.LINE: _line_rank,
        Signal.PART_COUNT: _then_sub_type(_PATH_FIRST, ("ALL", None)),
        Signal.PART_COUNT_GOOD: _PATH_FIRST,
        Signal.PART_COUNT_BAD: _then_sub_type(_PATH_FIRST, ("BAD", "FAILED")),
        Signal.PART_COUNT_TARGET: _PATH_FIRST,
        Signal.FEED_RATE: _then_sub_type(_PATH_FIRST, _ACTUAL_FIRST),
        Signal.FEED_OVERRIDE: _then_sub_type(_PATH_FIRST, ("PROGRAMMED", None, "OVERRIDE")),
        Signal.RAPID_OVERRIDE: _PATH_FIRST,
        Signal.TOOL_NUMBER: _tool_rank,
        Signal.TOOL_ASSET: _PATH_FIRST,
        Signal.CYCLE_TIME: _PATH_FIRST,
        Signal.PATH_POSITION: _then_sub_type(_PATH_FIRST, _ACTUAL_FIRST),
        Signal.SPINDLE_SPEED: _spindle_speed_rank,
        Signal.SPINDLE_LOAD: _ROTARY_FIRST,
        Signal.SPINDLE_OVERRIDE: _then_sub_type(_ROTARY_FIRST, (None, "PROGRAMMED", "OVERRIDE")),
        Signal.POSITION_X: _position_rank,
        Signal.POSITION_Y: _position_rank,
        Signal.POSITION_Z: _position_rank,
    }
)

_ON_SPINDLE: Final[frozenset[Signal]] = frozenset({Signal.SPINDLE_LOAD, Signal.SPINDLE_OVERRIDE})


def _no_rank(item: ItemDescription) -> tuple[int, ...]:
    return ()


def _component_key(item: ItemDescription) -> tuple[str | None, str | None]:
    return (_norm(item.component_type), _norm(item.component_name))


class SignalMap(Mapping[str, Signal]):
    """The signals of one device's data items: a read-only mapping from item id to signal, plus one
    primary item per signal. Build it with ``bind``."""

    __slots__ = ("_conditions", "_items", "_ranked")

    def __init__(self, items: Mapping[str, Signal], ranked: Mapping[Signal, tuple[str, ...]]) -> None:
        """Hold ``items`` (id -> signal) and ``ranked`` (signal -> ids, primary first), as ``bind`` makes."""
        self._items: Mapping[str, Signal] = MappingProxyType(dict(items))
        self._ranked: Mapping[Signal, tuple[str, ...]] = MappingProxyType(dict(ranked))
        self._conditions = self._ranked.get(Signal.CONDITION, ())

    def __getitem__(self, item_id: str) -> Signal:
        return self._items[item_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        primaries = ", ".join(f"{signal.value}={ids[0]}" for signal, ids in self._ranked.items())
        return f"SignalMap({primaries})"

    def signal_of(self, item_id: str) -> Signal | None:
        """The signal the item ``item_id`` carries, or None for an item the MES does not read."""
        return self._items.get(item_id)

    def primary(self, signal: Signal) -> str | None:
        """The id of the item to read ``signal`` from, or None when the device has no such item."""
        ids = self._ranked.get(signal)
        return ids[0] if ids else None

    def secondary(self, signal: Signal) -> tuple[str, ...]:
        """The ids of the other items that carry ``signal``, best first."""
        return self._ranked.get(signal, ())[1:]

    def items_of(self, signal: Signal) -> tuple[str, ...]:
        """Every item id that carries ``signal``, the primary first."""
        return self._ranked.get(signal, ())

    def is_primary(self, item_id: str) -> bool:
        """Whether ``item_id`` is the primary item of its signal."""
        signal = self._items.get(item_id)
        return signal is not None and self.primary(signal) == item_id

    @property
    def conditions(self) -> tuple[str, ...]:
        """The ids of every condition item, in document order: each may carry alarms."""
        return self._conditions


def bind(items: Iterable[ItemDescription]) -> SignalMap:
    """Classify the data items of ONE device and choose the primary item of every signal.

    Pass the items in document order (the order of the probe). Among the items that carry one signal the
    primary is the best ranked; ties go to the first in document order. The ranking:

    * execution, controller mode, program, block, line, part counts, feed rate and overrides, tool, cycle
      time, path position: an item on a Path first, then on the Controller, then on the Device, then
      elsewhere (the first Path of a multi-path machine is the primary path). Program prefers subType MAIN,
      then none, then ACTIVE; line prefers LINE_NUMBER ABSOLUTE, then none, then LINE, then INCREMENTAL;
      tool prefers TOOL_NUMBER to TOOL_ID; part count ALL to none, bad parts BAD to FAILED; feed rate and
      path position ACTUAL to none; feed override PROGRAMMED, then none.
    * availability and functional mode: the Device's own item first, then Controller, Path; the Agent's
      availability last (it is the agent's, not the machine's).
    * emergency stop: the Controller's first, then the Device's, then the Path's.
    * spindle speed: ACTUAL before no subType, ROTARY_VELOCITY before the deprecated SPINDLE_SPEED; so the
      first spindle Rotary in the document is the main spindle.
    * spindle load and override: an item on the component of the primary spindle speed first, then on a
      Rotary, then on a Path, then on the Controller (many agents put the spindle override on the Path).
    * positions: ACTUAL before no subType, a component named exactly X, Y, Z before ``X1``, ``Z3``.
    * conditions: every condition item counts; ``SignalMap.conditions`` lists them all.

    Returns:
        The signal map.

    Raises:
        ValueError: two items share one id, or an item has an empty id.
    """
    by_id: dict[str, Signal] = {}
    candidates: dict[Signal, list[ItemDescription]] = {}
    seen: set[str] = set()
    for item in items:
        if not item.id:
            raise ValueError(f"data item id {item.id!r} is empty (type {item.type!r})")
        if item.id in seen:
            raise ValueError(f"data item id {item.id!r} appears twice; bind the items of one device")
        seen.add(item.id)
        signal = classify(item)
        if signal is None:
            continue
        by_id[item.id] = signal
        candidates.setdefault(signal, []).append(item)

    ranked: dict[Signal, tuple[str, ...]] = {}
    # Signal order puts SPINDLE_SPEED before SPINDLE_LOAD and SPINDLE_OVERRIDE, which rank against it.
    for signal in Signal:
        group = candidates.get(signal)
        if not group:
            continue
        rank = _RANKS.get(signal, _no_rank)
        if signal in _ON_SPINDLE and Signal.SPINDLE_SPEED in ranked:
            spindle = _spindle_component(candidates[Signal.SPINDLE_SPEED], ranked[Signal.SPINDLE_SPEED][0])
            rank = _prefer_component(spindle, rank)
        order = sorted(range(len(group)), key=lambda index: (*rank(group[index]), index))
        ranked[signal] = tuple(group[index].id for index in order)
    return SignalMap(by_id, ranked)


def _spindle_component(group: list[ItemDescription], item_id: str) -> tuple[str | None, str | None]:
    return next(_component_key(item) for item in group if item.id == item_id)


def _prefer_component(component: tuple[str | None, str | None], then: _Rank) -> _Rank:
    def rank(item: ItemDescription) -> tuple[int, ...]:
        return (0 if _component_key(item) == component else 1, *then(item))

    return rank
