"""The comparison of an MES answer with the truth: what must match exactly, what within a tolerance, and
how far data the MES reports as lost may widen the tolerance (pure logic, no run)."""

from __future__ import annotations

from typing import Any

import pytest

from scenarios.compare import compare
from scenarios.model import Tolerances

TOL = Tolerances()


def _truth(**changes: Any) -> dict[str, Any]:
    # 8 h planned, 7 h run, 1 h down; 600 parts, 594 good.
    base = {
        "availability": 0.875,
        "performance": 0.9,
        "quality": 0.99,
        "oee": 0.875 * 0.9 * 0.99,
        "planned_s": 28_800.0,
        "run_s": 25_200.0,
        "downtime_s": 3_600.0,
        "total_parts": 600,
        "good_parts": 594,
        "alarms": 3,
    }
    return {**base, **changes}


def _mes(**changes: Any) -> dict[str, Any]:
    return {**_truth(), "no_data_s": 0.0, **changes}


def test_the_same_answer_holds() -> None:
    assert compare(_truth(), _mes(), TOL) == []


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"availability": 0.878}, "availability"),
        ({"oee": 0.70}, "oee"),
        ({"total_parts": 601}, "total_parts"),
        ({"good_parts": 593}, "good_parts"),
        ({"alarms": 2}, "alarms"),
        ({"quality": None}, "quality"),
        ({"planned_s": 27_000.0}, "planned_s"),  # e.g. a break the MES did not know
        ({"downtime_s": 3_700.0}, "downtime_s"),  # 100 s off: more than 0.002 x 8 h + 1 s
    ],
)
def test_a_figure_outside_its_tolerance_is_named(changes: dict[str, Any], named: str) -> None:
    failures = compare(_truth(), _mes(**changes), TOL)
    assert [f.split(":")[0] for f in failures] == [named]


def test_within_tolerance_holds() -> None:
    mes = _mes(availability=0.8765, oee=0.875 * 0.9 * 0.99 + 0.0015, downtime_s=3_600.0 + 50.0)
    assert compare(_truth(), mes, TOL) == []


def test_data_the_mes_reports_lost_widens_availability_and_downtime_only() -> None:
    """Half an hour without data: availability and downtime may be off by up to that half hour, OEE not."""
    lost = 1_800.0
    mes = _mes(no_data_s=lost, availability=0.875 - 1_500.0 / 28_800.0, downtime_s=3_600.0 + 1_500.0)
    assert compare(_truth(), mes, TOL) == []
    assert [f.split(":")[0] for f in compare(_truth(), {**mes, "oee": 0.70}, TOL)] == ["oee"]
    too_far = _mes(no_data_s=lost, downtime_s=3_600.0 + 2_000.0)
    assert [f.split(":")[0] for f in compare(_truth(), too_far, TOL)] == ["downtime_s"]
