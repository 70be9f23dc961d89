"""MES answers against the twin's truth: parts and alarms exactly, A/P/Q/OEE within the tolerances, planned
time and downtime within what the availability tolerance allows in seconds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scenarios.model import Tolerances
from twin.truth import TruthResult

__all__ = ["RATIOS", "Comparison", "allowances", "compare", "compare_rows"]

RATIOS: tuple[str, ...] = ("availability", "performance", "quality", "oee")
PLANNED_TOLERANCE_S = 1.0
"""A second more for planned time and downtime than the availability tolerance gives them."""
_COUNTS: tuple[tuple[str, str], ...] = (
    ("total_parts", "parts"),
    ("good_parts", "parts"),
    ("alarms", "alarms"),
)


@dataclass
class Comparison:
    """One report row: the truth, the MES's answer for the same machine and window, and what differs."""

    result: TruthResult
    mes: dict[str, Any]
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def allowances(truth: Mapping[str, Any], mes: Mapping[str, Any], tolerances: Tolerances) -> dict[str, float]:
    """The allowed |MES - truth| per ratio: the scenario's tolerance, widened where the MES reports planned
    time without data (observations truly lost, e.g. an agent buffer overrun while the network was down).

    Unknown time can only move run time: availability by at most ``no_data / planned``, performance by at
    most ``P x no_data / MES run time``. Quality and OEE get no allowance: the part counters are cumulative,
    so the MES still counts every part (at the instant it resynchronised), and planned time comes from the
    calendar: a gap that loses parts or planned time still fails.
    """
    allowed = {name: float(getattr(tolerances, name)) for name in RATIOS}
    no_data = float(mes.get("no_data_s") or 0.0)
    if no_data > 0:
        planned = float(truth["planned_s"] or 0.0)
        if planned > 0:
            allowed["availability"] += no_data / planned
        run = float(mes["run_s"] or 0.0)
        if run > 0 and truth["performance"] is not None:
            allowed["performance"] += float(truth["performance"]) * no_data / run
    return allowed


def compare(truth: Mapping[str, Any], mes: Mapping[str, Any], tolerances: Tolerances) -> list[str]:
    """What differs beyond tolerance, one short text per figure (empty: the MES agrees with the truth).

    A ratio that one side has and the other lacks (None) differs whatever the tolerance.
    """
    failures: list[str] = []
    limits = allowances(truth, mes, tolerances)
    for name in RATIOS:
        want, got = truth[name], mes[name]
        if want is None or got is None:
            if want is not None or got is not None:
                failures.append(f"{name}: truth {_fmt(want)}, MES {_fmt(got)}")
            continue
        allowed = limits[name]
        if abs(float(got) - float(want)) > allowed + 1e-12:
            failures.append(f"{name}: truth {_fmt(want)}, MES {_fmt(got)} (tolerance {allowed:g})")
    want_planned, got_planned = truth.get("planned_s"), mes.get("planned_s")
    if want_planned is not None and got_planned is not None:
        # Planned time is the calendar's, plus whatever the machine ran outside it (through a break, past the
        # shift's end), and downtime is planned time less run time: both get the availability allowance in
        # seconds (a second, plus the tolerance, plus the data the MES reports lost).
        allowed_s = limits["availability"] * float(want_planned) + PLANNED_TOLERANCE_S
        for key in ("planned_s", "downtime_s"):
            want, got = truth.get(key), mes.get(key)
            if want is not None and got is not None and abs(float(got) - float(want)) > allowed_s:
                failures.append(
                    f"{key}: truth {float(want):.1f}, MES {float(got):.1f} (tolerance {allowed_s:.1f} s)"
                )
    for key, tolerance_name in _COUNTS:
        want_n, got_n = int(truth[key]), int(mes[key])
        allowed_n = int(getattr(tolerances, tolerance_name))
        if abs(got_n - want_n) > allowed_n:
            failures.append(f"{key}: truth {want_n}, MES {got_n}")
    return failures


def _fmt(value: object) -> str:
    return "null" if value is None else f"{float(value):.4f}"  # type: ignore[arg-type]


def compare_rows(
    rows: Sequence[tuple[TruthResult, dict[str, Any]]], tolerances: Tolerances
) -> list[Comparison]:
    """Compare every (truth result, MES answer) pair."""
    comparisons = []
    for result, mes in rows:
        truth = result.kpis.as_dict()
        comparisons.append(Comparison(result, mes, compare(truth, mes, tolerances)))
    return comparisons
