"""OEE answers: per machine, aggregate, history in local calendar buckets, side-by-side comparisons.

Everything comes from the stored state timeline, part events, rejects and runs (data timestamps, never poll
times) and from the tenant's shift calendar; the arithmetic is ``mes_core.domain.oee``. A window never
reaches past ``now``: time that has not happened yet is neither planned nor lost. Aggregates over machines,
shifts or periods sum the components and compute the ratios once.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby, pairwise
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from mes_core.domain.oee import Components, Interval, Oee, components, compute, mean_of_oee
from mes_core.domain.shift_calendar import ShiftCalendar
from mes_core.services.machines import NotFound
from mes_core.services.parts import RunIndex, part_counts, tally
from mes_core.services.shifts import _load as load_calendar
from mes_core.services.shifts import iso_utc
from mes_core.store import production, repository
from mes_core.store.engine import transaction

__all__ = [
    "Bucket",
    "Period",
    "aggregate_oee",
    "compare",
    "history",
    "machine_oee",
    "oee_public",
    "resolve_period",
]

Span = tuple[float, float]
Bucket = Literal["hour", "day", "week", "month"]
CURRENT: Final = "current"
"""The ``shift`` value that asks for the shift running now (real-time OEE)."""
_DAY_S: Final = 86_400.0
_TREND_FLAT: Final = 0.001
"""A trend slope (OEE per bucket) smaller than this either way is flat."""


@dataclass(frozen=True, slots=True)
class Period:
    """The window asked for, ``[start, end)`` in UTC epoch seconds, already clipped to ``now``."""

    start: float
    end: float
    dates: tuple[date, date] | None = None
    """The first and last business date when both bounds were given as dates (a shift filter then takes
    the whole instances of those business dates, as shift reports do)."""


def _parse_instant(
    text: str, zone: ZoneInfo, *, end_of_day: bool, calendar: ShiftCalendar, name: str
) -> float:
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            span = calendar.business_day(day)
            return span[1] if end_of_day else span[0]
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{name}: {text!r} is neither a date (2026-02-01) nor a date-time (2026-02-01T06:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def resolve_period(calendar: ShiftCalendar, from_: str | None, to: str | None, now: float) -> Period:
    """The window of ``from``/``to``: dates are whole business days in the tenant's time zone (``to``
    inclusive), date-times without a zone are local. Default: the current business day up to ``now``.

    Raises:
        ValueError: a bound that cannot be read, or ``from`` not before ``to``.
    """
    zone = ZoneInfo(calendar.timezone)
    start = (
        _parse_instant(from_, zone, end_of_day=False, calendar=calendar, name="from")
        if from_
        else calendar.business_day(calendar.business_date(now))[0]
    )
    end = _parse_instant(to, zone, end_of_day=True, calendar=calendar, name="to") if to else now
    if end <= start:
        raise ValueError(f"to: {iso_utc(end)} is not after from ({iso_utc(start)})")
    dates = None
    if from_ and to and len(from_) == 10 and len(to) == 10:
        dates = (date.fromisoformat(from_), date.fromisoformat(to))
    return Period(start, max(start, min(end, now)), dates)


def _spans(
    calendar: ShiftCalendar, machine_id: str, period: Period, shift: str | None, now: float
) -> tuple[list[Span], str | None]:
    """The spans of the period to count for a machine (the shift's instances when a shift is named)."""
    if shift is None:
        return ([(period.start, period.end)] if period.end > period.start else []), None
    if shift == CURRENT:
        instance = calendar.current(now, machine_id)
        if instance is None:
            return [], None
        return [(instance.start, max(instance.start, now))], instance.name
    if shift not in calendar.shift_names:
        raise ValueError(f"shift: {shift!r} is not in the tenant's shift schedule")
    if period.dates is not None:
        first, last = period.dates
        wide_start = calendar.business_day(first)[0] - _DAY_S
        wide_end = calendar.business_day(last)[1] + _DAY_S
        spans = [
            (i.start, min(i.end, now))
            for i in calendar.instances(wide_start, wide_end, machine_id)
            if i.name == shift and first <= i.business_date <= last and i.start < now
        ]
        return spans, shift
    spans = calendar.shift_spans(shift, period.start, period.end, machine_id)
    return [s for s in spans if s[1] > s[0]], shift


@dataclass(frozen=True, slots=True)
class _Plan:
    """One span to count and the calendar's spans inside it (where time changes meaning)."""

    start: float
    end: float
    scheduled: list[Span]
    breaks: list[Span]
    stops: list[Span]

    def points_us(self) -> set[int]:
        points = {round(self.start * 1e6), round(self.end * 1e6)}
        for spans in (self.scheduled, self.breaks, self.stops):
            points.update(round(t * 1e6) for span in spans for t in span)
        return points


def _summed_intervals(
    conn: Connection, tenant_id: int, machine_id: str, plans: Sequence[_Plan], now_us: int
) -> list[Interval]:
    """The machine's state intervals over the plans, by start, with those lying wholly between two calendar
    points replaced by one interval per state and summed length.

    Between two consecutive points (span ends, shift, break and planned-downtime bounds) every second counts
    the same way, so ``components`` needs only how long each state lasted there, not in which order: the
    summed intervals are laid end to end where the stored ones began. Intervals crossing a point are kept as
    stored; an open one ends at ``now`` (or at its start).

    Raises:
        ValueError: a stored interval ends before it starts, or stored intervals overlap (as far as the sums
            show: not when the overlap is hidden by a gap between two calendar points).
    """
    ranges = [r for plan in plans for r in pairwise(sorted(plan.points_us()))]
    totals, edges = production.state_totals(conn, tenant_id, machine_id, ranges)
    kept = [(start, end if end is not None else max(now_us, start), state) for start, end, state in edges]
    edge_starts = [start for start, _, _ in kept]
    region_end = dict(ranges)
    intervals = [Interval(start / 1e6, end / 1e6, state) for start, end, state in kept]
    for lo, group in groupby(totals, key=lambda t: t[0]):
        hi, states = region_end[lo], list(group)
        first, last = min(t[4] for t in states), max(t[5] for t in states)
        n = bisect_left(edge_starts, lo)  # the interval reaching in from the left, if any
        free_from = max(lo, kept[n - 1][1]) if n else lo
        n = bisect_left(edge_starts, hi)  # the interval reaching out to the right, if any
        free_until = edge_starts[n - 1] if n and edge_starts[n - 1] >= lo else hi
        backwards = min(t[3] for t in states) < 0
        if backwards or first < free_from or last > free_until or sum(t[2] for t in states) > last - first:
            what = "ends before it starts" if backwards else "overlaps another"
            raise ValueError(
                f"a stored state interval of machine {machine_id!r} between {iso_utc(lo / 1e6)} and "
                f"{iso_utc(hi / 1e6)} {what}"
            )
        at = first
        for _, state, total_us, _, _, _ in states:
            intervals.append(Interval(at / 1e6, (at + total_us) / 1e6, state))
            at += total_us
    intervals.sort(key=lambda i: (i.start, i.end))
    return intervals


def _part_ranges(plans: Sequence[_Plan], index: RunIndex) -> list[tuple[int, int, int]]:
    """``(plan number, from_us, to_us)``: each plan's ``(start, end]`` cut where a run starts or ends, so that
    all parts of a range belong to one run (or none)."""
    cuts = sorted({t for run in index.runs for t in (run.started_us, run.ended_us) if t is not None})
    ranges: list[tuple[int, int, int]] = []
    for n, plan in enumerate(plans):
        lo, hi = round(plan.start * 1e6), round(plan.end * 1e6)
        points = [lo, *cuts[bisect_right(cuts, lo) : bisect_left(cuts, hi)], hi]
        ranges.extend((n, a, b) for a, b in pairwise(points) if b > a)
    return ranges


def _machine_components(
    conn: Connection,
    tenant_id: int,
    machine_id: str,
    calendar: ShiftCalendar,
    spans: Sequence[Span],
    now: float,
) -> Components:
    """The summed components of one machine over disjoint sorted ``spans``.

    The database sums what can be summed without changing an answer (state time between calendar points,
    part counts between run boundaries), so a month costs a few hundred rows rather than tens of thousands.
    """
    if not spans:
        return Components.zero()
    plans = [
        _Plan(
            start,
            end,
            calendar.scheduled(start, end, machine_id),
            calendar.break_spans(start, end, machine_id),
            calendar.planned_downtime_spans(start, end, machine_id),
        )
        for start, end in spans
    ]
    lo_us, hi_us = round(spans[0][0] * 1e6), round(spans[-1][1] * 1e6)
    index = RunIndex(production.runs_overlapping(conn, tenant_id, machine_id, lo_us, hi_us))
    intervals = _summed_intervals(conn, tenant_id, machine_id, plans, round(now * 1e6))
    starts = [i.start for i in intervals]
    ranges = _part_ranges(plans, index)
    range_of = {lo: (n, hi) for n, lo, hi in ranges}
    parts: list[list[tuple[int, str, int]]] = [[] for _ in plans]
    for lo, kind, delta in production.part_totals(conn, tenant_id, machine_id, [r[1:] for r in ranges]):
        n, hi = range_of[lo]
        parts[n].append((hi, kind, delta))  # any instant of the range finds its run
    rejects = production.reject_rows(conn, tenant_id, machine_id, lo_us, hi_us)
    reject_ts = [ts for ts, _ in rejects]
    onsets = production.alarm_onsets(conn, tenant_id, machine_id, lo_us, hi_us)
    total = Components.zero()
    for plan, span_parts in zip(plans, parts, strict=True):
        start, end = plan.start, plan.end
        s_us, e_us = round(start * 1e6), round(end * 1e6)
        # Intervals do not overlap, so ends are ordered like starts: the window's are a contiguous slice.
        first = max(0, bisect_right(starts, start) - 1)
        window = intervals[first : bisect_left(starts, end)]
        groups = tally(
            span_parts, rejects[bisect_right(reject_ts, s_us) : bisect_right(reject_ts, e_us)], index
        )
        total = total + components(
            window,
            plan.scheduled,
            part_counts(groups, index, end),
            start,
            end,
            alarms=bisect_left(onsets, e_us) - bisect_left(onsets, s_us),
            breaks=plan.breaks,
            planned_downtime=plan.stops,
        )
    return total


def _ratio(value: float | None) -> float | None:
    return value


def oee_public(result: Oee) -> dict[str, Any]:
    """A, P, Q, OEE, the seed's ``details`` (with exact seconds beside its minutes), losses by state, every
    second of the window accounted for, and why a ratio is missing or implausible."""
    c = result.components
    return {
        "oee": result.oee,
        "availability": result.availability,
        "performance": result.performance,
        "quality": result.quality,
        "details": {
            "planned_time_min": c.planned_s / 60,
            "run_time_min": c.run_s / 60,
            "downtime_min": c.downtime_s / 60,
            "total_parts": c.total_parts,
            "good_parts": c.good_parts,
            "rejected_parts": c.total_parts - c.good_parts,
            "ideal_cycle_time_sec": c.ideal_total_s / (c.total_parts - c.parts_without_ideal)
            if c.total_parts > c.parts_without_ideal
            else None,
            "avg_cycle_time_sec": c.run_s / c.total_parts if c.total_parts else None,
            "planned_time_s": c.planned_s,
            "scheduled_time_s": c.scheduled_s,
            "run_time_s": c.run_s,
            "run_outside_schedule_s": c.run_outside_schedule_s,
            "downtime_s": c.downtime_s,
            "ideal_time_s": c.ideal_total_s,
            "ideal_time_good_s": c.ideal_good_s,
            "parts_without_ideal_cycle_time": c.parts_without_ideal,
            "alarms": c.alarms,
        },
        "losses": result.losses(),
        "time_accounting": {
            "period_s": c.period_s,
            "planned": dict(c.time_by_state),
            "unplanned": dict(c.unplanned_by_state),
        },
        "flags": list(result.flags),
        "reasons": dict(result.reasons),
    }


def _period_public(period: Period) -> dict[str, str]:
    return {"from": iso_utc(period.start), "to": iso_utc(period.end)}


def _machine_ids(conn: Connection, tenant_id: int, wanted: Sequence[str] | None) -> list[str]:
    known = [m.machine_id for m in repository.list_machines(conn, tenant_id)]
    if not wanted:
        return known
    missing = [m for m in wanted if m not in known]
    if missing:
        raise NotFound(f"machine {missing[0]!r} not found")
    return list(dict.fromkeys(wanted))


def machine_oee(
    engine: Engine,
    tenant_id: int,
    machine_id: str,
    now: float,
    *,
    from_: str | None = None,
    to: str | None = None,
    shift: str | None = None,
) -> dict[str, Any]:
    """One machine's OEE over a period, optionally one shift's instances in it (the seed's ``/oee/{id}``).

    Raises:
        NotFound: the tenant has no such machine.
        ValueError: a bad period or an unknown shift.
    """
    with transaction(engine) as conn:
        if repository.get_machine(conn, tenant_id, machine_id) is None:
            raise NotFound(f"machine {machine_id!r} not found")
        calendar = load_calendar(conn, tenant_id)
        period = resolve_period(calendar, from_, to, now)
        spans, shift_name = _spans(calendar, machine_id, period, shift, now)
        result = compute(_machine_components(conn, tenant_id, machine_id, calendar, spans, now))
    return {
        "machine_id": machine_id,
        "period": _period_public(period if shift != CURRENT or not spans else Period(*spans[0])),
        "shift": shift_name,
        **oee_public(result),
    }


def aggregate_oee(
    engine: Engine,
    tenant_id: int,
    now: float,
    *,
    machine_ids: Sequence[str] | None = None,
    from_: str | None = None,
    to: str | None = None,
    shift: str | None = None,
) -> dict[str, Any]:
    """The OEE of several machines (default: all) from their summed components (the seed's ``/oee``), with
    each machine's figures and, as a named extra, the plain mean of their OEEs."""
    with transaction(engine) as conn:
        calendar = load_calendar(conn, tenant_id)
        period = resolve_period(calendar, from_, to, now)
        ids = _machine_ids(conn, tenant_id, machine_ids)
        per_machine: dict[str, Oee] = {}
        for machine_id in ids:
            spans, _ = _spans(calendar, machine_id, period, shift, now)
            per_machine[machine_id] = compute(
                _machine_components(conn, tenant_id, machine_id, calendar, spans, now)
            )
    summed = sum((r.components for r in per_machine.values()), Components.zero())
    return {
        "period": _period_public(period),
        "shift": shift,
        "machine_count": len(ids),
        **oee_public(compute(summed)),
        "mean_of_machine_oee": mean_of_oee(list(per_machine.values())),
        "machines": [
            {
                "machine_id": m,
                "oee": r.oee,
                "availability": r.availability,
                "performance": r.performance,
                "quality": r.quality,
            }
            for m, r in per_machine.items()
        ],
    }


def _trend(points: Sequence[float | None]) -> dict[str, Any]:
    """Least-squares slope of OEE per bucket over the buckets that have one, and its direction."""
    pairs = [(float(i), v) for i, v in enumerate(points) if v is not None]
    if len(pairs) < 2:
        return {"slope_per_bucket": None, "direction": None, "first": None, "last": None, "change": None}
    n = len(pairs)
    mean_x = sum(x for x, _ in pairs) / n
    mean_y = sum(y for _, y in pairs) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in pairs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in pairs) / sxx
    direction = "up" if slope > _TREND_FLAT else "down" if slope < -_TREND_FLAT else "flat"
    first, last = pairs[0][1], pairs[-1][1]
    return {
        "slope_per_bucket": slope,
        "direction": direction,
        "first": first,
        "last": last,
        "change": last - first,
    }


def _clip(spans: Sequence[Span], start: float, end: float) -> list[Span]:
    return [(max(s, start), min(e, end)) for s, e in spans if e > start and s < end]


def history(
    engine: Engine,
    tenant_id: int,
    now: float,
    *,
    bucket: Bucket = "day",
    machine_ids: Sequence[str] | None = None,
    from_: str | None = None,
    to: str | None = None,
    shift: str | None = None,
) -> dict[str, Any]:
    """OEE per hour, day, week or month in the tenant's time zone (days follow the production day; DST days
    are 23 h or 25 h), of one machine or several summed, with the trend (the seed's ``/oee/history``)."""
    with transaction(engine) as conn:
        calendar = load_calendar(conn, tenant_id)
        period = resolve_period(calendar, from_, to, now)
        ids = _machine_ids(conn, tenant_id, machine_ids)
        buckets = (
            calendar.local_buckets(period.start, period.end, bucket) if period.end > period.start else []
        )
        sums = [Components.zero() for _ in buckets]
        for machine_id in ids:
            spans, _ = _spans(calendar, machine_id, period, shift, now)
            for n, (_, (b_start, b_end)) in enumerate(buckets):
                clipped = _clip(spans, b_start, b_end)
                sums[n] = sums[n] + _machine_components(conn, tenant_id, machine_id, calendar, clipped, now)
    points = []
    for (label, (b_start, b_end)), summed in zip(buckets, sums, strict=True):
        points.append(
            {"bucket": label, "from": iso_utc(b_start), "to": iso_utc(b_end), **oee_public(compute(summed))}
        )
    return {
        "period": _period_public(period),
        "bucket": bucket,
        "shift": shift,
        "machines": ids,
        "points": points,
        "trend": _trend([p["oee"] for p in points]),
    }


def compare(
    engine: Engine,
    tenant_id: int,
    now: float,
    *,
    by: Literal["machine", "shift", "period"],
    machine_ids: Sequence[str] | None = None,
    from_: str | None = None,
    to: str | None = None,
    shift: str | None = None,
    periods: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Machines, shifts or periods side by side, each from its own summed components."""
    items: list[dict[str, Any]] = []
    with transaction(engine) as conn:
        calendar = load_calendar(conn, tenant_id)
        ids = _machine_ids(conn, tenant_id, machine_ids)
        if by == "period":
            if len(periods) < 2:
                raise ValueError(
                    "periods: give at least two, e.g. periods=2026-02-01/2026-02-07,2026-02-08/2026-02-14"
                )
            windows = [(f"{a}/{b}", resolve_period(calendar, a, b, now)) for a, b in periods]
        else:
            windows = [("", resolve_period(calendar, from_, to, now))]
        keys: list[tuple[str, str | None, Sequence[str], Period]] = []
        if by == "machine":
            keys = [(m, shift, [m], windows[0][1]) for m in ids]
        elif by == "shift":
            keys = [(name, name, ids, windows[0][1]) for name in calendar.shift_names]
        else:
            keys = [(label, shift, ids, window) for label, window in windows]
        for key, key_shift, key_machines, window in keys:
            summed = Components.zero()
            for machine_id in key_machines:
                spans, _ = _spans(calendar, machine_id, window, key_shift, now)
                summed = summed + _machine_components(conn, tenant_id, machine_id, calendar, spans, now)
            items.append({"key": key, "period": _period_public(window), **oee_public(compute(summed))})
    return {"by": by, "items": items}
