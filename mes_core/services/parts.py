"""Parts made, by production run: the stored part events and rejects grouped for OEE and run figures.

A machine reports its parts through one or more part counters (``total``, ``good``, ``bad``; see
``mes_core.domain.tracker``); operators reject parts afterwards through the API. A part belongs to the run
that was open on its machine when it was completed (``started < t <= ended``), and takes that run's ideal
cycle time; a part made with no run open has none.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from mes_core.domain.oee import PartCount
from mes_core.store.records import Run

__all__ = ["RunIndex", "Tally", "tally"]


@dataclass(slots=True)
class Tally:
    """Parts of one group: counted in total, reported bad by the machine, rejected through the API."""

    total: int = 0
    bad: int = 0
    good_reported: int = 0
    rejected: int = 0

    @property
    def good(self) -> int:
        """Good parts: the machine's good ones, less those rejected afterwards (never below zero)."""
        return max(0, self.good_reported - self.rejected)


class RunIndex:
    """Finds the run a part of one machine belongs to, from the machine's runs ordered by start."""

    __slots__ = ("_ends", "_runs", "_starts")

    def __init__(self, runs: Sequence[Run]) -> None:
        self._runs = sorted(runs, key=lambda r: r.started_us)
        self._starts = [r.started_us for r in self._runs]
        self._ends = [r.ended_us for r in self._runs]

    def find(self, ts_us: int) -> int:
        """The index of the run open at ``ts_us`` (``started < ts <= ended``), or -1."""
        i = bisect_left(self._starts, ts_us) - 1
        if i >= 0:
            end = self._ends[i]
            if end is None or ts_us <= end:
                return i
        return -1

    def run(self, index: int) -> Run | None:
        return self._runs[index] if index >= 0 else None

    @property
    def runs(self) -> Sequence[Run]:
        """The runs, ordered by start."""
        return self._runs


def tally(
    part_rows: Sequence[tuple[int, str, int]], reject_rows: Sequence[tuple[int, int]], index: RunIndex
) -> dict[int, Tally]:
    """Group part events ``(ts_us, kind, delta)`` and rejects ``(ts_us, quantity)`` by run index (-1: none).

    A machine with a ``total`` counter: total from it, bad from its ``bad`` counter, or total less its
    ``good`` counter when it reports only good ones. A machine without one: total = good + bad.
    """
    kinds = {kind for _, kind, _ in part_rows}
    sums: dict[int, dict[str, int]] = {}
    for ts_us, kind, delta in part_rows:
        group = sums.setdefault(index.find(ts_us), {"total": 0, "good": 0, "bad": 0})
        group[kind] = group.get(kind, 0) + delta
    groups: dict[int, Tally] = {}
    for key, counts in sums.items():
        if "total" in kinds:
            total = counts["total"]
            bad = counts["bad"] if "bad" in kinds else (total - counts["good"] if "good" in kinds else 0)
        else:
            total = counts["good"] + counts["bad"]
            bad = counts["bad"]
        bad = min(max(bad, 0), total)
        groups[key] = Tally(total=total, bad=bad, good_reported=total - bad)
    for ts_us, quantity in reject_rows:
        groups.setdefault(index.find(ts_us), Tally()).rejected += quantity
    return groups


def part_counts(groups: dict[int, Tally], index: RunIndex, at: float) -> list[PartCount]:
    """One ``PartCount`` per group, all completed at ``at`` (the end of the window they were counted in)."""
    counts: list[PartCount] = []
    for key, group in groups.items():
        run = index.run(key)
        counts.append(
            PartCount(
                at=at,
                total=group.total,
                good=min(group.good, group.total),
                ideal_cycle_s=None if run is None else run.ideal_cycle_time_s,
            )
        )
    return counts
