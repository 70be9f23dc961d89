"""mes_core.domain.oee: the OEE definitions, the reference's acceptance items, agreement with the truth."""

from __future__ import annotations

from dataclasses import replace
from datetime import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mes_core.domain.oee import Components, Interval, Oee, PartCount, Span, components, compute, mean_of_oee
from mes_core.domain.states import MachineState
from scenarios import load_scenario, plant_config
from tests.twin.builders import HOUR, day_shift, failure, job, machine, ran
from twin.config import CycleModel
from twin.kpi import kpis_for_window
from twin.ledger import MachineLedger
from twin.observations import ListSink
from twin.plant import Plant
from twin.shift_calendar import ShiftDefinition

ROOT = Path(__file__).resolve().parents[2]

STATES = [s.value for s in MachineState]


def iv(start: float, end: float, state: str) -> Interval:
    return Interval(start, end, state)


def pc(at: float, total: int = 1, good: int | None = None, ict: float | None = 10.0) -> PartCount:
    return PartCount(at, total, total if good is None else good, ict)


def ratios(o: Oee) -> tuple[float | None, ...]:
    return (o.availability, o.performance, o.quality, o.oee)


# --- definitions -----------------------------------------------------------------------------------------


def test_a_p_q_oee_follow_the_definitions_and_multiply_to_oee() -> None:
    intervals = [iv(0, 60, "producing"), iv(60, 80, "idle"), iv(80, 100, "producing_reduced")]
    parts = [pc(20), pc(40), pc(60, good=0), pc(95, ict=20.0)]
    o = compute(components(intervals, [(0, 100)], parts, 0, 100))
    c = o.components
    assert (c.period_s, c.planned_s, c.scheduled_s, c.run_s, c.downtime_s) == (100, 100, 100, 80, 20)
    assert (c.total_parts, c.good_parts, c.ideal_total_s, c.ideal_good_s) == (4, 3, 50, 40)
    assert o.availability == pytest.approx(0.8)
    assert o.performance == pytest.approx(50 / 80)
    assert o.quality == pytest.approx(40 / 50)
    assert o.oee == pytest.approx(0.4)
    assert o.reasons == {}
    assert o.flags == ()


def test_quality_is_time_weighted_across_ideal_cycle_times() -> None:
    parts = [pc(10, ict=10.0), pc(60, ict=50.0, good=0)]
    o = compute(components([iv(0, 100, "producing")], [(0, 100)], parts, 0, 100))
    assert o.quality == pytest.approx(10 / 60)  # not 1/2
    assert o.oee == pytest.approx(0.1)


def test_a_part_belongs_to_the_window_where_it_completed_counting_windows_start_exclusive() -> None:
    parts = [pc(0), pc(50), pc(100)]
    c = components([iv(0, 200, "producing")], [(0, 200)], parts, 0, 100)
    assert c.total_parts == 2  # 50 and 100; the one at 0 closed the window before
    assert components([], [], parts, 100, 200).total_parts == 0


def test_an_increment_of_several_parts_weighs_each_part() -> None:
    c = components([iv(0, 100, "producing")], [(0, 100)], [pc(50, total=3, good=2, ict=5.0)], 0, 100)
    assert (c.total_parts, c.good_parts, c.ideal_total_s, c.ideal_good_s) == (3, 2, 15, 10)


def test_intervals_are_clipped_to_the_window_and_uncovered_planned_time_is_no_data() -> None:
    c = components([iv(-50, 30, "producing"), iv(70, 500, "alarm")], [(0, 100)], [], 0, 100)
    assert c.run_s == 30
    assert dict(c.time_by_state) == {"producing": 30, "alarm": 30, "no_data": 40}
    assert compute(c).losses() == {"alarm": 30, "no_data": 40}


def test_unplanned_time_is_labelled_by_breaks_and_planned_downtime_else_no_shift() -> None:
    c = components(
        [iv(0, 100, "idle")], [(10, 40), (50, 70)], [], 0, 100, breaks=[(40, 50)], planned_downtime=[(70, 90)]
    )
    assert dict(c.unplanned_by_state) == {"no_shift": 20, "break": 10, "planned_stop": 20}
    assert dict(c.time_by_state) == {"idle": 50}
    assert c.planned_s == 50


def test_planned_downtime_wins_over_a_break_where_both_cover() -> None:
    c = components([], [], [], 0, 10, breaks=[(0, 10)], planned_downtime=[(5, 10)])
    assert dict(c.unplanned_by_state) == {"break": 5, "planned_stop": 5}


def test_losses_are_every_planned_non_running_state() -> None:
    intervals = [iv(0, 40, "producing"), iv(40, 50, "setup"), iv(50, 70, "alarm"), iv(70, 80, "idle")]
    o = compute(components(intervals, [(0, 100)], [], 0, 100))
    assert o.losses() == {"idle": 10, "setup": 10, "alarm": 20, "no_data": 20}
    assert sum(o.losses().values()) == pytest.approx(o.components.downtime_s)


def test_alarms_are_carried_and_summed() -> None:
    a = components([], [(0, 10)], [], 0, 10, alarms=2)
    b = components([], [(10, 20)], [], 10, 20, alarms=3)
    assert (a + b).alarms == 5


def test_zero_is_neutral_and_sum_works() -> None:
    a = components([iv(0, 10, "producing")], [(0, 10)], [pc(5)], 0, 10)
    assert a + Components.zero() == a
    assert sum([a, a], Components.zero()) == a + a


def test_parts_without_ideal_cycle_time_count_as_parts_and_are_flagged() -> None:
    parts = [pc(10, ict=10.0), pc(20, ict=None, good=0)]
    o = compute(components([iv(0, 100, "producing")], [(0, 100)], parts, 0, 100))
    assert (o.components.total_parts, o.components.parts_without_ideal) == (2, 1)
    assert o.quality == 1.0
    assert o.flags == ("parts_without_ideal_cycle_time",)


def test_parts_all_without_ideal_cycle_time_give_none_not_zero() -> None:
    o = compute(components([iv(0, 100, "producing")], [(0, 100)], [pc(10, ict=None)], 0, 100))
    assert o.availability == 1.0
    assert (o.performance, o.quality, o.oee) == (None, None, None)
    assert o.reasons == {
        "performance": "no_ideal_cycle_time",
        "quality": "no_ideal_cycle_time",
        "oee": "no_ideal_cycle_time",
    }


def test_bad_input_is_a_value_error_naming_the_value() -> None:
    with pytest.raises(ValueError, match="overlap"):
        components([iv(0, 10, "idle"), iv(5, 20, "producing")], [], [], 0, 20)
    with pytest.raises(ValueError, match="'running'"):
        components([iv(0, 10, "running")], [], [], 0, 20)
    with pytest.raises(ValueError, match=r"end \(0\) is before its start \(10\)"):
        components([], [], [], 10, 0)
    with pytest.raises(ValueError, match=r"good \(3\)"):
        components([], [], [PartCount(1, 2, 3, 10.0)], 0, 20)
    with pytest.raises(ValueError, match="ideal cycle time"):
        components([], [], [PartCount(1, 1, 1, 0.0)], 0, 20)


# --- reference section 7 ---------------------------------------------------------------------------------


@st.composite
def timelines(draw: st.DrawFn, start: float, end: float) -> list[Interval]:
    """Consecutive intervals with random states and random gaps (no data), partly outside the window."""
    pieces = draw(
        st.lists(
            st.tuples(st.floats(0.5, 60), st.sampled_from(STATES), st.sampled_from([0.0, 0.0, 0.5, 7.25])),
            min_size=1,
            max_size=20,
        )
    )
    t = start - draw(st.sampled_from([0.0, 13.5]))
    result = []
    for length, state, gap in pieces:
        result.append(Interval(t, t + length, state))
        t += length + gap
    return result


@st.composite
def spans(draw: st.DrawFn, start: float, end: float) -> list[Span]:
    cuts = sorted(draw(st.lists(st.floats(start - 20, end + 20), max_size=10, unique=True)))
    return [(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if b > a]


@st.composite
def part_lists(draw: st.DrawFn, start: float, end: float) -> list[PartCount]:
    result = []
    for _ in range(draw(st.integers(0, 25))):
        total = draw(st.integers(1, 4))
        result.append(
            PartCount(
                draw(st.floats(start - 10, end + 10)),
                total,
                draw(st.integers(0, total)),
                draw(st.sampled_from([None, 3.0, 7.5, 12.25, 40.0])),
            )
        )
    return result


@st.composite
def windows(draw: st.DrawFn) -> tuple[list[Interval], list[Span], list[PartCount], list[Span], list[Span]]:
    return (
        draw(timelines(0, 200)),
        draw(spans(0, 200)),
        draw(part_lists(0, 200)),
        draw(spans(0, 200)),
        draw(spans(0, 200)),
    )


Window = tuple[list[Interval], list[Span], list[PartCount], list[Span], list[Span]]


def _components(w: Window, start: float, end: float) -> Components:
    intervals, scheduled, parts, breaks, stops = w
    return components(intervals, scheduled, parts, start, end, breaks=breaks, planned_downtime=stops)


def assert_same(a: Oee, b: Oee) -> None:
    for x, y in zip(ratios(a), ratios(b), strict=True):
        assert (x is None) == (y is None)
        if x is not None and y is not None:
            assert x == pytest.approx(y, rel=1e-9, abs=1e-12)
    assert a.reasons == b.reasons
    assert a.flags == b.flags


@settings(max_examples=150)
@given(windows())
def test_oee_is_ideal_good_over_planned_and_equals_a_p_q(w: Window) -> None:
    """Reference 7.1: OEE == sum(ICT x good) / planned and A x P x Q == OEE, whatever the states do."""
    o = compute(_components(w, 0, 200))
    c = o.components
    if c.planned_s > 0 and not (c.total_parts and c.ideal_total_s == 0):
        assert o.oee == pytest.approx(c.ideal_good_s / c.planned_s, abs=1e-12)
    if None not in (o.availability, o.performance, o.quality):
        assert o.availability * o.performance * o.quality == pytest.approx(o.oee, abs=1e-9)  # type: ignore[operator]
    if o.availability is not None:
        assert o.availability <= 1 + 1e-12  # reference 7.6: running outside the schedule is planned time


@settings(max_examples=100)
@given(windows(), st.sampled_from(["idle", "interrupted", "setup", "alarm", "no_data"]))
def test_moving_time_between_loss_and_run_buckets_leaves_oee_unchanged(w: Window, relabel: str) -> None:
    """Reference 7.1: microstops booked as run time (six big losses) or downtime (ISO) move only A and P."""
    intervals, _, parts, _, _ = w
    iso = compute(components(intervals, [(0, 200)], parts, 0, 200))
    relabelled = [Interval(i.start, i.end, "producing" if i.state == relabel else i.state) for i in intervals]
    six = compute(components(relabelled, [(0, 200)], parts, 0, 200))
    assert six.components.planned_s == iso.components.planned_s == 200
    assert six.oee == pytest.approx(iso.oee, abs=1e-12)


@settings(max_examples=150)
@given(windows())
def test_every_second_of_the_period_is_accounted_for(w: Window) -> None:
    """Reference 7.2: time by state within planned time plus unplanned time by label == period."""
    c = _components(w, 0, 200)
    assert sum(c.time_by_state.values()) == pytest.approx(c.planned_s, abs=1e-9)
    assert sum(c.time_by_state.values()) + sum(c.unplanned_by_state.values()) == pytest.approx(200, abs=1e-9)
    assert c.planned_s == pytest.approx(c.scheduled_s + c.run_outside_schedule_s, abs=1e-9)
    assert c.run_s <= c.planned_s + 1e-9


@settings(max_examples=150)
@given(windows(), st.floats(0, 200), st.booleans())
def test_adjacent_windows_add_up_to_the_whole(w: Window, split: float, part_at_split: bool) -> None:
    """Reference 7.3: components(a, b) + components(b, c) gives the same OEE as components(a, c)."""
    if part_at_split:
        w = (w[0], w[1], [*w[2], PartCount(split, 2, 1, 7.5)], w[3], w[4])
    first, second, whole = _components(w, 0, split), _components(w, split, 200), _components(w, 0, 200)
    assert_same(compute(first + second), compute(whole))
    assert first.total_parts + second.total_parts == whole.total_parts
    if part_at_split and split > 0:
        assert first.total_parts >= 2  # a part completed at the split instant closes the first window


def test_a_part_at_the_split_instant_goes_to_the_first_half() -> None:
    parts = [pc(50, total=2)]
    assert components([], [], parts, 0, 50).total_parts == 2
    assert components([], [], parts, 50, 100).total_parts == 0


def test_running_through_a_break_makes_the_break_time_planned() -> None:
    """Reference 7.6: a machine producing in an unscheduled break gets that time planned, so A <= 1."""
    intervals = [iv(0, 60, "producing"), iv(60, 100, "idle")]
    c = components(intervals, [(0, 40), (50, 100)], [pc(55)], 0, 100, breaks=[(40, 50)])
    assert (c.scheduled_s, c.run_outside_schedule_s, c.planned_s, c.run_s) == (90, 10, 100, 60)
    assert "break" not in c.unplanned_by_state
    assert compute(c).availability == pytest.approx(0.6)


def test_an_idle_break_is_no_loss() -> None:
    """Reference 7.6: idle in a planned break costs nothing."""
    intervals = [iv(0, 40, "producing"), iv(40, 50, "idle"), iv(50, 100, "producing")]
    c = components(intervals, [(0, 40), (50, 100)], [], 0, 100, breaks=[(40, 50)])
    assert c.planned_s == 90
    assert compute(c).availability == 1.0
    assert dict(c.unplanned_by_state) == {"break": 10}


def test_performance_above_one_is_returned_unclamped_and_flagged() -> None:
    """Reference 7.7."""
    parts = [pc(t, ict=30.0) for t in (30, 55, 80, 99)]
    o = compute(components([iv(0, 100, "producing")], [(0, 100)], parts, 0, 100))
    assert o.performance == pytest.approx(1.2)
    assert o.oee == pytest.approx(1.2)
    assert o.flags == ("performance_gt_100",)


def test_performance_of_exactly_one_is_not_flagged() -> None:
    parts = [pc(t, ict=10.0) for t in range(10, 101, 10)]
    o = compute(components([iv(0, 100, "producing")], [(0, 100)], parts, 0, 100))
    assert o.performance == 1.0
    assert o.flags == ()


def test_zero_planned_time_gives_none_with_a_reason_not_zero() -> None:
    """Reference 7.7."""
    o = compute(components([iv(0, 100, "idle")], [], [], 0, 100))
    assert ratios(o) == (None, None, None, None)
    assert o.reasons == {
        "availability": "no_planned_time",
        "performance": "no_run_time",
        "quality": "no_parts",
        "oee": "no_planned_time",
    }
    assert dict(o.components.unplanned_by_state) == {"no_shift": 100}


def test_zero_parts_give_quality_none_with_no_parts() -> None:
    """Reference 7.7: no parts is no quality, not 100 %; a machine that ran and made nothing has P = 0."""
    o = compute(components([iv(0, 100, "producing")], [(0, 100)], [], 0, 100))
    assert o.quality is None
    assert o.reasons == {"quality": "no_parts"}
    assert (o.availability, o.performance, o.oee) == (1.0, 0.0, 0.0)


def test_an_empty_window_is_all_none() -> None:
    o = compute(components([], [], [], 5, 5))
    assert ratios(o) == (None, None, None, None)
    assert o.components == Components.zero()


@settings(max_examples=100)
@given(st.lists(windows(), min_size=1, max_size=4))
def test_aggregate_of_machines_is_compute_of_summed_components(machines: list[Window]) -> None:
    """Reference 7.8: the aggregate comes from summed components; its OEE is total ideal-good / planned."""
    each = [_components(w, 0, 200) for w in machines]
    total = compute(sum(each, Components.zero()))
    planned = sum(c.planned_s for c in each)
    if planned > 0 and total.oee is not None:
        assert total.oee == pytest.approx(sum(c.ideal_good_s for c in each) / planned, abs=1e-12)
    assert total.components.period_s == pytest.approx(200 * len(each))


def test_aggregate_oee_differs_from_the_mean_of_oees() -> None:
    """Reference 7.8: a one-hour machine at 100 % and a ten-hour one at 50 % are 54.5 %, not 75 %."""
    a = components([iv(0, 3600, "producing")], [(0, 3600)], [pc(3600, total=360)], 0, 3600)
    b = components([iv(0, 36000, "producing")], [(0, 36000)], [pc(36000, total=3600, good=1800)], 0, 36000)
    results = [compute(a), compute(b)]
    assert mean_of_oee(results) == pytest.approx(0.75)
    assert compute(a + b).oee == pytest.approx((3600 + 18000) / 39600)
    assert mean_of_oee([compute(components([], [], [], 0, 1))]) is None


def test_part_counts_give_the_same_totals_in_any_order() -> None:
    """Reference 7.10 as it applies here: the same increments give the same totals, delivered in any order."""
    parts = [pc(10, total=2, good=1), pc(30), pc(20, ict=None)]
    a = components([iv(0, 40, "producing")], [(0, 40)], parts, 0, 40)
    b = components([iv(0, 40, "producing")], [(0, 40)], list(reversed(parts)), 0, 40)
    assert a == b
    assert (a.total_parts, a.good_parts, a.parts_without_ideal) == (4, 3, 1)


# --- the twin's truth --------------------------------------------------------------------------------------


def _mes_kpis(ledger: MachineLedger, scheduled: list[Span], start: float, end: float) -> Oee:
    intervals = [Interval(i.start, i.end, i.state.value) for i in ledger.intervals]
    parts = [PartCount(p.end, 1, int(p.good), p.ideal_cycle_s) for p in ledger.parts]
    alarms = sum(1 for a in ledger.alarms if start <= a.onset < end)
    return compute(components(intervals, scheduled, parts, start, end, alarms=alarms))


def _assert_agrees_with_truth(plant: Plant) -> int:
    """Compare each machine over the period, each shift instance and each hour; return the windows checked."""
    start, end = plant.config.start, plant.config.end
    windows: list[Span] = [(start, end)]
    windows += [
        (max(s.start, start), min(s.end, end)) for s in plant.shifts if s.end > start and s.start < end
    ]
    windows += [(t, min(t + HOUR, end)) for t in range(int(start), int(end), int(HOUR))]
    for machine_id, ledger in plant.ledger.machines.items():
        scheduled = plant.scheduled(machine_id)
        for a, b in windows:
            truth = kpis_for_window(ledger, scheduled, a, b)
            mes = _mes_kpis(ledger, scheduled, a, b)
            c = mes.components
            assert c.planned_s == pytest.approx(truth.planned_s, abs=1e-6)
            assert c.run_s == pytest.approx(truth.run_s, abs=1e-6)
            assert c.downtime_s == pytest.approx(truth.downtime_s, abs=1e-6)
            assert (c.total_parts, c.good_parts, c.alarms) == (
                truth.total_parts,
                truth.good_parts,
                truth.alarms,
            )
            for m, t in zip(
                ratios(mes), (truth.availability, truth.performance, truth.quality, truth.oee), strict=True
            ):
                assert (m is None) == (t is None), (machine_id, a, b)
                if m is not None and t is not None:
                    assert m == pytest.approx(t, rel=1e-9, abs=1e-12)
    return len(windows) * len(plant.ledger.machines)


def test_the_mes_formula_gives_the_twins_truth_on_a_seeded_shift() -> None:
    """The harness's premise: on the same intervals, parts and schedule, MES and truth KPIs are equal."""
    path = ROOT / "scenarios" / "haas_one_shift.toml"
    plant = Plant(plant_config(load_scenario(path), str(path)), ListSink())
    plant.run()
    assert sum(len(m.parts) for m in plant.ledger.machines.values()) > 0
    assert _assert_agrees_with_truth(plant) > 0


def test_the_mes_formula_gives_the_twins_truth_with_mixed_jobs_failures_and_a_night_shift() -> None:
    jobs = (
        job(job_number="A", ideal_cycle_s=45.0, planned_quantity=80, scrap_rate=0.1, setup_minutes=20.0),
        job(job_number="B", ideal_cycle_s=120.0, planned_quantity=400, scrap_rate=0.05, setup_minutes=15.0),
    )
    cycle = CycleModel(mean_factor=1.1, cv=0.1, slow_probability=0.1, microstop_probability=0.2, load_s=5.0)
    fleet = (
        machine(
            id="M1",
            jobs=tuple(replace(j, cycle=cycle) for j in jobs),
            reliability=(failure("spindle", 2, 15),),
        ),
        machine(id="M2", jobs=(job(ideal_cycle_s=30.0, cycle=replace(cycle, mean_factor=0.9)),)),
    )
    night = ShiftDefinition("Night", time(22, 0), time(6, 0), frozenset(range(7)), break_minutes=30)
    plant, _ = ran(fleet, hours=26.0, shifts=(day_shift(break_minutes=30), night), seed=3)
    m1, m2 = plant.ledger.machines["M1"], plant.ledger.machines["M2"]
    assert {p.ideal_cycle_s for p in m1.parts} == {45.0, 120.0}
    assert any(not p.good for p in m1.parts)
    assert m1.alarms
    assert _assert_agrees_with_truth(plant) > 0
    period = _mes_kpis(m2, plant.scheduled("M2"), plant.config.start, plant.config.end)
    assert "performance_gt_100" in period.flags
