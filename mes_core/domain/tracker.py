"""Follows one machine's MTConnect observations and turns them into MES events: state changes, parts made,
alarms raised and cleared, status values and data gaps.

Pure: no I/O and no clock. Every event time is an observation's timestamp (or, for a gap, the times the
caller measured from observation timestamps), so the same observations give the same events live, replayed
or fast-forwarded (DESIGN.md, Time).

Wiring::

    probe items ──bind──> SignalMap ─┐
    observation (instance, sequence) ┴─> dedup ─┬─ part counts ──> PartCounter ──> PartsMade
                                                ├─ conditions ───> active alarms ─> AlarmRaised / AlarmCleared
                                                ├─ status values ────────────────> ValueChanged
                                                └─ state signals ─> derive_state ─> StateChanged
    gap(start, end, reason, current) ─────────────> DataGap, no_data at start, derived state at end
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Final, Literal, Protocol

from mes_core.domain.alarms import AlarmCategory, Severity, classify_alarm
from mes_core.domain.counters import PartCounter
from mes_core.domain.machine_state import SignalValues, derive_state
from mes_core.domain.signals import ItemDescription, Signal, SignalMap, bind
from mes_core.domain.states import MachineState, status_of

__all__ = [
    "STATUS_SIGNALS",
    "AlarmCleared",
    "AlarmRaised",
    "DataGap",
    "Event",
    "MachineTracker",
    "ObservationLike",
    "PartKind",
    "PartsMade",
    "StateChanged",
    "ValueChanged",
]


class ObservationLike(Protocol):
    """What the tracker reads from one stream observation (``mtconnect_xml.StreamObservation`` fits).

    ``value`` is ``None`` for UNAVAILABLE (for a condition: its text); ``level`` is the condition level
    (NORMAL, WARNING, FAULT, UNAVAILABLE) and ``None`` for samples and events.
    """

    @property
    def data_item_id(self) -> str: ...
    @property
    def sequence(self) -> int: ...
    @property
    def timestamp(self) -> float: ...
    @property
    def value(self) -> str | None: ...
    @property
    def reset_triggered(self) -> str | None: ...
    @property
    def level(self) -> str | None: ...
    @property
    def condition_type(self) -> str | None: ...
    @property
    def native_code(self) -> str | None: ...
    @property
    def native_severity(self) -> str | None: ...


# -- events ------------------------------------------------------------------------------------------

PartKind = Literal["total", "good", "bad"]


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The machine entered ``state`` (with a short lower-case ``detail``, or None) at ``at``."""

    at: float
    state: MachineState
    detail: str | None


@dataclass(frozen=True, slots=True)
class PartsMade:
    """A part counter item counted ``delta`` more parts in the observation (``instance_id``, ``sequence``)."""

    at: float
    kind: PartKind
    delta: int
    item_id: str
    sequence: int
    instance_id: int


@dataclass(frozen=True, slots=True)
class AlarmRaised:
    """A condition item reported a Warning or Fault with a native code not active before."""

    at: float
    item_id: str
    native_code: str | None
    level: str
    """WARNING or FAULT."""
    category: AlarmCategory
    severity: Severity
    text: str | None


@dataclass(frozen=True, slots=True)
class AlarmCleared:
    """The alarm ``native_code`` of condition item ``item_id`` is no longer active."""

    at: float
    item_id: str
    native_code: str | None


@dataclass(frozen=True, slots=True)
class ValueChanged:
    """A status signal (one of ``STATUS_SIGNALS``) took a new value (``None``: unavailable)."""

    at: float
    signal: Signal
    value: str | None


@dataclass(frozen=True, slots=True)
class DataGap:
    """What the machine did between ``start`` and ``end`` is not known (observations were lost)."""

    start: float
    end: float
    reason: str


Event = StateChanged | PartsMade | AlarmRaised | AlarmCleared | ValueChanged | DataGap
"""Everything ``MachineTracker`` reports."""


# -- tables ------------------------------------------------------------------------------------------

STATUS_SIGNALS: Final[frozenset[Signal]] = frozenset(
    {
        Signal.PROGRAM,
        Signal.BLOCK,
        Signal.LINE,
        Signal.SPINDLE_SPEED,
        Signal.SPINDLE_LOAD,
        Signal.SPINDLE_OVERRIDE,
        Signal.FEED_RATE,
        Signal.FEED_OVERRIDE,
        Signal.RAPID_OVERRIDE,
        Signal.POSITION_X,
        Signal.POSITION_Y,
        Signal.POSITION_Z,
        Signal.PATH_POSITION,
        Signal.TOOL_NUMBER,
        Signal.TOOL_ASSET,
        Signal.CYCLE_TIME,
        Signal.PART_COUNT_TARGET,
    }
)
"""The signals whose changes are reported as ``ValueChanged`` (the machine-status snapshot's values)."""

_STATE_SIGNALS: Final[frozenset[Signal]] = frozenset(
    {
        Signal.AVAILABILITY,
        Signal.EXECUTION,
        Signal.CONTROLLER_MODE,
        Signal.FUNCTIONAL_MODE,
        Signal.EMERGENCY_STOP,
        Signal.FEED_OVERRIDE,
    }
)
"""The signals ``derive_state`` reads (besides the active faults)."""

_PART_KINDS: Final[dict[Signal, PartKind]] = {
    Signal.PART_COUNT: "total",
    Signal.PART_COUNT_GOOD: "good",
    Signal.PART_COUNT_BAD: "bad",
}
_ACTIVE_LEVELS: Final[frozenset[str]] = frozenset({"WARNING", "FAULT"})
_MAX_INSTANCES: Final = 8
"""How many agent instances' sequence watermarks are remembered (a late document of an older instance of
the agent is still recognised as already applied)."""
_PER_MINUTE: Final[dict[str, float]] = {"MILLIMETER/SECOND": 60.0, "INCH/SECOND": 60.0}
_by_sequence = attrgetter("sequence")
_UNSET: Final = object()
"""A signal never reported (``None`` is a signal reported unavailable)."""


@dataclass(frozen=True, slots=True)
class _Item:
    """What the tracker keeps of a probe's data item: where it sits, for alarm classification and units."""

    type: str
    component_type: str | None
    component_name: str | None
    units: str | None


@dataclass(frozen=True, slots=True)
class _Active:
    """One active alarm of a condition item."""

    level: str
    text: str | None
    since: float
    category: AlarmCategory
    severity: Severity


_Route = tuple[Signal, tuple[PartKind, PartCounter] | None, bool, bool]
"""An item's signal, its part counter (if it is a primary counter), whether the signal is a status signal
and whether the state reads it."""


def _number(value: str | None) -> float | None:
    """A finite number from an observation's text, or None."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _count(value: str | None) -> int | None:
    """A part count reading: a non-negative integer (``"12"`` or ``"12.0"``), or None."""
    number = _number(value)
    if number is None or number < 0 or not number.is_integer():
        return None
    return int(number)


class MachineTracker:
    """One machine's observations in, MES events out.

    Build it from the machine's probe data items (``DeviceInfo.data_items``, any ``ItemDescription``s of
    ONE device); then ``apply`` every observation of that device, in sequence order, with the agent's
    ``instanceId``. An observation whose sequence is at or below the last one applied for the same
    instance is taken as already applied and ignored, so feeding a document twice (a retried poll, a
    ``/current`` that repeats known values) changes nothing.

    Only the primary item of each signal (``SignalMap.primary``) feeds the state, the values and the part
    counts: a second path's counter on a multi-path lathe would count the same parts twice. Every
    condition item feeds the alarms.

    The event timeline comes from the data alone. ``connection`` sets only the live status that
    ``snapshot`` reports: an agent that was unreachable but still holds every observation hands them over
    when it answers again, and they tell what the machine did; only lost observations (``gap``) make the
    timeline ``no_data``.
    """

    def __init__(self, items: Iterable[ItemDescription], *, report_values: bool = True) -> None:
        """A tracker for the device whose data items are ``items`` (in document order).

        With ``report_values=False`` no ``ValueChanged`` is reported (``snapshot`` still has every value): a
        consumer that does not read them saves an event for nearly every sample of a moving machine.

        Raises:
            ValueError: two items share an id, or an item has an empty id (see ``signals.bind``).
        """
        listed = list(items)
        self._map = bind(listed)
        self._items: dict[str, _Item] = {}
        for item in listed:
            if self._map.signal_of(item.id) is None:
                continue
            units = getattr(item, "units", None)
            self._items[item.id] = _Item(
                item.type,
                item.component_type,
                item.component_name,
                units.upper() if isinstance(units, str) else None,
            )
        self._counters: dict[str, tuple[PartKind, PartCounter]] = {}
        for signal, kind in _PART_KINDS.items():
            primary = self._map.primary(signal)
            if primary is not None:
                self._counters[primary] = (kind, PartCounter())
        self._routes: dict[str, _Route] = {}
        """What an observation of each item the tracker reads feeds (secondary and unknown items: nothing)."""
        for item_id, signal in self._map.items():
            if signal is Signal.CONDITION:
                self._routes[item_id] = (signal, None, False, False)
            elif self._map.is_primary(item_id):
                counter = self._counters.get(item_id)
                self._routes[item_id] = (signal, counter, signal in STATUS_SIGNALS, signal in _STATE_SIGNALS)
        self._report_values = report_values
        self._parts: dict[PartKind, int] = {"total": 0, "good": 0, "bad": 0}
        self._values: dict[Signal, str | None] = {}
        self._alarms: dict[str, dict[str | None, _Active]] = {}
        self._state: tuple[MachineState, str | None] | None = None
        self._state_at = -math.inf
        self._watermarks: OrderedDict[int, int] = OrderedDict()
        self._instance: int | None = None
        self._last_at: float | None = None
        self._holding = False
        """While a gap's ``current`` observations are applied: state changes wait for the gap's end."""
        self._connected = True
        self._offline_since: float | None = None

    # -- reading ---------------------------------------------------------------------------------

    @property
    def signals(self) -> SignalMap:
        """The device's signal map."""
        return self._map

    @property
    def state(self) -> tuple[MachineState, str | None]:
        """The state and detail of the event timeline (``no_data`` before any observation)."""
        return self._state or (MachineState.NO_DATA, None)

    @property
    def active_alarms(self) -> dict[str, tuple[str | None, ...]]:
        """The native codes of the active alarms, per condition item (items without any are left out)."""
        return {item_id: tuple(active) for item_id, active in self._alarms.items() if active}

    def last_sequence(self, instance_id: int) -> int | None:
        """The highest sequence applied for agent instance ``instance_id``, or None."""
        return self._watermarks.get(instance_id)

    # -- observations ----------------------------------------------------------------------------

    def apply(self, obs: ObservationLike, instance_id: int) -> list[Event]:
        """Apply one observation of this device, from the agent instance ``instance_id``.

        Returns:
            The events it causes, in order (none for a duplicate or an item the MES does not read).
        """
        events: list[Event] = []
        self._apply(obs, instance_id, events)
        return events

    def apply_all(self, observations: Iterable[ObservationLike], instance_id: int) -> list[Event]:
        """Apply several observations (a document's), sorted by sequence first.

        Returns:
            The events they cause, in order.
        """
        events: list[Event] = []
        watermarks = self._watermarks
        mark = watermarks.get(instance_id)
        applied = False
        for obs in sorted(observations, key=_by_sequence):
            sequence = obs.sequence
            if mark is not None and sequence <= mark:
                continue
            mark, applied = sequence, True
            self._take(obs, instance_id, events)
        if applied:
            # The watermark moves once per document; nothing read while applying it looks at it.
            assert mark is not None
            self._mark(instance_id, mark)
        return events

    def _apply(self, obs: ObservationLike, instance_id: int, events: list[Event]) -> None:
        mark = self._watermarks.get(instance_id)
        if mark is not None and obs.sequence <= mark:
            return
        self._mark(instance_id, obs.sequence)
        self._take(obs, instance_id, events)

    def _mark(self, instance_id: int, sequence: int) -> None:
        """``sequence`` is the last applied for ``instance_id``."""
        watermarks = self._watermarks
        watermarks[instance_id] = sequence
        watermarks.move_to_end(instance_id)
        while len(watermarks) > _MAX_INSTANCES:
            watermarks.popitem(last=False)
        self._instance = instance_id

    def _take(self, obs: ObservationLike, instance_id: int, events: list[Event]) -> None:
        """Apply one observation not applied before.

        The state is derived again only when what it reads changed (a state signal's value, an alarm) or
        before the first state: otherwise the state cannot change, and most observations (positions, loads,
        speeds) change nothing but their value.
        """
        at = obs.timestamp
        if self._last_at is None or at > self._last_at:
            self._last_at = at
        route = self._routes.get(obs.data_item_id)
        if route is None:
            return
        signal, counter, status, state = route
        if signal is Signal.CONDITION:
            before = len(events)
            self._condition(obs, events)
            if len(events) > before or self._state is None:
                self._derive(at, events)
            return
        if counter is not None:
            self._count(obs, instance_id, *counter, events)
        value = obs.value
        values = self._values
        previous = values.get(signal, _UNSET)
        values[signal] = value
        if status and self._report_values and value != (None if previous is _UNSET else previous):
            events.append(ValueChanged(at, signal, value))
        if state and (value != previous or self._state is None):
            self._derive(at, events)

    def _count(
        self,
        obs: ObservationLike,
        instance_id: int,
        kind: PartKind,
        counter: PartCounter,
        events: list[Event],
    ) -> None:
        reading = _count(obs.value)
        if reading is None:  # UNAVAILABLE or garbage: no reading, the last one stays the reference
            return
        delta = counter.update(reading, obs.timestamp, obs.reset_triggered)
        if delta > 0:
            self._parts[kind] += delta
            events.append(PartsMade(obs.timestamp, kind, delta, obs.data_item_id, obs.sequence, instance_id))

    def _condition(self, obs: ObservationLike, events: list[Event]) -> None:
        """A WARNING/FAULT with a new native code raises (the same code at another level is raised again);
        NORMAL with a code clears that code; NORMAL without one, or UNAVAILABLE, clears every alarm of the
        item (the agent's checkpoint rules, reference/mtconnect.md 1.5)."""
        item_id, at = obs.data_item_id, obs.timestamp
        level = (obs.level or "").strip().upper()
        code = obs.native_code or None
        active = self._alarms.setdefault(item_id, {})
        if level in _ACTIVE_LEVELS:
            current = active.get(code)
            if current is not None and current.level == level:
                return  # the same alarm reported again
            if current is not None:
                events.append(AlarmCleared(max(at, current.since), item_id, code))
            item = self._items[item_id]
            category, severity = classify_alarm(
                level,
                obs.condition_type or item.type,
                item.component_type,
                item.component_name,
                code,
                obs.native_severity,
                obs.value,
            )
            active[code] = _Active(level, obs.value, at, category, severity)
            events.append(AlarmRaised(at, item_id, code, level, category, severity, obs.value))
        elif level == "NORMAL" and code is not None:
            cleared = active.pop(code, None)
            if cleared is not None:
                events.append(AlarmCleared(max(at, cleared.since), item_id, code))
        elif level in ("NORMAL", "UNAVAILABLE"):
            self._clear(item_id, at, events)

    def _clear(
        self, item_id: str, at: float, events: list[Event], keep: frozenset[str | None] = frozenset()
    ) -> None:
        """Clear every active alarm of ``item_id`` but those in ``keep``."""
        active = self._alarms.get(item_id, {})
        for code in [code for code in active if code not in keep]:
            cleared = active.pop(code)
            events.append(AlarmCleared(max(at, cleared.since), item_id, code))

    # -- state -----------------------------------------------------------------------------------

    def _text(self, signal: Signal) -> str | None:
        """The value ``derive_state`` reads: ``UNAVAILABLE`` once reported unavailable, None if never."""
        if signal not in self._values:
            return None
        value = self._values[signal]
        return "UNAVAILABLE" if value is None else value

    def _signal_values(self, connected: bool = True) -> SignalValues:
        override = _number(self._values.get(Signal.FEED_OVERRIDE))
        faults = sum(
            1 for active in self._alarms.values() for alarm in active.values() if alarm.level == "FAULT"
        )
        return SignalValues(
            availability=self._text(Signal.AVAILABILITY),
            execution=self._text(Signal.EXECUTION),
            controller_mode=self._text(Signal.CONTROLLER_MODE),
            functional_mode=self._text(Signal.FUNCTIONAL_MODE),
            emergency_stop=self._text(Signal.EMERGENCY_STOP),
            active_faults=faults,
            connected=connected,
            feed_override=override if override is not None and override >= 0 else None,
        )

    def _derive(self, at: float, events: list[Event]) -> None:
        if self._holding:
            return
        self._change(derive_state(self._signal_values()), at, events)

    def _change(self, state: tuple[MachineState, str | None], at: float, events: list[Event]) -> None:
        """Enter ``state`` at ``at`` (never before the last change: adapters' timestamps may step back)."""
        if state == self._state:
            return
        at = max(at, self._state_at)
        self._state, self._state_at = state, at
        events.append(StateChanged(at, state[0], state[1]))

    # -- connection and gaps ---------------------------------------------------------------------

    def connection(self, connected: bool, at: float) -> None:
        """Record whether the agent answers (from ``at``) for the live status of ``snapshot``.

        The event timeline is not touched: observations the agent still holds arrive when it answers
        again and tell what happened meanwhile; if they were lost, the caller reports a ``gap``.
        """
        if connected:
            self._connected, self._offline_since = True, None
        elif self._connected:
            self._connected, self._offline_since = False, at

    def gap(
        self,
        start: float,
        end: float,
        reason: str,
        current: Iterable[ObservationLike] = (),
        instance_id: int | None = None,
    ) -> list[Event]:
        """Observations between ``start`` and ``end`` were lost (the agent's buffer moved past the reader,
        or the agent restarted); ``current`` is the agent's ``/current`` that resumed the data.

        The machine is ``no_data`` (detail ``reason``) from ``start``; the ``current`` observations are
        applied (their parts, alarms and values count at their own timestamps, duplicates of observations
        already applied are skipped as ever); a condition item listed in ``current`` then keeps only the
        alarms listed there, the others are cleared at ``start`` (their clearing was lost); from ``end`` the
        machine is in the state derived from everything known. ``end`` should be at or after the
        timestamps of ``current``.

        Returns:
            ``DataGap``, ``StateChanged`` to no_data at ``start``, the events of ``current``, and
            ``StateChanged`` to the derived state at ``end``.

        Raises:
            ValueError: ``current`` is given without ``instance_id`` before any observation was applied
                (nothing is changed then).
        """
        observations = sorted(current, key=_by_sequence)
        instance = instance_id if instance_id is not None else self._instance
        if observations and instance is None:
            raise ValueError("gap() needs the instance_id of the current observations")
        start = max(start, self._state_at)
        end = max(end, start)
        events: list[Event] = [DataGap(start, end, reason)]
        self._change((MachineState.NO_DATA, reason), start, events)
        self._holding = True
        try:
            if observations:
                assert instance is not None  # checked above
                for obs in observations:
                    self._apply(obs, instance, events)
                self._reconcile(observations, start, events)
        finally:
            self._holding = False
        self._change(derive_state(self._signal_values()), end, events)
        return events

    def _reconcile(self, observations: list[ObservationLike], start: float, events: list[Event]) -> None:
        """In a ``/current`` a condition item lists exactly its active alarms: the others cleared while
        observations were lost (their NORMAL went with them)."""
        listed: dict[str, set[str | None]] = {}
        for obs in observations:
            if self._map.signal_of(obs.data_item_id) is not Signal.CONDITION:
                continue
            codes = listed.setdefault(obs.data_item_id, set())
            if (obs.level or "").strip().upper() in _ACTIVE_LEVELS:
                codes.add(obs.native_code or None)
        for item_id, codes in listed.items():
            self._clear(item_id, start, events, keep=frozenset(codes))

    # -- status ----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The machine's latest known values for the machine-status endpoint (plain JSON-able values).

        Keys: ``state``, ``detail``, ``status`` (ACTIVE, IDLE, ALARM, OFFLINE; OFFLINE and state
        ``no_data`` while the agent does not answer), ``since`` (when the timeline state began),
        ``connected``, ``offline_since``, ``last_updated`` (the newest observation timestamp),
        ``instance_id``, ``sequence`` (the last applied), ``values`` (signal -> latest text, None when
        unavailable), ``spindle``, ``feed``, ``program``, ``axes``, ``active_tool``, ``parts`` (counted
        since the tracker started) and ``alarms`` (the active ones).
        """
        if self._connected:
            state, detail = self.state
        else:
            state, detail = derive_state(self._signal_values(connected=False))
        values = self._values
        feed_rate = _number(values.get(Signal.FEED_RATE))
        feed_item = self._map.primary(Signal.FEED_RATE)
        if feed_rate is not None and feed_item is not None:
            feed_rate *= _PER_MINUTE.get(self._items[feed_item].units or "", 1.0)
        return {
            "state": state.value,
            "detail": detail,
            "status": status_of(state).value,
            "since": self._state_at if self._connected and self._state is not None else self._offline_since,
            "connected": self._connected,
            "offline_since": self._offline_since,
            "last_updated": self._last_at,
            "instance_id": self._instance,
            "sequence": None if self._instance is None else self._watermarks.get(self._instance),
            "values": {signal.value: value for signal, value in values.items()},
            "spindle": {
                "speed_rpm": _number(values.get(Signal.SPINDLE_SPEED)),
                "load_pct": _number(values.get(Signal.SPINDLE_LOAD)),
                "override_pct": _number(values.get(Signal.SPINDLE_OVERRIDE)),
            },
            "feed": {
                "rate_mm_min": feed_rate,
                "override_pct": _number(values.get(Signal.FEED_OVERRIDE)),
                "rapid_override_pct": _number(values.get(Signal.RAPID_OVERRIDE)),
            },
            "program": {
                "name": values.get(Signal.PROGRAM),
                "block": values.get(Signal.BLOCK),
                "line": values.get(Signal.LINE),
            },
            "axes": self._axes(),
            "active_tool": {"id": values.get(Signal.TOOL_NUMBER), "asset": values.get(Signal.TOOL_ASSET)},
            "parts": dict(self._parts),
            "alarms": [
                {
                    "item_id": item_id,
                    "native_code": code,
                    "level": alarm.level,
                    "category": alarm.category.value,
                    "severity": alarm.severity.value,
                    "text": alarm.text,
                    "since": alarm.since,
                }
                for item_id, active in self._alarms.items()
                for code, alarm in active.items()
            ],
        }

    def _axes(self) -> dict[str, float | None]:
        """X, Y, Z from the Linear axes' positions, else from a PATH_POSITION ``x y z``."""
        values = self._values
        axes = {
            "x": _number(values.get(Signal.POSITION_X)),
            "y": _number(values.get(Signal.POSITION_Y)),
            "z": _number(values.get(Signal.POSITION_Z)),
        }
        path = values.get(Signal.PATH_POSITION)
        if path is not None and all(value is None for value in axes.values()):
            numbers = [_number(word) for word in path.split()]
            for axis, number in zip(("x", "y", "z"), numbers, strict=False):
                axes[axis] = number
        return axes
