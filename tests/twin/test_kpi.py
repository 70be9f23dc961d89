"""The truth KPI arithmetic on hand-made ledgers: definitions, edge cases and null rules."""

from __future__ import annotations

import pytest

from twin.kpi import kpis_for_window, merge_windows, overlap_seconds, subtract_windows
from twin.ledger import AlarmRecord, MachineLedger, PartRecord
from twin.states import MachineState


def ledger(
    *states: tuple[float, MachineState], end: float, parts: list[PartRecord] | None = None
) -> MachineLedger:
    m = MachineLedger("M", "haas_vf2", states[0][0])
    for t, state in states:
        m.set_state(t, state)
    m.close(end)
    m.parts.extend(parts or [])
    return m


def part(end: float, ict: float = 10.0, good: bool = True) -> PartRecord:
    return PartRecord(end - ict, end, ict, "R1", good)


def test_oee_is_ideal_time_of_good_parts_over_planned_time_and_equals_a_p_q() -> None:
    m = ledger(
        (0, MachineState.PRODUCING),
        (60, MachineState.IDLE),
        (80, MachineState.PRODUCING),
        end=100,
        parts=[part(20), part(40), part(60, good=False), part(95, ict=20)],
    )
    k = kpis_for_window(m, [(0, 100)], 0, 100)
    assert (k.planned_s, k.run_s, k.downtime_s) == (100, 80, 20)
    assert k.availability == pytest.approx(0.8)
    assert k.performance == pytest.approx(50 / 80)
    assert k.quality == pytest.approx(40 / 50)
    assert k.oee == pytest.approx(40 / 100)
    assert k.availability * k.performance * k.quality == pytest.approx(k.oee, abs=1e-12)  # type: ignore[operator]
    assert (k.total_parts, k.good_parts) == (4, 3)


def test_quality_is_time_weighted_so_mixed_ideal_cycle_times_keep_the_identity() -> None:
    m = ledger((0, MachineState.PRODUCING), end=100, parts=[part(10, ict=10), part(60, ict=50, good=False)])
    k = kpis_for_window(m, [(0, 100)], 0, 100)
    assert k.quality == pytest.approx(10 / 60)  # not 1/2
    assert k.oee == pytest.approx(0.1)


def test_production_outside_scheduled_time_becomes_planned_time() -> None:
    m = ledger((0, MachineState.PRODUCING), (70, MachineState.BREAK), end=100)
    k = kpis_for_window(m, [(0, 50)], 0, 100)  # scheduled 0-50; ran 0-70
    assert (k.planned_s, k.run_s) == (70, 70)
    assert k.availability == pytest.approx(1.0)


def test_idle_outside_scheduled_time_is_not_planned() -> None:
    m = ledger((0, MachineState.IDLE), end=100)
    k = kpis_for_window(m, [(0, 40)], 0, 100)
    assert (k.planned_s, k.run_s, k.downtime_s) == (40, 0, 40)
    assert k.availability == 0.0
    assert k.performance is None
    assert k.quality is None
    assert k.oee == 0.0


def test_no_planned_time_gives_none_not_zero() -> None:
    m = ledger((0, MachineState.NO_SHIFT), end=100)
    k = kpis_for_window(m, [], 0, 100)
    assert (k.availability, k.performance, k.quality, k.oee) == (None, None, None, None)
    assert k.planned_s == 0


def test_performance_above_one_is_returned_unclamped() -> None:
    m = ledger((0, MachineState.PRODUCING), end=100, parts=[part(t, ict=30) for t in (30, 55, 80, 99)])
    k = kpis_for_window(m, [(0, 100)], 0, 100)
    assert k.performance == pytest.approx(1.2)


def test_a_part_belongs_to_the_window_holding_its_run_time_and_an_alarm_to_its_onset() -> None:
    m = ledger((0, MachineState.PRODUCING), end=100, parts=[part(50), part(100)])
    m.alarms.append(AlarmRecord(50, "1", "x", "spindle", "WARNING", "spindle"))
    first, second = kpis_for_window(m, [(0, 100)], 0, 50), kpis_for_window(m, [(0, 100)], 50, 100)
    # The part completed at 50 was made in (0, 50]: it belongs to the first window (windows are (start, end]).
    assert (first.total_parts, second.total_parts) == (1, 1)
    assert (first.alarms, second.alarms) == (0, 1)


def test_a_window_with_parts_always_has_run_time_so_oee_equals_a_p_q() -> None:
    m = ledger((0, MachineState.PRODUCING), (60, MachineState.IDLE), end=120, parts=[part(60, ict=60)])
    late = kpis_for_window(m, [(0, 120)], 60, 120)
    assert (late.total_parts, late.run_s, late.oee) == (0, 0, 0.0)


def test_a_period_is_the_sum_of_its_halves() -> None:
    m = ledger(
        (0, MachineState.PRODUCING),
        (33, MachineState.ALARM),
        (47, MachineState.PRODUCING),
        end=100,
        parts=[part(t) for t in (11, 22, 33, 60, 71, 82, 93)],
    )
    sched = [(0, 90)]
    whole = kpis_for_window(m, sched, 0, 100)
    a, b = kpis_for_window(m, sched, 0, 41), kpis_for_window(m, sched, 41, 100)
    assert whole.planned_s == pytest.approx(a.planned_s + b.planned_s)
    assert whole.run_s == pytest.approx(a.run_s + b.run_s)
    assert whole.total_parts == a.total_parts + b.total_parts
    assert whole.ideal_time_good_s == pytest.approx(a.ideal_time_good_s + b.ideal_time_good_s)


def test_window_helpers_merge_subtract_and_measure() -> None:
    assert merge_windows([(5, 7), (0, 2), (1, 3), (7, 9), (4, 4)]) == [(0, 3), (5, 9)]
    assert subtract_windows([(0, 10), (20, 30)], [(2, 4), (8, 22), (25, 26)]) == [
        (0, 2),
        (4, 8),
        (22, 25),
        (26, 30),
    ]
    assert overlap_seconds([(0, 10), (20, 30)], 5, 25) == 10
