"""Properties of the truth for random seeds and machine settings (hypothesis)."""

from __future__ import annotations

import itertools
from datetime import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.twin.builders import HOUR, MONDAY_0600, day_shift, failure, job, machine, ran
from twin.config import CycleModel, EventConfig
from twin.shift_calendar import ShiftDefinition
from twin.states import RUNNING

CATEGORIES = ("emergency_stop", "axis", "spindle", "tool_change", "hydraulic", "communication")


@st.composite
def machines(draw: st.DrawFn) -> tuple:  # type: ignore[type-arg]
    count = draw(st.integers(1, 3))
    result = []
    for n in range(count):
        cycle = CycleModel(
            mean_factor=draw(st.floats(0.9, 1.3)),
            cv=draw(st.floats(0.0, 0.2)),
            slow_probability=draw(st.floats(0.0, 0.2)),
            microstop_probability=draw(st.floats(0.0, 0.3)),
            microstop_mean_s=draw(st.floats(5.0, 300.0)),
            load_s=draw(st.floats(0.0, 20.0)),
        )
        jobs = tuple(
            job(
                job_number=f"J{n}{j}",
                planned_quantity=draw(st.integers(5, 400)),
                ideal_cycle_s=draw(st.floats(20.0, 400.0)),
                cycle=cycle,
                scrap_rate=draw(st.floats(0.0, 0.2)),
                setup_minutes=draw(st.floats(0.0, 45.0)),
                reduced_speed_probability=draw(st.floats(0.0, 0.5)),
                tool_life_parts=draw(st.integers(5, 500)),
            )
            for j in range(draw(st.integers(1, 3)))
        )
        reliability = tuple(
            failure(c, draw(st.floats(0.5, 20.0)), draw(st.floats(1.0, 60.0)))
            for c in draw(st.lists(st.sampled_from(CATEGORIES), unique=True, max_size=4))
        )
        model = draw(st.sampled_from(("haas_vf2", "dmg_nlx2500", "index_ix40")))
        result.append(
            machine(
                id=f"M{n}",
                model=model,
                jobs=jobs,
                reliability=reliability,
                warmup_minutes=draw(st.floats(0, 20)),
            )
        )
    return tuple(result)


NIGHT = ShiftDefinition("Night", time(22, 0), time(6, 0), frozenset(range(7)), break_minutes=30)


def _events(draw: st.DrawFn, machine_ids: list[str]) -> tuple[EventConfig, ...]:
    kinds = ("estop", "feed_hold", "operator_reject", "tool_change", "power_off")
    events = []
    for _ in range(draw(st.integers(0, 6))):
        events.append(
            EventConfig(
                at=MONDAY_0600 + draw(st.floats(0.0, 31.0)) * HOUR,
                machine=draw(st.sampled_from(machine_ids)),
                kind=draw(st.sampled_from(kinds)),
                duration_s=draw(st.floats(30.0, 3600.0)),
                count=draw(st.integers(1, 3)),
            )
        )
    return tuple(events)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
    fleet=machines(),
    break_minutes=st.sampled_from([0, 15, 30]),
)
def test_truth_invariants_hold_for_random_seeds(
    data: st.DataObject,
    seed: int,
    fleet: tuple,  # type: ignore[type-arg]
    break_minutes: int,
) -> None:
    events = _events(data.draw, [m.id for m in fleet])
    shifts = (day_shift(break_minutes=break_minutes), NIGHT)
    p, sink = ran(fleet, hours=32.0, shifts=shifts, seed=seed, operators=1, events=events)
    start, end = p.config.start, p.config.end
    results = p.truth()
    for ledger in p.ledger.machines.values():
        # The state intervals of each machine cover its period exactly, without gaps or overlaps.
        intervals = ledger.intervals
        assert intervals[0].start == start
        assert intervals[-1].end == end
        assert all(a.end == b.start for a, b in itertools.pairwise(intervals))
        assert all(i.end > i.start for i in intervals)
        # Every part was made in a running state, and the counter rose once per part.
        running = [(i.start, i.end) for i in intervals if i.state in RUNNING]
        for part in ledger.parts:
            assert any(s < part.end <= e + 1e-6 for s, e in running), part
        assert len(ledger.parts) == sum(r.good_parts + r.scrap_parts for r in ledger.runs)
        # Each part raises the counter by one; a reset (new job) or a power cycle's re-report is no part.
        rises, previous = 0, None
        for o in sink.of(ledger.machine_id, "part_count"):
            if isinstance(o.value, int):
                if previous is not None and o.value > previous:
                    assert o.value == previous + 1
                    rises += 1
                previous = o.value
        assert rises == len(ledger.parts)
        for alarm in ledger.alarms:
            assert alarm.clear is None or alarm.clear >= alarm.onset
    for result in results:
        k = result.kpis
        assert k.planned_s >= k.run_s - 1e-6
        assert k.downtime_s == pytest.approx(k.planned_s - k.run_s)
        if k.planned_s > 0:
            assert k.oee == pytest.approx(k.ideal_time_good_s / k.planned_s, abs=1e-12)
            assert k.availability is not None
            assert k.availability <= 1.0 + 1e-9
        if k.oee:
            assert None not in (k.availability, k.performance, k.quality)
        if None not in (k.availability, k.performance, k.quality):
            assert k.availability * k.performance * k.quality == pytest.approx(k.oee, abs=1e-9)  # type: ignore[operator]
    # Business days tile the period: their figures add up to the period's.
    for machine_id in p.ledger.machines:
        rows = [r for r in results if r.machine_id == machine_id]
        period = rows[0].kpis
        days = [r.kpis for r in rows if r.shift is None and r.business_date is not None]
        assert len(days) == 2
        assert sum(d.planned_s for d in days) == pytest.approx(period.planned_s)
        assert sum(d.run_s for d in days) == pytest.approx(period.run_s)
        assert sum(d.total_parts for d in days) == period.total_parts
        assert sum(d.alarms for d in days) == period.alarms
        run_s = sum(i.duration for i in p.ledger.machines[machine_id].intervals if i.state in RUNNING)
        assert period.run_s == pytest.approx(run_s)
