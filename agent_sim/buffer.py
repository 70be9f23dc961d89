"""The agent's circular buffer of observations: 64-bit sequences, checkpoints, conditions, duplicates.

Semantics follow the reference agent (cppagent 2.7 ``circular_buffer.hpp`` and ``checkpoint.cpp``): a buffer
of ``2**n`` slots, sequences from 1, ``firstSequence`` rising as old observations are evicted, the latest
value of every data item kept even after eviction, a checkpoint every ``checkpoint_frequency`` sequences to
answer ``/current?at=``, conditions chained by native code, and duplicates dropped unless the item is
discrete.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from agent_sim.devices import DataItem

__all__ = ["UNAVAILABLE", "ConditionState", "DataSetState", "Observation", "ObservationBuffer", "Snapshot"]

UNAVAILABLE = "UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class ConditionState:
    """A condition value: level NORMAL, WARNING, FAULT or UNAVAILABLE, with its native code and text."""

    level: str
    native_code: str | None = None
    native_severity: str | None = None
    qualifier: str | None = None
    text: str | None = None
    condition_id: str | None = None

    @property
    def active(self) -> bool:
        return self.level in ("WARNING", "FAULT")


@dataclass(frozen=True, slots=True)
class DataSetState:
    """Data set (or table) entries; a ``None`` value marks a removed key. ``reset`` replaces the whole set."""

    entries: tuple[tuple[str, object], ...]
    reset: str | None = None


@dataclass(slots=True)
class Observation:
    """One observation in the buffer. ``value`` is a string (samples and events, ``UNAVAILABLE`` included),
    a ``ConditionState`` or a ``DataSetState``. ``attributes`` are extra XML attributes already rendered
    (such as ``assetType``); ``xml`` caches the observation's element."""

    sequence: int
    item: DataItem
    timestamp: str
    value: object
    reset_triggered: str | None = None
    duration: float | None = None
    sample_count: int | None = None
    sample_rate: float | None = None
    attributes: str | None = None
    xml: str | None = None


Entry = Observation | tuple[Observation, ...]
Snapshot = dict[str, Entry]
"""The state of every data item: one observation, or for a condition the active ones (or one Normal)."""


def _condition(obs: Observation) -> ConditionState:
    value = obs.value
    assert isinstance(value, ConditionState)
    return value


def _conditions(entry: Entry | None) -> tuple[Observation, ...]:
    if entry is None:
        return ()
    return entry if isinstance(entry, tuple) else (entry,)


def _apply(state: Snapshot, obs: Observation) -> None:
    """Merge ``obs`` into ``state`` with the reference agent's checkpoint rules (``checkpoint.cpp``)."""
    item_id = obs.item.id
    value = obs.value
    if isinstance(value, ConditionState):
        active = [o for o in _conditions(state.get(item_id)) if _condition(o).active]
        code = value.native_code
        if value.active:
            # A new code is chained; the same code replaces its entry.
            state[item_id] = (*(o for o in active if _condition(o).native_code != code), obs)
        elif code is None or value.level == UNAVAILABLE:
            state[item_id] = (obs,)
        else:
            remaining = tuple(o for o in active if _condition(o).native_code != code)
            if not remaining:
                # The last active code cleared: one Normal without a code remains.
                normal = Observation(obs.sequence, obs.item, obs.timestamp, ConditionState("NORMAL"))
                remaining = (normal,)
            state[item_id] = remaining
    elif isinstance(value, DataSetState):
        previous_obs = state.get(item_id)
        merged: dict[str, object] = {}
        if (
            obs.reset_triggered is None
            and isinstance(previous_obs, Observation)
            and isinstance(previous_obs.value, DataSetState)
        ):
            merged = dict(previous_obs.value.entries)
        for key, entry in value.entries:
            if entry is None:
                merged.pop(key, None)
            else:
                merged[key] = entry
        state[item_id] = Observation(
            obs.sequence,
            obs.item,
            obs.timestamp,
            DataSetState(tuple(merged.items()), obs.reset_triggered),
            obs.reset_triggered,
        )
    else:
        state[item_id] = obs


class ObservationBuffer:
    """A circular buffer of ``2**size_exponent`` observations, with the latest state and checkpoints."""

    def __init__(
        self, size_exponent: int = 17, checkpoint_frequency: int = 1000, first_sequence: int = 1
    ) -> None:
        if not 1 <= size_exponent <= 30:
            raise ValueError(f"buffer size exponent ({size_exponent}) must be between 1 and 30")
        if checkpoint_frequency < 1:
            raise ValueError(f"checkpoint frequency ({checkpoint_frequency}) must be at least 1")
        self.size = 1 << size_exponent
        self._mask = self.size - 1
        self._ring: list[Observation | None] = [None] * self.size
        self._start = first_sequence
        self.next_sequence = first_sequence
        self.latest: Snapshot = {}
        self._first: Snapshot = {}
        self._frequency = checkpoint_frequency
        self._checkpoints: dict[int, Snapshot] = {}

    @property
    def first_sequence(self) -> int:
        """The oldest sequence still in the buffer (equals ``next_sequence`` while it is empty)."""
        return max(self._start, self.next_sequence - self.size)

    @property
    def last_sequence(self) -> int:
        return self.next_sequence - 1

    def is_duplicate(self, item: DataItem, value: object) -> bool:
        """Whether ``value`` repeats the item's current state (never for discrete items)."""
        if item.discrete:
            return False
        entry = self.latest.get(item.id)
        if entry is None:
            return False
        if isinstance(value, ConditionState):
            states = [_condition(o) for o in _conditions(entry)]
            if value.active:
                return any(c.level == value.level and c.native_code == value.native_code for c in states)
            if value.native_code is None or value.level == UNAVAILABLE:
                return len(states) == 1 and states[0].level == value.level and not states[0].active
            return not any(c.native_code == value.native_code for c in states)
        if isinstance(value, DataSetState) or isinstance(entry, tuple):
            return False
        return entry.value == value and entry.reset_triggered is None

    def _data_set_change(self, item: DataItem, value: DataSetState) -> DataSetState | None:
        """The entries of ``value`` that change the item's current set (``None``: nothing changes).

        As the reference agent's ``dataSetDifference``: entries equal to the current ones are dropped, and
        an observation left with none is not recorded; an empty set, or a set over UNAVAILABLE, is kept.
        """
        entry = self.latest.get(item.id)
        if not value.entries or not isinstance(entry, Observation):
            return value
        if not isinstance(entry.value, DataSetState):
            return value
        current = dict(entry.value.entries)
        changed = tuple((k, v) for k, v in value.entries if k not in current or current[k] != v)
        if len(changed) == len(value.entries):
            return value
        return DataSetState(changed, value.reset) if changed else None

    def add(
        self,
        item: DataItem,
        timestamp: str,
        value: object,
        *,
        reset_triggered: str | None = None,
        duration: float | None = None,
        sample_count: int | None = None,
        sample_rate: float | None = None,
        attributes: str | None = None,
        check_duplicate: bool = True,
    ) -> Observation | None:
        """Append an observation; return it, or ``None`` when it duplicates the current state.

        A data set keeps only the entries that change the current set (all of them on a reset); its
        ``reset`` is also its ``resetTriggered``.
        """
        if isinstance(value, DataSetState) and reset_triggered is None:
            reset_triggered = value.reset
        if check_duplicate and reset_triggered is None:
            if self.is_duplicate(item, value):
                return None
            if isinstance(value, DataSetState) and not item.discrete:
                changed = self._data_set_change(item, value)
                if changed is None:
                    return None
                value = changed
        sequence = self.next_sequence
        obs = Observation(
            sequence, item, timestamp, value, reset_triggered, duration, sample_count, sample_rate, attributes
        )
        slot = sequence & self._mask
        evicted = self._ring[slot]
        if evicted is not None:
            _apply(self._first, evicted)
            self._checkpoints.pop(evicted.sequence, None)
        self._ring[slot] = obs
        self.next_sequence = sequence + 1
        _apply(self.latest, obs)
        if sequence % self._frequency == 0:
            self._checkpoints[sequence] = dict(self.latest)
        return obs

    def get(self, sequence: int) -> Observation:
        """The observation with ``sequence`` (which must be in ``[first_sequence, last_sequence]``)."""
        obs = self._ring[sequence & self._mask]
        assert obs is not None
        assert obs.sequence == sequence
        return obs

    def forward(self, start: int, end: int) -> Iterator[Observation]:
        """Observations with ``start <= sequence < end``, oldest first (bounds clipped to the buffer)."""
        ring, mask = self._ring, self._mask
        for sequence in range(max(start, self.first_sequence), min(end, self.next_sequence)):
            obs = ring[sequence & mask]
            assert obs is not None
            yield obs

    def backward(self, start: int, end: int) -> Iterator[Observation]:
        """Observations with ``end <= sequence <= start``, newest first (bounds clipped to the buffer)."""
        ring, mask = self._ring, self._mask
        for sequence in range(min(start, self.last_sequence), max(end, self.first_sequence) - 1, -1):
            obs = ring[sequence & mask]
            assert obs is not None
            yield obs

    def snapshot_at(self, at: int) -> Snapshot:
        """The state as of sequence ``at`` inclusive (``first_sequence <= at <= last_sequence``).

        Starts from the nearest checkpoint at or before ``at`` (or the snapshot of what was evicted) and rolls
        forward, as the reference agent does.
        """
        base_sequence = self.first_sequence - 1
        base = self._first
        for sequence, checkpoint in self._checkpoints.items():
            if base_sequence < sequence <= at:
                base_sequence, base = sequence, checkpoint
        state = dict(base)
        for obs in self.forward(base_sequence + 1, at + 1):
            _apply(state, obs)
        return state
