"""Truth KPIs: availability, performance, quality and OEE from the truth ledger and the shift calendar.

The definitions (shared with the MES; reference: ISO 22400-2 and the seed formula):

* scheduled time: shift instances minus their breaks minus planned stops;
* planned busy time ``planned_s``: scheduled time, plus any time the machine produced outside it (a machine
  that runs through a break turns that part of the break into planned time, so A never exceeds 1);
* run time ``run_s``: time in a producing state; ``downtime_s = planned_s - run_s``;
* a part belongs to the window in which it was completed, counting a window as ``(start, end]``: a part
  completed exactly at a window's start closes run time of the window before, so it belongs there;
* ``A = run / planned``, ``P = sum(ICT x total) / run``,
  ``Q = sum(ICT x good) / sum(ICT x total)`` (time-weighted: good/total for a single ideal cycle time),
  ``OEE = sum(ICT x good) / planned``, so that
  ``OEE = A x P x Q`` holds exactly; P is never clamped;
* a ratio whose denominator is zero is ``None``;
* ``alarms`` counts the alarms whose onset lies in the window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from twin.ledger import MachineLedger, StateInterval
from twin.states import RUNNING

__all__ = ["Kpis", "kpis_for_window", "merge_windows", "overlap_seconds", "subtract_windows"]

Span = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Kpis:
    """The truth (or MES) figures of one machine over one window; the report's ``K``."""

    availability: float | None
    performance: float | None
    quality: float | None
    oee: float | None
    planned_s: float
    run_s: float
    downtime_s: float
    total_parts: int
    good_parts: int
    alarms: int
    ideal_time_total_s: float
    ideal_time_good_s: float

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def merge_windows(spans: Iterable[Span]) -> list[Span]:
    """Return ``spans`` sorted and merged into disjoint, non-empty spans."""
    merged: list[Span] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def subtract_windows(spans: Sequence[Span], holes: Sequence[Span]) -> list[Span]:
    """Return the parts of the disjoint sorted ``spans`` not covered by any of ``holes``."""
    result: list[Span] = []
    merged_holes = merge_windows(holes)
    for start, end in spans:
        cursor = start
        for h_start, h_end in merged_holes:
            if h_end <= cursor or h_start >= end:
                continue
            if h_start > cursor:
                result.append((cursor, h_start))
            cursor = max(cursor, h_end)
        if cursor < end:
            result.append((cursor, end))
    return result


def overlap_seconds(spans: Iterable[Span], start: float, end: float) -> float:
    """Return how many seconds of ``spans`` fall inside ``[start, end)``."""
    return sum(max(0.0, min(e, end) - max(s, start)) for s, e in spans)


def _running_spans(intervals: Sequence[StateInterval], start: float, end: float) -> list[Span]:
    return [
        (max(i.start, start), min(i.end, end))
        for i in intervals
        if i.state in RUNNING and i.end > start and i.start < end
    ]


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def kpis_for_window(ledger: MachineLedger, scheduled: Sequence[Span], start: float, end: float) -> Kpis:
    """Compute the truth KPIs of one machine over ``[start, end)``.

    Args:
        ledger: the machine's closed truth ledger.
        scheduled: the machine's scheduled (planned) spans, disjoint and sorted, in UTC epoch seconds.
        start: window start, UTC epoch seconds (inclusive).
        end: window end (exclusive).

    Returns:
        The window's figures under the definitions in this module's docstring.
    """
    running = _running_spans(ledger.intervals, start, end)
    run_s = sum(e - s for s, e in running)
    scheduled_s = overlap_seconds(scheduled, start, end)
    run_outside = run_s - sum(overlap_seconds(scheduled, s, e) for s, e in running)
    planned_s = scheduled_s + run_outside

    total = good = 0
    ideal_total = ideal_good = 0.0
    for part in ledger.parts:
        if start < part.end <= end:
            total += 1
            ideal_total += part.ideal_cycle_s
            if part.good:
                good += 1
                ideal_good += part.ideal_cycle_s
    alarms = sum(1 for a in ledger.alarms if start <= a.onset < end)

    return Kpis(
        availability=_ratio(run_s, planned_s),
        performance=_ratio(ideal_total, run_s),
        quality=_ratio(ideal_good, ideal_total),
        oee=_ratio(ideal_good, planned_s),
        planned_s=planned_s,
        run_s=run_s,
        downtime_s=planned_s - run_s,
        total_parts=total,
        good_parts=good,
        alarms=alarms,
        ideal_time_total_s=ideal_total,
        ideal_time_good_s=ideal_good,
    )
