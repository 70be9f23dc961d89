"""OEE arithmetic: additive components from state intervals, a schedule and part counts, and A, P, Q, OEE.

The definitions (shared with the twin's truth KPIs, so the harness compares like with like; reference
``oee-shifts-retention.md`` section 2):

* scheduled time: the shift calendar's planned busy spans (shifts minus breaks minus planned downtime);
* planned time ``planned_s``: scheduled time, plus any time the machine ran outside it (running through a
  break makes that part of the break planned, so availability never exceeds 1);
* run time ``run_s``: time in a running state (``RUNNING``: producing, producing at reduced speed);
* a part belongs to the window in which it was completed, counting a window as ``(start, end]``;
* ``A = run / planned``, ``P = sum(ICT x total) / run``, ``Q = sum(ICT x good) / sum(ICT x total)``,
  ``OEE = sum(ICT x good) / planned``, so ``A x P x Q == OEE``; P is never clamped;
* a ratio with a zero denominator is ``None``, with a reason.

Components add up (``+``): the KPIs of several machines or periods are computed from the summed components,
never by averaging ratios (``mean_of_oee`` is that average, offered only as a named extra).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from types import MappingProxyType
from typing import Final

from mes_core.domain.states import RUNNING, MachineState

__all__ = [
    "PERFORMANCE_FLAG_TOLERANCE",
    "Components",
    "Interval",
    "Oee",
    "PartCount",
    "Span",
    "components",
    "compute",
    "mean_of_oee",
]

Span = tuple[float, float]
"""``[start, end)`` in UTC epoch seconds."""

PERFORMANCE_FLAG_TOLERANCE: Final = 1e-9
"""P must exceed 1 by more than this to be flagged ``performance_gt_100`` (float noise at 1 is not)."""

_RUNNING_VALUES: Final[frozenset[str]] = frozenset(s.value for s in RUNNING)
_STATE_ORDER: Final[dict[str, int]] = {s.value: n for n, s in enumerate(MachineState)}
_UNPLANNED_LABELS: Final[tuple[str, ...]] = (
    MachineState.NO_SHIFT.value,
    MachineState.BREAK.value,
    MachineState.PLANNED_STOP.value,
)


@dataclass(frozen=True, slots=True)
class Interval:
    """A stored state interval ``[start, end)``; it may extend beyond the window (it is clipped)."""

    start: float
    end: float
    state: str
    """A ``MachineState`` value, e.g. ``"producing"``, ``"alarm"``, ``"no_data"``."""


@dataclass(frozen=True, slots=True)
class PartCount:
    """Parts completed at one instant (a part-counter increment)."""

    at: float
    total: int
    good: int
    ideal_cycle_s: float | None
    """The ideal cycle time of these parts; None when no production run is known for them."""


def _frozen(mapping: Mapping[str, float]) -> Mapping[str, float]:
    ordered = sorted(mapping.items(), key=lambda kv: (_STATE_ORDER.get(kv[0], len(_STATE_ORDER)), kv[0]))
    return MappingProxyType(dict(ordered))


def _add_maps(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    result = dict(a)
    for key, seconds in b.items():
        result[key] = result.get(key, 0.0) + seconds
    return result


@dataclass(frozen=True, slots=True)
class Components:
    """Everything needed to compute OEE over a window, additive across machines and periods.

    ``time_by_state`` splits planned time by state (``"no_data"`` for planned time no interval covers) and
    sums to ``planned_s``; ``unplanned_by_state`` splits the rest of the period into ``"no_shift"``,
    ``"break"`` and ``"planned_stop"``; together they account for every second of ``period_s``. Both maps
    hold only non-zero entries, in the taxonomy's order, and are read-only.
    """

    period_s: float
    planned_s: float
    scheduled_s: float
    run_s: float
    run_outside_schedule_s: float
    total_parts: int
    good_parts: int
    ideal_total_s: float
    ideal_good_s: float
    parts_without_ideal: int
    alarms: int
    time_by_state: Mapping[str, float] = field(default_factory=dict)
    unplanned_by_state: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "time_by_state", _frozen(self.time_by_state))
        object.__setattr__(self, "unplanned_by_state", _frozen(self.unplanned_by_state))

    @property
    def downtime_s(self) -> float:
        """Planned time not run: ``planned_s - run_s``."""
        return self.planned_s - self.run_s

    def __add__(self, other: Components) -> Components:
        """The component-wise sum: the components of two machines, or of two adjacent windows."""
        if not isinstance(other, Components):
            return NotImplemented
        return Components(
            period_s=self.period_s + other.period_s,
            planned_s=self.planned_s + other.planned_s,
            scheduled_s=self.scheduled_s + other.scheduled_s,
            run_s=self.run_s + other.run_s,
            run_outside_schedule_s=self.run_outside_schedule_s + other.run_outside_schedule_s,
            total_parts=self.total_parts + other.total_parts,
            good_parts=self.good_parts + other.good_parts,
            ideal_total_s=self.ideal_total_s + other.ideal_total_s,
            ideal_good_s=self.ideal_good_s + other.ideal_good_s,
            parts_without_ideal=self.parts_without_ideal + other.parts_without_ideal,
            alarms=self.alarms + other.alarms,
            time_by_state=_add_maps(self.time_by_state, other.time_by_state),
            unplanned_by_state=_add_maps(self.unplanned_by_state, other.unplanned_by_state),
        )

    @classmethod
    def zero(cls) -> Components:
        """The neutral element of ``+``: an empty window (``sum(parts, Components.zero())``)."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0.0, 0.0, 0, 0)


@dataclass(frozen=True, slots=True)
class Oee:
    """A, P, Q and OEE of one window (or an aggregate), with why a ratio is None and what looks wrong.

    ``reasons`` maps the name of each None ratio (``"availability"``, ``"performance"``, ``"quality"``,
    ``"oee"``) to ``"no_planned_time"``, ``"no_run_time"``, ``"no_parts"`` or ``"no_ideal_cycle_time"``.
    ``flags``: ``"performance_gt_100"`` when P > 1 (returned unclamped: the ideal cycle time is likely too
    long), ``"parts_without_ideal_cycle_time"`` when some parts had no ideal cycle time (they count in the
    part totals but add no ideal time, so P, Q and OEE understate).
    """

    availability: float | None
    performance: float | None
    quality: float | None
    oee: float | None
    reasons: Mapping[str, str]
    flags: tuple[str, ...]
    components: Components

    def losses(self) -> dict[str, float]:
        """Return the planned time not run, in seconds by state (e.g. alarm, setup, idle, no_data)."""
        return {s: t for s, t in self.components.time_by_state.items() if s not in _RUNNING_VALUES}


def _merge(spans: Iterable[Span], start: float, end: float) -> list[Span]:
    """``spans`` clipped to ``[start, end)``, sorted and merged into disjoint non-empty spans."""
    merged: list[Span] = []
    for s, e in sorted((max(s, start), min(e, end)) for s, e in spans):
        if e <= s:
            continue
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _timeline(intervals: Sequence[Interval], start: float, end: float) -> list[tuple[float, float, str]]:
    """The intervals clipped to the window, sorted, checked: known states, no reversed or overlapping ones."""
    result: list[tuple[float, float, str]] = []
    for interval in sorted(intervals, key=lambda i: (i.start, i.end)):
        if interval.end < interval.start:
            raise ValueError(f"interval end ({interval.end}) is before its start ({interval.start})")
        try:
            state = MachineState(interval.state).value
        except ValueError:
            expected = ", ".join(m.value for m in MachineState)
            raise ValueError(
                f"unknown machine state {interval.state!r}; expected one of {expected}"
            ) from None
        s, e = max(interval.start, start), min(interval.end, end)
        if e <= s:
            continue
        if result and s < result[-1][1]:
            raise ValueError(
                f"intervals overlap: {interval.state!r} from {interval.start} starts before "
                f"{result[-1][2]!r} ends at {result[-1][1]}"
            )
        result.append((s, e, state))
    return result


class _Cover:
    """Walks sorted disjoint spans forwards, answering whether each successive instant is covered."""

    __slots__ = ("_index", "_spans")

    def __init__(self, spans: Sequence[Span]) -> None:
        self._spans = spans
        self._index = 0

    def covers(self, t: float) -> bool:
        while self._index < len(self._spans) and self._spans[self._index][1] <= t:
            self._index += 1
        return self._index < len(self._spans) and self._spans[self._index][0] <= t


def _check_part(part: PartCount) -> None:
    if part.total < 0 or not 0 <= part.good <= part.total:
        raise ValueError(
            f"part count at {part.at}: good ({part.good}) must be within 0..total ({part.total})"
        )
    if part.ideal_cycle_s is not None and not part.ideal_cycle_s > 0:
        raise ValueError(f"part count at {part.at}: ideal cycle time ({part.ideal_cycle_s}) must be > 0")


def components(
    intervals: Sequence[Interval],
    scheduled: Sequence[Span],
    parts: Sequence[PartCount],
    start: float,
    end: float,
    *,
    alarms: int = 0,
    breaks: Sequence[Span] = (),
    planned_downtime: Sequence[Span] = (),
) -> Components:
    """Compute the OEE components of one machine over the window ``[start, end)``.

    Args:
        intervals: the machine's state intervals, in any order, not overlapping; they are clipped to the
            window, and planned time that none covers counts as ``"no_data"``.
        scheduled: planned busy spans from the shift calendar (breaks and planned downtime already removed).
        parts: part-count increments; those with ``start < at <= end`` count.
        start: window start, UTC epoch seconds.
        end: window end.
        alarms: the number of alarms to book on the window (counted by the caller).
        breaks: break spans; they only label unplanned time ``"break"``.
        planned_downtime: planned-stop spans; they only label unplanned time ``"planned_stop"`` (they win
            over a break where both cover an instant). Other unplanned time is ``"no_shift"``.

    Returns:
        The window's components.

    Raises:
        ValueError: ``end`` is before ``start``; an interval is reversed, overlaps another or has an unknown
            state; a part count has good outside ``0..total`` or a non-positive ideal cycle time;
            ``alarms`` is negative.
    """
    if end < start:
        raise ValueError(f"window end ({end}) is before its start ({start})")
    if alarms < 0:
        raise ValueError(f"alarms ({alarms}) must not be negative")
    timeline = _timeline(intervals, start, end)
    schedule = _merge(scheduled, start, end)
    stops = _merge(planned_downtime, start, end)
    pauses = _merge(breaks, start, end)

    points = {start, end}
    for spans in (schedule, stops, pauses):
        for s, e in spans:
            points.update((s, e))
    for s, e, _ in timeline:
        points.update((s, e))
    bounds = sorted(points)

    in_schedule, in_stop, in_break = _Cover(schedule), _Cover(stops), _Cover(pauses)
    states = iter(timeline)
    current = next(states, None)
    by_state: dict[str, float] = {}
    unplanned: dict[str, float] = {}
    scheduled_s = run_s = run_outside_s = 0.0
    for a, b in pairwise(bounds):
        while current is not None and current[1] <= a:
            current = next(states, None)
        state = current[2] if current is not None and current[0] <= a else MachineState.NO_DATA.value
        seconds = b - a
        running = state in _RUNNING_VALUES
        if in_schedule.covers(a):
            scheduled_s += seconds
        elif running:
            run_outside_s += seconds
        else:
            label = _UNPLANNED_LABELS[2 if in_stop.covers(a) else 1 if in_break.covers(a) else 0]
            unplanned[label] = unplanned.get(label, 0.0) + seconds
            continue
        by_state[state] = by_state.get(state, 0.0) + seconds
        if running:
            run_s += seconds

    total = good = without_ideal = 0
    ideal_total = ideal_good = 0.0
    for part in parts:
        _check_part(part)
        if not start < part.at <= end:
            continue
        total += part.total
        good += part.good
        if part.ideal_cycle_s is None:
            without_ideal += part.total
        else:
            ideal_total += part.ideal_cycle_s * part.total
            ideal_good += part.ideal_cycle_s * part.good

    return Components(
        period_s=end - start,
        planned_s=scheduled_s + run_outside_s,
        scheduled_s=scheduled_s,
        run_s=run_s,
        run_outside_schedule_s=run_outside_s,
        total_parts=total,
        good_parts=good,
        ideal_total_s=ideal_total,
        ideal_good_s=ideal_good,
        parts_without_ideal=without_ideal,
        alarms=alarms,
        time_by_state=by_state,
        unplanned_by_state=unplanned,
    )


def compute(c: Components) -> Oee:
    """Compute A, P, Q and OEE from (possibly summed) components.

    A is None without planned time; P is None without run time; Q is None without parts, or when no part
    has an ideal cycle time (also P and OEE then: the parts' ideal time is unknown, not zero); OEE is None
    without planned time. With zero parts and some run time, P is 0 and OEE is 0 (the machine ran and made
    nothing). Whenever A, P and Q are all set, ``A x P x Q == OEE``.

    Returns:
        The ratios, the reasons for each None, flags, and ``c``.
    """
    reasons: dict[str, str] = {}
    no_ideal = c.total_parts > 0 and c.ideal_total_s == 0

    availability: float | None = None
    if c.planned_s > 0:
        availability = c.run_s / c.planned_s
    else:
        reasons["availability"] = "no_planned_time"

    performance: float | None = None
    if c.run_s <= 0:
        reasons["performance"] = "no_run_time"
    elif no_ideal:
        reasons["performance"] = "no_ideal_cycle_time"
    else:
        performance = c.ideal_total_s / c.run_s

    quality: float | None = None
    if c.total_parts == 0:
        reasons["quality"] = "no_parts"
    elif c.ideal_total_s <= 0:
        reasons["quality"] = "no_ideal_cycle_time"
    else:
        quality = c.ideal_good_s / c.ideal_total_s

    oee: float | None = None
    if c.planned_s <= 0:
        reasons["oee"] = "no_planned_time"
    elif no_ideal:
        reasons["oee"] = "no_ideal_cycle_time"
    else:
        oee = c.ideal_good_s / c.planned_s

    flags: list[str] = []
    if performance is not None and performance > 1 + PERFORMANCE_FLAG_TOLERANCE:
        flags.append("performance_gt_100")
    if c.parts_without_ideal > 0:
        flags.append("parts_without_ideal_cycle_time")
    return Oee(availability, performance, quality, oee, MappingProxyType(reasons), tuple(flags), c)


def mean_of_oee(results: Sequence[Oee]) -> float | None:
    """Return the plain mean of the OEE values that are not None, or None when there are none.

    Usually wrong as an aggregate: it weighs a machine planned for one hour like one planned for a week.
    The correct aggregate is ``compute(sum(components, Components.zero()))``; this is offered only as an
    explicitly named extra, for comparison.
    """
    values = [r.oee for r in results if r.oee is not None]
    return sum(values) / len(values) if values else None
