"""Cycle times from part-count increments, and their statistics (percentiles, histogram, slow cycles)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "SLOW_FACTOR",
    "CycleStats",
    "Span",
    "cycle_stats",
    "cycle_times",
    "percentile",
    "running_average",
]

Span = tuple[float, float]
"""``[start, end)`` in UTC epoch seconds."""

SLOW_FACTOR: Final = 1.5
"""A cycle is slow when it lasts more than this many ideal cycle times."""


def _merged(spans: Sequence[Span]) -> list[Span]:
    merged: list[Span] = []
    for s, e in sorted(x for x in spans if x[1] > x[0]):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _overlap(spans: Sequence[Span], start: float, end: float) -> float:
    return sum(max(0.0, min(e, end) - max(s, start)) for s, e in spans)


def cycle_times(
    increments: Sequence[tuple[float, int]], started: float | None, excluded: Sequence[Span] = ()
) -> list[float]:
    """Return the cycle times, in seconds, measured between part-count increments.

    Each increment ``(timestamp, parts)`` closes the cycle(s) since the previous increment; the first is
    measured from ``started`` (when the run started running), or only opens the first cycle when
    ``started`` is None. An increment of n parts closes n equal cycles. Increments at the same timestamp
    are one increment of their summed parts (a jump delivered in pieces). Time inside ``excluded`` spans
    (pauses, breaks) is not part of any cycle.

    Args:
        increments: ``(timestamp, parts)`` in time order, parts >= 1.
        started: when the run started running, or None.
        excluded: spans to leave out, in any order, may overlap.

    Returns:
        One cycle time per part measured, in order.

    Raises:
        ValueError: an increment has fewer than one part, or comes before the previous one (or ``started``).
    """
    holes = _merged(excluded)
    grouped: list[tuple[float, int]] = []
    for t, parts in increments:
        if parts < 1:
            raise ValueError(f"increment at {t} has {parts} parts; it must have at least 1")
        if grouped and t == grouped[-1][0]:
            grouped[-1] = (t, grouped[-1][1] + parts)
        else:
            grouped.append((t, parts))
    times: list[float] = []
    previous = started
    for t, parts in grouped:
        if previous is not None:
            if t < previous:
                raise ValueError(f"increment at {t} comes before the previous instant {previous}")
            elapsed = (t - previous) - _overlap(holes, previous, t)
            times.extend([elapsed / parts] * parts)
        previous = t
    return times


def percentile(ordered: Sequence[float], q: float) -> float:
    """Return the ``q``-quantile (0..1) of sorted values by linear interpolation between closest ranks.

    The value at rank ``q x (n - 1)`` (0-based), interpolated between its two neighbours: numpy's default
    ``"linear"`` method, Excel's ``PERCENTILE.INC``, Hyndman and Fan type 7.

    Raises:
        ValueError: ``ordered`` is empty or ``q`` is outside 0..1.
    """
    if not ordered:
        raise ValueError("no values to take a percentile of")
    if not 0 <= q <= 1:
        raise ValueError(f"quantile ({q}) must be within 0..1")
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class CycleStats:
    """Statistics of a run's cycle times; every figure is None (and the histogram empty) without cycles.

    ``stdev_s`` is the population standard deviation (of the cycles observed, not an estimate).
    Percentiles interpolate linearly (see ``percentile``). ``histogram`` holds equal-width bins
    ``(lower, upper, count)`` from min to max, each half-open except the last, which includes max.
    ``slow_cycles`` counts cycles longer than ``SLOW_FACTOR`` x the ideal cycle time (None without one).
    """

    count: int
    mean_s: float | None
    min_s: float | None
    max_s: float | None
    stdev_s: float | None
    p50_s: float | None
    p90_s: float | None
    p95_s: float | None
    p99_s: float | None
    histogram: tuple[tuple[float, float, int], ...]
    slow_cycles: int | None = None


def _histogram(ordered: Sequence[float], bins: int) -> tuple[tuple[float, float, int], ...]:
    low, high = ordered[0], ordered[-1]
    if high == low:
        return ((low, high, len(ordered)),)
    width = (high - low) / bins
    counts = [0] * bins
    for t in ordered:
        counts[min(int((t - low) / width), bins - 1)] += 1
    return tuple(
        (low + n * width, high if n == bins - 1 else low + (n + 1) * width, count)
        for n, count in enumerate(counts)
    )


def cycle_stats(times: Sequence[float], *, bins: int = 20, ideal_s: float | None = None) -> CycleStats:
    """Summarise cycle times.

    Args:
        times: cycle times in seconds, non-negative, in any order.
        bins: the number of histogram bins (one bin when every cycle lasts the same).
        ideal_s: the ideal cycle time; when given, ``slow_cycles`` counts the cycles above
            ``SLOW_FACTOR x ideal_s``.

    Returns:
        The statistics; all None but ``count`` (0) and ``slow_cycles`` (0 with an ideal time) without times.

    Raises:
        ValueError: ``bins`` is below 1, ``ideal_s`` is not positive, or a time is negative or not finite.
    """
    if bins < 1:
        raise ValueError(f"bins ({bins}) must be at least 1")
    if ideal_s is not None and not ideal_s > 0:
        raise ValueError(f"ideal cycle time ({ideal_s}) must be > 0")
    for t in times:
        if not (math.isfinite(t) and t >= 0):
            raise ValueError(f"cycle time ({t}) must be a finite number >= 0")
    slow = None if ideal_s is None else sum(1 for t in times if t > SLOW_FACTOR * ideal_s)
    if not times:
        return CycleStats(0, None, None, None, None, None, None, None, None, (), slow)
    ordered = sorted(times)
    n = len(ordered)
    mean = math.fsum(ordered) / n
    stdev = math.sqrt(math.fsum((t - mean) ** 2 for t in ordered) / n)
    return CycleStats(
        count=n,
        mean_s=mean,
        min_s=ordered[0],
        max_s=ordered[-1],
        stdev_s=stdev,
        p50_s=percentile(ordered, 0.50),
        p90_s=percentile(ordered, 0.90),
        p95_s=percentile(ordered, 0.95),
        p99_s=percentile(ordered, 0.99),
        histogram=_histogram(ordered, bins),
        slow_cycles=slow,
    )


def running_average(times: Sequence[float], *, window: int | None = None) -> list[float]:
    """Return, after each cycle, the mean of the cycles so far (or of the last ``window`` of them).

    Raises:
        ValueError: ``window`` is below 1.
    """
    if window is not None and window < 1:
        raise ValueError(f"window ({window}) must be at least 1")
    result: list[float] = []
    total = 0.0
    for n, t in enumerate(times):
        total += t
        if window is not None and n >= window:
            total -= times[n - window]
        result.append(total / min(n + 1, window or n + 1))
    return result
