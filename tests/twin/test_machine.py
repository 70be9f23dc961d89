"""Behaviour of one simulated machine: cycles, parts, stops, alarms, repairs, breaks, runs and signals."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime

import pytest

from tests.twin.builders import BERLIN, HOUR, MONDAY_0600, day_shift, failure, job, machine, plant, ran
from twin.clock import local_to_epoch
from twin.config import EventConfig
from twin.machine_models import spec_for
from twin.observations import Condition
from twin.shift_calendar import ShiftDefinition
from twin.states import MachineState

T0 = MONDAY_0600
WEEK = frozenset(range(7))
MINUTE = 60.0


def instant(t: float) -> object:
    """An absolute instant compared to the microsecond (a relative tolerance is far too loose on epochs)."""
    return pytest.approx(t, abs=1e-6, rel=0)


def states_at(p, machine_id: str, t: float) -> MachineState:  # type: ignore[no-untyped-def]
    for interval in p.ledger_of(machine_id).intervals:
        if interval.start <= t < interval.end:
            return interval.state
    raise AssertionError(f"no interval covers {t}")


def test_part_count_rises_once_per_completed_cycle() -> None:
    p, sink = ran(hours=1.0)
    parts = p.ledger_of("M1").parts
    counts = sink.of("M1", "part_count")
    assert [o.value for o in counts] == list(range(len(parts) + 1))
    assert [o.time for o in counts[1:]] == [part.end for part in parts]
    assert len(parts) == 59  # 60 s cycles back to back; the 60th would end exactly at the period's end
    assert all(part.end - part.start == pytest.approx(60.0) for part in parts)


def test_estop_stops_motion_raises_critical_alarm_and_clears_after_repair() -> None:
    at = T0 + 30 * MINUTE + 20  # 20 s into a cycle
    p, sink = ran(hours=1.0, events=(EventConfig(at, "M1", "estop", duration_s=300.0),))
    ledger = p.ledger_of("M1")
    (alarm,) = ledger.alarms
    assert (alarm.code, alarm.category, alarm.severity) == ("107", "emergency_stop", "CRITICAL")
    assert alarm.onset == instant(at)
    assert alarm.clear == instant(at + 300.0)
    assert states_at(p, "M1", at + 1) is MachineState.ALARM
    assert states_at(p, "M1", at + 299) is MachineState.ALARM
    estop = [(o.time, o.value) for o in sink.of("M1", "emergency_stop")]
    assert (instant(at), "TRIGGERED") in estop
    assert (instant(at + 300.0), "ARMED") in estop
    speeds_at_onset = [o.value for o in sink.of("M1", "spindle_speed") if o.time == instant(at)]
    assert speeds_at_onset[-1] == 0.0
    fault = [o.value for o in sink.of("M1", "cond_system") if o.time == instant(at)]
    assert fault == [Condition("FAULT", "107", "CRITICAL", alarm.text, "emergency_stop")]
    # The cycle in progress is lost, and nothing is made while the machine is stopped.
    assert not any(part.start < at < part.end for part in ledger.parts)
    assert not any(at <= part.end < at + 300.0 for part in ledger.parts)


def test_repair_waits_for_a_free_operator() -> None:
    busy = machine(id="M2", jobs=(job(setup_minutes=30.0),))
    at = T0 + 10 * MINUTE
    p, _ = ran(
        (machine(), busy),
        hours=1.0,
        operators=1,
        events=(EventConfig(at, "M1", "estop", duration_s=300.0),),
    )
    (alarm,) = p.ledger_of("M1").alarms
    # The only operator is setting up M2 until +30 min; the repair takes 5 minutes after that.
    assert alarm.clear == instant(T0 + 35 * MINUTE)
    assert states_at(p, "M1", T0 + 29 * MINUTE) is MachineState.ALARM


def test_repairs_come_before_setups_in_the_operator_queue() -> None:
    blocker = machine(id="M0", jobs=(job(setup_minutes=10.0),))
    waiting_setup = machine(id="M2", jobs=(job(setup_minutes=5.0),))
    at = T0 + 2 * MINUTE
    p, _ = ran(
        (blocker, machine(), waiting_setup),
        hours=1.0,
        operators=1,
        events=(EventConfig(at, "M1", "estop", duration_s=60.0),),
    )
    # M1 sets up in no time at t0; M0 holds the operator until +10 min, M2's setup queued at t0,
    # M1's repair queued at +2 min: the repair still goes first.
    (alarm,) = p.ledger_of("M1").alarms
    assert alarm.clear == instant(T0 + 11 * MINUTE)
    m2_setup = next(e for e in p.ledger_of("M2").runs[0].events if e[1] == "setup")
    assert m2_setup[0] == instant(T0 + 11 * MINUTE)


def test_break_is_planned_time_off() -> None:
    p, _ = ran(shifts=(day_shift(break_minutes=30),))
    (_period, shift, *_) = p.truth()
    ten = T0 + 4 * HOUR  # the break sits at the shift's midpoint: 10:00-10:30 local
    assert states_at(p, "M1", ten + 1) is MachineState.BREAK
    assert states_at(p, "M1", ten + 29 * MINUTE) is MachineState.BREAK
    assert not any(ten < part.end < ten + 30 * MINUTE for part in p.ledger_of("M1").parts)
    assert shift.kpis.planned_s == pytest.approx(7.5 * HOUR)
    assert shift.kpis.run_s == pytest.approx(7.5 * HOUR)
    assert shift.kpis.availability == pytest.approx(1.0)


def test_a_cycle_running_into_a_break_is_planned_run_time() -> None:
    p, _ = ran(machines=(machine(jobs=(job(ideal_cycle_s=420.0),)),), shifts=(day_shift(break_minutes=30),))
    shift = p.truth()[1]
    # 7-minute cycles from 06:00: the 35th runs 09:58-10:05, five minutes into the break.
    assert shift.kpis.planned_s == pytest.approx(7.5 * HOUR + 5 * MINUTE)
    assert shift.kpis.run_s == pytest.approx(shift.kpis.planned_s)
    assert shift.kpis.availability == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("zone", "start", "hours"),
    [
        ("Europe/Berlin", datetime(2026, 3, 28, 22, 0), 7.0),
        ("America/Chicago", datetime(2026, 10, 31, 22, 0), 9.0),
    ],
)
def test_a_dst_night_shift_lasts_its_elapsed_time(zone: str, start: datetime, hours: float) -> None:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    night = ShiftDefinition("Night", start.time(), datetime(2026, 1, 1, 6, 0).time(), frozenset(range(7)))
    p, _ = ran(hours=hours, shifts=(night,), start=local_to_epoch(start, tz), tz=tz)
    night_result = next(r for r in p.truth() if r.shift == "Night")
    assert night_result.end - night_result.start == pytest.approx(hours * HOUR)
    assert night_result.kpis.planned_s == pytest.approx(hours * HOUR)
    assert night_result.business_date == start.date()


def test_overnight_work_continues_past_midnight_on_the_shift_business_date() -> None:
    night = ShiftDefinition(
        "Night", datetime(2026, 1, 1, 22).time(), datetime(2026, 1, 1, 6).time(), frozenset({0})
    )
    start = local_to_epoch(datetime(2026, 3, 2, 22, 0), BERLIN)
    p, _ = ran(hours=8.0, shifts=(night,), start=start)
    midnight = local_to_epoch(datetime(2026, 3, 3, 0, 0), BERLIN)
    assert any(part.end > midnight for part in p.ledger_of("M1").parts)
    rows = [r for r in p.truth() if r.shift == "Night"]
    assert [r.business_date.isoformat() for r in rows if r.business_date] == ["2026-03-02"]


def test_tool_wears_per_part_and_is_changed_at_end_of_life() -> None:
    worn = job(tool_life_parts=10, tool_change_minutes=3.0)
    p, sink = ran(machines=(machine(jobs=(worn,), sample_interval_s=5.0),), hours=1.0)
    changes = [i for i in p.ledger_of("M1").intervals if i.detail == "tool_change"]
    assert changes
    assert all(i.state is MachineState.SETUP and i.duration == pytest.approx(180.0) for i in changes)
    life = [o.value for o in sink.of("M1", "tool_life_pct")]
    assert life[:12] == [100.0, 90.0, 80.0, 70.0, 60.0, 50.0, 40.0, 30.0, 20.0, 10.0, 0.0, 100.0]
    parts_before_first_change = [p_ for p_ in p.ledger_of("M1").parts if p_.end <= changes[0].start]
    assert len(parts_before_first_change) == 10


def test_spindle_load_rises_as_the_tool_wears() -> None:
    worn = job(tool_life_parts=40, tool_change_minutes=1.0)
    _p, sink = ran(machines=(machine(jobs=(worn,), sample_interval_s=1.0),), hours=1.0)
    life_at: list[tuple[float, float]] = [(o.time, float(o.value)) for o in sink.of("M1", "tool_life_pct")]  # type: ignore[arg-type]

    def life(t: float) -> float:
        return [v for (at, v) in life_at if at <= t][-1]

    loads = [(o.time, float(o.value)) for o in sink.of("M1", "spindle_load") if o.value]  # type: ignore[arg-type]
    fresh = [v for t, v in loads if life(t) >= 75.0]
    worn_out = [v for t, v in loads if life(t) <= 25.0]
    assert sum(worn_out) / len(worn_out) > 1.1 * sum(fresh) / len(fresh)


def test_feed_hold_interrupts_the_cycle_which_then_completes() -> None:
    at = T0 + 10 * MINUTE + 30
    p, sink = ran(hours=1.0, events=(EventConfig(at, "M1", "feed_hold", duration_s=120.0),))
    held = next(i for i in p.ledger_of("M1").intervals if i.state is MachineState.INTERRUPTED)
    assert (held.start, held.end) == (instant(at), instant(at + 120.0))
    assert ("FEED_HOLD", instant(at)) in [(o.value, o.time) for o in sink.of("M1", "execution")]
    spanning = [part for part in p.ledger_of("M1").parts if part.start < at < part.end]
    assert len(spanning) == 1
    assert spanning[0].end - spanning[0].start == pytest.approx(180.0)


def test_power_off_loses_the_cycle_and_makes_the_machine_unavailable() -> None:
    at = T0 + 10 * MINUTE + 30
    p, sink = ran(hours=1.0, events=(EventConfig(at, "M1", "power_off", duration_s=600.0),))
    assert states_at(p, "M1", at + 1) is MachineState.OFF
    availability = [(o.time, o.value) for o in sink.of("M1", "availability")]
    assert (instant(at), "UNAVAILABLE") in availability
    assert (instant(at + 600.0), "AVAILABLE") in availability
    assert [o.value for o in sink.of("M1", "execution") if o.time == instant(at)][-1] is None
    assert not any(part.start < at < part.end for part in p.ledger_of("M1").parts)


def test_operator_reject_scraps_the_next_parts_as_they_come_off_the_machine() -> None:
    at = T0 + 20 * MINUTE + 30
    p, sink = ran(hours=1.0, events=(EventConfig(at, "M1", "operator_reject", count=2),))
    parts = p.ledger_of("M1").parts
    rejected = [part for part in parts if not part.good]
    assert [part.end for part in rejected] == [parts[20].end, parts[21].end]
    assert all(part.rejected_at == part.end for part in rejected)
    # The bad-part counter rises when each rejected part is counted, so an MES can attribute it in time.
    bad = sink.of("M1", "part_count_bad")
    assert [o.value for o in bad] == [0, 1, 2]
    assert [o.time for o in bad[1:]] == [part.end for part in rejected]
    period = p.truth()[0].kpis
    assert (period.total_parts, period.good_parts) == (59, 57)


def test_a_run_goes_setup_running_paused_running_completed_and_the_next_job_follows() -> None:
    jobs = (
        job(planned_quantity=300, setup_minutes=10.0),
        job(job_number="J2", program="O2000", setup_minutes=5.0),
    )
    p, sink = ran(machines=(machine(jobs=jobs),), shifts=(day_shift(break_minutes=30),))
    first, second = p.ledger_of("M1").runs
    assert [status for _, status in first.events] == ["setup", "running", "paused", "running", "completed"]
    assert first.good_parts == 300
    assert second.events[0][1] == "setup"
    assert second.events[0][0] == instant(first.events[-1][0])
    # The part counter restarts with the new job, as operators reset it at a changeover.
    counts = [o.value for o in sink.of("M1", "part_count")]
    assert counts.index(300) < len(counts) - 1
    assert counts[counts.index(300) + 1] == 0
    assert [o.value for o in sink.of("M1", "program")][-1] == "O2000"


def test_setup_keeps_the_machine_out_of_production_in_setup_mode() -> None:
    p, sink = ran(machines=(machine(jobs=(job(setup_minutes=20.0),)),), hours=1.0)
    setup = p.ledger_of("M1").intervals[0]
    assert (setup.state, setup.detail) == (MachineState.SETUP, "changeover")
    assert setup.duration == pytest.approx(20 * MINUTE)
    assert [o.value for o in sink.of("M1", "functional_mode")][:3] == ["PRODUCTION", "SETUP", "PRODUCTION"]


def test_outside_shifts_the_machine_is_off_or_idle_as_configured() -> None:
    late = day_shift(start="08:00", end="12:00")
    p, sink = ran(shifts=(late,), hours=8.0)
    assert states_at(p, "M1", T0 + 1) is MachineState.NO_SHIFT
    assert [o.value for o in sink.of("M1", "availability")][:2] == ["UNAVAILABLE", "AVAILABLE"]
    assert sink.of("M1", "availability")[-1].value == "UNAVAILABLE"
    p2, sink2 = ran(machines=(machine(power_off_outside_shifts=False),), shifts=(late,), hours=8.0)
    assert states_at(p2, "M1", T0 + 7 * HOUR) is MachineState.NO_SHIFT
    assert sink2.of("M1", "availability")[-1].value == "AVAILABLE"
    assert sink2.of("M1", "execution")[-1].value == "READY"


def test_reduced_override_cycles_are_slower_and_marked_reduced_speed() -> None:
    slow = job(reduced_speed_probability=1.0, reduced_override_pct=80)
    p, sink = ran(
        machines=(machine(jobs=(slow,)),), hours=1.0 + 1 / 3600
    )  # the 48th cycle ends in the period
    parts = p.ledger_of("M1").parts
    assert len(parts) == 48
    assert all(part.end - part.start == pytest.approx(75.0) for part in parts)
    assert {i.state for i in p.ledger_of("M1").intervals} == {MachineState.REDUCED_SPEED}
    assert [o.value for o in sink.of("M1", "feed_override")][-1] == 80
    assert p.truth()[0].kpis.performance == pytest.approx(0.8, rel=1e-3)


def test_warmup_runs_at_shift_start_before_production() -> None:
    p, sink = ran(machines=(machine(warmup_minutes=10.0),), hours=1.0)
    first = p.ledger_of("M1").intervals[0]
    assert (first.state, first.duration) == (MachineState.WARMUP, pytest.approx(600.0))
    assert [o.value for o in sink.of("M1", "program")][:2] == ["O1000", "O09000"]
    assert p.ledger_of("M1").parts[0].start == instant(T0 + 600.0)


def test_planned_stop_is_out_of_planned_time() -> None:
    stop = EventConfig(T0 + 2 * HOUR, "M1", "planned_stop", duration_s=HOUR)
    p, _ = ran(events=(stop,))
    assert states_at(p, "M1", T0 + 2.5 * HOUR) is MachineState.PLANNED_STOP
    assert p.truth()[0].kpis.planned_s == pytest.approx(7 * HOUR)


def test_random_alarms_follow_their_category_and_only_critical_ones_stop_the_machine() -> None:
    reliability = tuple(failure(c, 0.5, 3.0) for c in ("spindle", "hydraulic", "tool_change"))
    p, _ = ran(machines=(machine(reliability=reliability),), operators=2, seed=3)
    ledger = p.ledger_of("M1")
    assert {a.category for a in ledger.alarms} == {"spindle", "hydraulic", "tool_change"}
    alarm_intervals = [i for i in ledger.intervals if i.state is MachineState.ALARM]
    critical = [a for a in ledger.alarms if a.severity == "CRITICAL" and a.clear is not None]
    advisory = [a for a in ledger.alarms if a.severity != "CRITICAL"]
    assert critical
    assert advisory
    for alarm in critical:
        assert any(i.start == alarm.onset and i.detail == alarm.category for i in alarm_intervals)
    for alarm in advisory:
        assert not any(i.start == alarm.onset for i in alarm_intervals)


def test_every_emitted_signal_is_declared_by_its_model() -> None:
    machines = tuple(
        machine(
            id=model,
            model=model,
            reliability=tuple(
                failure(c, 1.0, 5.0)
                for c in ("emergency_stop", "axis", "spindle", "tool_change", "hydraulic", "communication")
            ),
            jobs=(job(tool_life_parts=50),),
            warmup_minutes=5.0,
        )
        for model in ("haas_vf2", "dmg_nlx2500", "index_ix40")
    )
    _p, sink = ran(machines=machines, hours=24.0, operators=3)
    for model in ("haas_vf2", "dmg_nlx2500", "index_ix40"):
        emitted = {o.signal for o in sink.observations if o.machine == model}
        declared = set(spec_for(model).signals())
        assert emitted <= declared, emitted - declared
        assert {"execution", "part_count", "spindle_load", "cond_system", "x_pos"} <= emitted


def test_ix40_machine_reports_temperatures_and_resets_daily_counters_at_local_midnight() -> None:
    index = machine(id="G220", model="index_ix40", jobs=(job(setup_minutes=15.0),))
    everyday = ShiftDefinition(
        "Day", datetime(2026, 1, 1, 6).time(), datetime(2026, 1, 1, 14).time(), frozenset(range(7))
    )
    _p, sink = ran(machines=(index,), shifts=(everyday,), hours=30.0)
    assert sink.of("G220", "temp_hydraulic_oil")
    coolant = [o.value for o in sink.of("G220", "temp_coolant")]
    assert None in coolant  # switched off outside the shift: no reading
    assert all(15.0 < v < 60.0 for v in coolant if isinstance(v, float))
    midnight = local_to_epoch(datetime(2026, 3, 3, 0, 0), BERLIN)
    clamping = sink.of("G220", "counter_clamping")
    before = [o.value for o in clamping if o.time < midnight and isinstance(o.value, int)]
    after = [o.value for o in clamping if o.time >= midnight and isinstance(o.value, int)]
    assert max(before) > 100
    assert after[:2] == [0, 1]  # reported as 0 at power-on the next morning, then one per part
    # The operator's downtime-reason button 1 (setup) is pressed during the setup, and released after.
    assert [o.value for o in sink.of("G220", "bde1")][:3] == [False, True, False]
    assert sink.of("G220", "cycle_time_avg")


def test_events_for_one_machine_leave_the_others_alone() -> None:
    p, _ = ran(
        (machine(), machine(id="M2")),
        hours=1.0,
        operators=2,
        events=(EventConfig(T0 + 10 * MINUTE, "M1", "estop", duration_s=120.0),),
    )
    assert p.ledger_of("M1").alarms
    assert not p.ledger_of("M2").alarms
    assert {i.state for i in p.ledger_of("M2").intervals} == {MachineState.PRODUCING}


def test_unknown_machine_in_an_event_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="unknown machine 'M9'"):
        plant(events=(EventConfig(T0, "M9", "estop"),))


def test_duplicate_machine_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="repeated: M1"):
        plant((machine(), machine()))


def test_unknown_alarm_category_is_refused_with_its_name() -> None:
    bad = replace(machine(), reliability=(failure("coolant", 1.0, 1.0),))
    p, _ = plant((bad,))
    with pytest.raises(ValueError, match="unknown alarm category 'coolant'"):
        p.run()


def test_lathe_sub_spindle_turns_only_for_the_back_side_finish() -> None:
    lathe = machine(id="NLX", model="dmg_nlx2500")
    _, sink = ran(machines=(lathe,), hours=0.5)
    speeds = sink.of("NLX", "sub_spindle_speed")
    turning = [o for o in speeds if isinstance(o.value, float) and o.value > 0]
    assert turning
    comments = {o.time: o.value for o in sink.of("NLX", "program_comment")}
    assert all(comments.get(o.time) == "FINISH PASS" for o in turning)


def test_a_deferred_event_holds_back_no_other_event() -> None:
    lunch = day_shift(break_minutes=30)  # break 10:00-10:30 local
    estop_in_break = EventConfig(T0 + 4 * HOUR + 5 * MINUTE, "M1", "estop", duration_s=60.0)
    reject = EventConfig(T0 + 4 * HOUR + 6 * MINUTE, "M1", "operator_reject", count=1)
    p, _ = ran(shifts=(lunch,), events=(estop_in_break, reject))
    (alarm,) = p.ledger_of("M1").alarms
    assert alarm.onset == instant(T0 + 4.5 * HOUR)  # deferred to the end of the break, when work resumes
    (scrap,) = [part for part in p.ledger_of("M1").parts if not part.good]
    # The reject was decided during the break and applied to the first part after it.
    assert scrap.end == instant(T0 + 4.5 * HOUR + 60.0 + 60.0)


def test_setup_stops_at_the_shift_end_and_goes_on_next_shift() -> None:
    long_setup = job(setup_minutes=600.0)
    everyday = ShiftDefinition(
        "Day", datetime(2026, 1, 1, 6).time(), datetime(2026, 1, 1, 14).time(), frozenset(range(7))
    )
    spindle = (failure("spindle", 0.25, 5.0),)
    p, _ = ran(machines=(machine(jobs=(long_setup,), reliability=spindle),), shifts=(everyday,), hours=32.0)
    ledger = p.ledger_of("M1")
    shift_end = T0 + 8 * HOUR
    # A repair begun in the shift may overrun it, but no setup work or new alarm happens off-shift.
    assert states_at(p, "M1", shift_end + 2 * HOUR) is MachineState.NO_SHIFT
    assert not any(shift_end <= a.onset < T0 + 24 * HOUR for a in ledger.alarms)
    assert not any(
        i.state is MachineState.SETUP and i.end > shift_end and i.start < T0 + 24 * HOUR
        for i in ledger.intervals
    )
    setup_time = sum(i.duration for i in ledger.intervals if i.state is MachineState.SETUP)
    assert setup_time == pytest.approx(600 * MINUTE)
    (run,) = ledger.runs
    statuses = [status for _, status in run.events]
    assert statuses[:4] == ["setup", "paused", "setup", "running"]


def test_feed_hold_stops_motion_and_restores_the_reduced_override() -> None:
    slow = job(reduced_speed_probability=1.0, reduced_override_pct=80)
    at = T0 + 10 * MINUTE + 30
    _p, sink = ran(
        machines=(machine(jobs=(slow,), sample_interval_s=1.0),),
        hours=0.5,
        events=(EventConfig(at, "M1", "feed_hold", duration_s=120.0),),
    )
    moving = [o for o in sink.of("M1", "path_feedrate") if at < o.time < at + 120.0 and o.value != 0.0]
    assert not moving
    overrides = [(o.time, o.value) for o in sink.of("M1", "feed_override") if at <= o.time <= at + 120.0]
    assert overrides == [(instant(at), 0), (instant(at + 120.0), 80)]


def test_a_feed_hold_waits_for_the_machine_to_cut() -> None:
    setup_first = job(setup_minutes=10.0)
    at = T0 + 2 * MINUTE  # during the setup
    p, _ = ran(
        machines=(machine(jobs=(setup_first,)),),
        hours=0.5,
        events=(EventConfig(at, "M1", "feed_hold", duration_s=60.0),),
    )
    held = next(i for i in p.ledger_of("M1").intervals if i.state is MachineState.INTERRUPTED)
    assert held.start == instant(T0 + 10 * MINUTE)  # the first cut after the setup
    setup = p.ledger_of("M1").intervals[0]
    assert setup.duration == pytest.approx(10 * MINUTE)


def test_part_counters_both_restart_with_a_new_run() -> None:
    jobs = (job(planned_quantity=20, scrap_rate=0.3), job(job_number="J2", setup_minutes=1.0))
    p, sink = ran(machines=(machine(jobs=jobs),), hours=1.0, seed=5)
    assert p.ledger_of("M1").runs[0].scrap_parts > 0
    second_setup = p.ledger_of("M1").runs[1].events[0][0]
    at_setup = {o.signal: o.value for o in sink.observations if o.time == second_setup and o.machine == "M1"}
    assert (at_setup["part_count"], at_setup["part_count_bad"]) == (0, 0)


def test_truth_mid_run_leaves_the_ledger_intact() -> None:
    events = (EventConfig(T0 + 2 * HOUR, "M1", "estop", duration_s=300.0),)
    whole, _ = ran(events=events)
    stepped, _ = plant(events=events)
    stepped.advance(T0 + HOUR)
    early = stepped.truth()[0].kpis
    assert early.planned_s == pytest.approx(HOUR)
    stepped.run()
    assert [r.kpis for r in stepped.truth()] == [r.kpis for r in whole.truth()]
    intervals = stepped.ledger_of("M1").intervals
    assert all(a.end == b.start for a, b in itertools.pairwise(intervals))


def test_truth_does_not_depend_on_the_sampling_rate() -> None:
    reliable = (failure("spindle", 2.0, 10.0),)
    fast, _ = ran(machines=(machine(sample_interval_s=1.0, reliability=reliable),), seed=11)
    slow, _ = ran(machines=(machine(sample_interval_s=7.0, reliability=reliable),), seed=11)
    assert [r.kpis for r in fast.truth()] == [r.kpis for r in slow.truth()]


def test_an_alarm_code_already_active_is_not_raised_again() -> None:
    warning = EventConfig(T0 + 10 * MINUTE, "M1", "alarm", code="174", duration_s=600.0)
    again = EventConfig(T0 + 12 * MINUTE, "M1", "alarm", code="174", duration_s=60.0)
    p, sink = ran(hours=1.0, events=(warning, again))
    (alarm,) = p.ledger_of("M1").alarms
    assert (alarm.onset, alarm.clear) == (instant(T0 + 10 * MINUTE), instant(T0 + 20 * MINUTE))
    levels = [o.value.level for o in sink.of("M1", "cond_spindle") if isinstance(o.value, Condition)]
    assert levels == ["NORMAL", "WARNING", "NORMAL"]


def test_switching_off_clears_active_alarms_in_truth_and_on_the_wire() -> None:
    warning = EventConfig(T0 + 10 * MINUTE, "M1", "alarm", code="174", duration_s=3600.0)
    power = EventConfig(T0 + 20 * MINUTE, "M1", "power_off", duration_s=300.0)
    p, _ = ran(hours=1.0, events=(warning, power))
    (alarm,) = p.ledger_of("M1").alarms
    assert alarm.clear == instant(T0 + 20 * MINUTE)


def test_no_warmup_between_back_to_back_shifts_but_after_a_night_off() -> None:
    early = ShiftDefinition("Early", datetime(2026, 1, 1, 6).time(), datetime(2026, 1, 1, 14).time(), WEEK)
    late = ShiftDefinition("Late", datetime(2026, 1, 1, 14).time(), datetime(2026, 1, 1, 22).time(), WEEK)
    p, _ = ran(machines=(machine(warmup_minutes=10.0),), shifts=(early, late), hours=30.0)
    warmups = [i.start for i in p.ledger_of("M1").intervals if i.state is MachineState.WARMUP]
    assert warmups == [instant(T0), instant(T0 + 24 * HOUR)]


def test_a_power_off_outlasting_the_shift_keeps_the_machine_off_until_the_next() -> None:
    power = EventConfig(T0 + 7 * HOUR, "M1", "power_off", duration_s=2 * HOUR)
    p, sink = ran(hours=10.0, events=(power,))
    availability = [(o.time, o.value) for o in sink.of("M1", "availability")]
    assert availability[-1] == (instant(T0 + 7 * HOUR), "UNAVAILABLE")
    assert states_at(p, "M1", T0 + 9.5 * HOUR) is MachineState.NO_SHIFT
    assert not p.machines["M1"]._operating


def test_warmup_and_tool_changes_show_on_the_wire_as_non_production_modes() -> None:
    worn = job(tool_life_parts=5, tool_change_minutes=2.0)
    p, sink = ran(machines=(machine(jobs=(worn,), warmup_minutes=10.0),), hours=1.0)
    modes = [(o.time, o.value) for o in sink.of("M1", "functional_mode")]
    warmup = next(i for i in p.ledger_of("M1").intervals if i.state is MachineState.WARMUP)
    assert (instant(warmup.start), "PROCESS_DEVELOPMENT") in modes
    assert (instant(warmup.end), "PRODUCTION") in modes
    change = next(i for i in p.ledger_of("M1").intervals if i.detail == "tool_change")
    assert (instant(change.start), "SETUP") in modes
    assert (instant(change.end), "PRODUCTION") in modes
