"""MachineTracker: observations in sequence order become state changes, parts, alarms, values and gaps;
duplicates change nothing; every time comes from the data."""

from __future__ import annotations

import random
from typing import TypeVar

import pytest

from mes_core.domain.alarms import AlarmCategory, Severity
from mes_core.domain.machine_state import SignalValues, derive_state
from mes_core.domain.signals import Signal
from mes_core.domain.states import MachineState
from mes_core.domain.tracker import (
    AlarmCleared,
    AlarmRaised,
    DataGap,
    Event,
    MachineTracker,
    PartsMade,
    StateChanged,
    ValueChanged,
)
from mes_core.ingest.mtconnect_xml import DataItemInfo, StreamObservation

T0 = 1_700_000_000.0
E = TypeVar("E")


def item(
    item_id: str,
    data_type: str,
    component: str,
    *,
    category: str = "EVENT",
    sub_type: str | None = None,
    name: str | None = None,
    units: str | None = None,
) -> DataItemInfo:
    return DataItemInfo(
        id=item_id,
        name=None,
        type=data_type,
        sub_type=sub_type,
        category=category,
        units=units,
        representation=None,
        component_type=component,
        component_name=name,
        component_id=None,
        device_name="mill",
        device_uuid="mill-1",
        reset_triggers=(),
    )


ITEMS = (
    item("avail", "AVAILABILITY", "Device"),
    item("sys", "SYSTEM", "Controller", category="CONDITION"),
    item("estop", "EMERGENCY_STOP", "Controller"),
    item("exec", "EXECUTION", "Path", name="path"),
    item("mode", "CONTROLLER_MODE", "Path", name="path"),
    item("pc", "PART_COUNT", "Path", sub_type="ALL", name="path"),
    item("pc_bad", "PART_COUNT", "Path", sub_type="BAD", name="path"),
    item("prog", "PROGRAM", "Path", sub_type="MAIN", name="path"),
    item("fovr", "PATH_FEEDRATE_OVERRIDE", "Path", sub_type="PROGRAMMED", name="path"),
    item("frt", "PATH_FEEDRATE", "Path", sub_type="ACTUAL", units="MILLIMETER/SECOND", name="path"),
    item("exec2", "EXECUTION", "Path", name="path2"),
    item("pc2", "PART_COUNT", "Path", sub_type="ALL", name="path2"),
    item("xpos", "POSITION", "Linear", sub_type="ACTUAL", name="X"),
    item("speed", "ROTARY_VELOCITY", "Rotary", sub_type="ACTUAL", name="S1"),
    item("s_cond", "SYSTEM", "Rotary", category="CONDITION", name="S1"),
    item("temp", "TEMPERATURE", "Controller", category="SAMPLE"),
)
"""A mill with a second path (whose items are secondary) and one item the MES does not read."""

_CATEGORY = {item.id: item.category for item in ITEMS}


class Feed:
    """Makes observations with increasing sequences (one second apart unless told)."""

    def __init__(self, start: int = 100) -> None:
        self.sequence = start

    def __call__(
        self,
        item_id: str,
        value: str | None,
        at: float | None = None,
        *,
        level: str | None = None,
        code: str | None = None,
        severity: str | None = None,
        reset: str | None = None,
        sequence: int | None = None,
    ) -> StreamObservation:
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        category = _CATEGORY[item_id]
        return StreamObservation(
            device_name="mill",
            device_uuid="mill-1",
            component_type="Path",
            component_name=None,
            data_item_id=item_id,
            name=None,
            sequence=sequence,
            timestamp=T0 + sequence if at is None else at,
            category=category,
            element="X",
            value=value,
            sub_type=None,
            reset_triggered=reset,
            level=level if category == "CONDITION" else None,
            condition_type=None,
            native_code=code,
            native_severity=severity,
            qualifier=None,
        )


def of(kind: type[E], events: list[Event]) -> list[E]:
    return [event for event in events if isinstance(event, kind)]


def states(events: list[Event]) -> list[tuple[MachineState, str | None]]:
    return [(e.state, e.detail) for e in events if isinstance(e, StateChanged)]


def running(feed: Feed, tracker: MachineTracker) -> list[Event]:
    """AVAILABLE and ACTIVE, as a bootstrap would start it."""
    return tracker.apply_all([feed("avail", "AVAILABLE"), feed("exec", "ACTIVE")], 1)


# -- idempotency ---------------------------------------------------------------------------------


def test_feeding_the_same_observations_twice_changes_nothing() -> None:
    feed, tracker = Feed(), MachineTracker(ITEMS)
    document = [
        feed("avail", "AVAILABLE"),
        feed("exec", "ACTIVE"),
        feed("pc", "5"),
        feed("pc", "7"),
        feed("sys", None, level="FAULT", code="E1"),
        feed("prog", "O100"),
    ]
    first = tracker.apply_all(document, 1)
    before = tracker.snapshot()
    assert of(PartsMade, first)
    assert of(AlarmRaised, first)
    assert tracker.apply_all(document, 1) == []
    assert tracker.apply_all(reversed(document), 1) == []
    assert tracker.snapshot() == before


def test_a_late_observation_at_or_below_the_last_sequence_of_its_instance_is_ignored() -> None:
    feed, tracker = Feed(), MachineTracker(ITEMS)
    tracker.apply(feed("pc", "1", sequence=10), 1)
    assert tracker.apply(feed("pc", "9", sequence=9), 1) == []
    assert tracker.apply(feed("pc", "3", sequence=10), 1) == []
    assert tracker.last_sequence(1) == 10


def test_a_new_agent_instance_numbers_from_scratch_and_the_old_one_is_still_remembered() -> None:
    feed, tracker = Feed(), MachineTracker(ITEMS)
    tracker.apply(feed("pc", "1", sequence=50), 1)
    made = tracker.apply(feed("pc", "4", sequence=3), 2)  # the restarted agent's sequence 3
    assert [(e.delta, e.instance_id, e.sequence) for e in made if isinstance(e, PartsMade)] == [(3, 2, 3)]
    assert tracker.apply(feed("pc", "9", sequence=40), 1) == []  # a late document of the old instance
    assert tracker.last_sequence(2) == 3


def test_observations_are_applied_in_sequence_order() -> None:
    feed, tracker = Feed(), MachineTracker(ITEMS)
    later, earlier = feed("pc", "10", sequence=6), feed("pc", "4", sequence=5)
    events = tracker.apply_all([later, earlier], 1)
    assert [(e.sequence, e.delta) for e in events if isinstance(e, PartsMade)] == [(6, 6)]


# -- parts ---------------------------------------------------------------------------------------


def test_part_counter_counts_increases_and_resets() -> None:
    """10 is the baseline; 11, 12 add one each; a repeated 12 and UNAVAILABLE add nothing; a drop to 0 is
    a reset; 3 adds three; a reading with resetTriggered counts whole."""
    feed, tracker = Feed(), MachineTracker(ITEMS)
    readings = [
        feed("pc", "10"),
        feed("pc", "11"),
        feed("pc", "12"),
        feed("pc", "12"),
        feed("pc", None),
        feed("pc", "0"),
        feed("pc", "3"),
        feed("pc", "2", reset="SHIFT"),
        feed("pc", "not a number"),
        feed("pc", "4.0"),
    ]
    made = [e for e in tracker.apply_all(readings, 1) if isinstance(e, PartsMade)]
    assert [(e.delta, e.sequence) for e in made] == [(1, 102), (1, 103), (3, 107), (2, 108), (2, 110)]
    assert {(e.kind, e.item_id, e.instance_id) for e in made} == {("total", "pc", 1)}
    assert made[0].at == T0 + 102
    assert tracker.snapshot()["parts"] == {"total": 9, "good": 0, "bad": 0}


def test_bad_parts_have_their_own_kind_and_a_second_paths_counter_is_not_counted() -> None:
    feed, tracker = Feed(), MachineTracker(ITEMS)
    readings = [feed("pc_bad", "0"), feed("pc_bad", "2"), feed("pc2", "0"), feed("pc2", "5")]
    made = [e for e in tracker.apply_all(readings, 1) if isinstance(e, PartsMade)]
    assert [(e.kind, e.delta, e.item_id) for e in made] == [("bad", 2, "pc_bad")]


# -- alarms --------------------------------------------------------------------------------------


def test_alarms_are_raised_and_cleared_by_native_code() -> None:
    feed, tracker = Feed(), MachineTracker(ITEMS)
    events = tracker.apply_all(
        [
            feed("sys", "SERVO ALARM", level="FAULT", code="SV0401"),
            feed("sys", "LOW AIR PRESSURE", level="WARNING", code="1020"),
            feed("sys", "SERVO ALARM", level="FAULT", code="SV0401"),  # the same alarm again
            feed("sys", None, level="NORMAL", code="SV0401"),
            feed("sys", None, level="NORMAL", code="9999"),  # not active: nothing to clear
        ],
        1,
    )
    assert events == [
        AlarmRaised(T0 + 101, "sys", "SV0401", "FAULT", AlarmCategory.AXIS, Severity.CRITICAL, "SERVO ALARM"),
        StateChanged(T0 + 101, MachineState.ALARM, "fault"),
        AlarmRaised(
            T0 + 102, "sys", "1020", "WARNING", AlarmCategory.HYDRAULIC, Severity.WARNING, "LOW AIR PRESSURE"
        ),
        AlarmCleared(T0 + 104, "sys", "SV0401"),
        StateChanged(T0 + 104, MachineState.NO_DATA, "execution_unavailable"),
    ]
    assert tracker.active_alarms == {"sys": ("1020",)}


def test_normal_without_a_code_or_unavailable_clears_every_alarm_of_the_item_only() -> None:
    feed, tracker = Feed(), MachineTracker(ITEMS)
    tracker.apply_all(
        [
            feed("sys", "A", level="FAULT", code="1"),
            feed("sys", "B", level="WARNING", code="2"),
            feed("s_cond", "SPINDLE OVERLOAD", level="WARNING", code="3"),
        ],
        1,
    )
    cleared = tracker.apply(feed("sys", None, level="NORMAL"), 1)
    assert {(e.item_id, e.native_code) for e in cleared if isinstance(e, AlarmCleared)} == {
        ("sys", "1"),
        ("sys", "2"),
    }
    assert tracker.active_alarms == {"s_cond": ("3",)}
    cleared = tracker.apply(feed("s_cond", None, level="UNAVAILABLE"), 1)
    assert [(e.item_id, e.native_code) for e in cleared if isinstance(e, AlarmCleared)] == [("s_cond", "3")]
    assert tracker.active_alarms == {}


def test_alarm_classification_uses_the_items_component_and_the_native_severity() -> None:
    feed, tracker = Feed(), MachineTracker(ITEMS)
    (raised,) = of(AlarmRaised, tracker.apply(feed("s_cond", "OVERLOAD", level="WARNING", code="7"), 1))
    assert raised.category is AlarmCategory.SPINDLE  # a Rotary named S1
    (raised,) = of(
        AlarmRaised, tracker.apply(feed("sys", "?", level="WARNING", code="8", severity="CRITICAL"), 1)
    )
    assert raised.severity is Severity.CRITICAL


def test_a_code_that_changes_level_is_cleared_and_raised_again() -> None:
    feed, tracker = Feed(), MachineTracker(ITEMS)
    tracker.apply(feed("sys", "HOT", level="WARNING", code="5"), 1)
    events = tracker.apply(feed("sys", "HOT", level="FAULT", code="5"), 1)
    assert [type(e).__name__ for e in events] == ["AlarmCleared", "AlarmRaised", "StateChanged"]
    assert isinstance(events[1], AlarmRaised)
    assert events[1].level == "FAULT"


# -- state ---------------------------------------------------------------------------------------


def test_state_follows_execution_active_feed_hold_ready_unavailable() -> None:
    feed, tracker = Feed(), MachineTracker(ITEMS)
    events = tracker.apply_all(
        [
            feed("avail", "AVAILABLE"),
            feed("exec", "ACTIVE"),
            feed("exec", "ACTIVE"),  # no change
            feed("exec", "FEED_HOLD"),
            feed("exec", "READY"),
            feed("exec", None),
            feed("avail", None),
        ],
        1,
    )
    assert states(events) == [
        (MachineState.NO_DATA, "execution_unavailable"),
        (MachineState.PRODUCING, None),
        (MachineState.INTERRUPTED, "feed_hold"),
        (MachineState.IDLE, "ready"),
        (MachineState.NO_DATA, "execution_unavailable"),
        (MachineState.OFF, "unavailable"),
    ]
    assert [e.at for e in events if isinstance(e, StateChanged)] == [
        T0 + s for s in (101, 102, 104, 105, 106, 107)
    ]


def test_faults_emergency_stop_override_and_mode_feed_the_state() -> None:
    feed, tracker = Feed(), MachineTracker(ITEMS)
    running(feed, tracker)
    steps = [
        (feed("fovr", "50"), (MachineState.REDUCED_SPEED, "feed_override")),
        (feed("fovr", "100"), (MachineState.PRODUCING, None)),
        (feed("mode", "MANUAL"), (MachineState.SETUP, "manual")),
        (feed("mode", "AUTOMATIC"), (MachineState.PRODUCING, None)),
        (feed("sys", "X", level="FAULT", code="1"), (MachineState.ALARM, "fault")),
        (feed("sys", None, level="NORMAL", code="1"), (MachineState.PRODUCING, None)),
        (feed("estop", "TRIGGERED"), (MachineState.ALARM, "emergency_stop")),
    ]
    for obs, expected in steps:
        assert states(tracker.apply(obs, 1)) == [expected]


def test_a_second_paths_execution_does_not_drive_the_state() -> None:
    feed, tracker = Feed(), MachineTracker(ITEMS)
    running(feed, tracker)
    assert tracker.apply(feed("exec2", "READY"), 1) == []
    assert tracker.state == (MachineState.PRODUCING, None)


def test_state_changes_never_go_back_in_time() -> None:
    """Adapters' timestamps may step back between items; the timeline stays ordered."""
    feed, tracker = Feed(), MachineTracker(ITEMS)
    running(feed, tracker)
    (change,) = of(StateChanged, tracker.apply(feed("exec", "READY", at=T0), 1))
    assert isinstance(change, StateChanged)
    assert change.at == T0 + 102


# -- values and snapshot -------------------------------------------------------------------------


def test_status_values_are_reported_when_they_change() -> None:
    feed, tracker = Feed(), MachineTracker(ITEMS)
    events = tracker.apply_all(
        [
            feed("prog", "O100"),
            feed("prog", "O100"),
            feed("prog", "O200"),
            feed("temp", "40"),
            feed("exec", "ACTIVE"),
        ],
        1,
    )
    assert of(ValueChanged, events) == [
        ValueChanged(T0 + 101, Signal.PROGRAM, "O100"),
        ValueChanged(T0 + 103, Signal.PROGRAM, "O200"),
    ]


def test_snapshot_holds_the_status_values_and_the_live_connection() -> None:
    feed, tracker = Feed(), MachineTracker(ITEMS)
    running(feed, tracker)
    tracker.apply_all(
        [
            feed("prog", "O145"),
            feed("speed", "8500"),
            feed("frt", "40"),
            feed("fovr", "100"),
            feed("xpos", "-45.23"),
            feed("sys", "LOW AIR", level="WARNING", code="1020"),
        ],
        1,
    )
    snapshot = tracker.snapshot()
    assert (snapshot["state"], snapshot["status"], snapshot["connected"]) == ("producing", "ACTIVE", True)
    assert snapshot["since"] == T0 + 102
    assert snapshot["program"]["name"] == "O145"
    assert snapshot["spindle"]["speed_rpm"] == 8500.0
    assert snapshot["feed"] == {"rate_mm_min": 2400.0, "override_pct": 100.0, "rapid_override_pct": None}
    assert snapshot["axes"] == {"x": -45.23, "y": None, "z": None}
    assert [(a["native_code"], a["level"]) for a in snapshot["alarms"]] == [("1020", "WARNING")]
    assert snapshot["last_updated"] == T0 + 108
    assert (snapshot["instance_id"], snapshot["sequence"]) == (1, 108)

    tracker.connection(False, T0 + 200)
    offline = tracker.snapshot()
    assert (offline["state"], offline["detail"], offline["status"]) == (
        "no_data",
        "agent_unreachable",
        "OFFLINE",
    )
    assert offline["offline_since"] == T0 + 200
    assert tracker.state == (MachineState.PRODUCING, None)  # the timeline waits for the data
    tracker.connection(True, T0 + 210)
    assert tracker.snapshot()["status"] == "ACTIVE"


def test_snapshot_reads_axes_from_a_path_position_when_there_are_no_linear_positions() -> None:
    items = (item("avail", "AVAILABILITY", "Device"), item("pp", "PATH_POSITION", "Path", category="SAMPLE"))
    tracker = MachineTracker(items)
    observation = Feed()("avail", "x")._replace(data_item_id="pp", value="1.5 -2 30")
    tracker.apply(observation, 1)
    assert tracker.snapshot()["axes"] == {"x": 1.5, "y": -2.0, "z": 30.0}


# -- gaps ----------------------------------------------------------------------------------------


def test_a_gap_is_no_data_from_its_start_and_the_derived_state_from_its_end() -> None:
    feed, tracker = Feed(), MachineTracker(ITEMS)
    running(feed, tracker)
    events = tracker.gap(T0 + 200, T0 + 260, "out_of_range")
    assert events == [
        DataGap(T0 + 200, T0 + 260, "out_of_range"),
        StateChanged(T0 + 200, MachineState.NO_DATA, "out_of_range"),
        StateChanged(T0 + 260, MachineState.PRODUCING, None),
    ]


def test_a_gap_applies_the_resuming_current_parts_and_alarms_at_their_times_and_the_state_at_its_end() -> (
    None
):
    """The /current after a loss: the part count jumped (the lost parts count), an alarm that is not
    listed any more cleared in the gap (cleared at the gap's start), a new one is raised, values already
    applied are skipped, and the state derived from it all starts at the end."""
    feed, tracker = Feed(), MachineTracker(ITEMS)
    before = [
        feed("avail", "AVAILABLE"),
        feed("exec", "ACTIVE"),
        feed("pc", "10"),
        feed("sys", "OLD", level="WARNING", code="1"),
        feed("sys", "KEPT", level="WARNING", code="2"),
    ]
    tracker.apply_all(before, 1)
    current = [
        before[0],  # unchanged, already applied
        before[4],  # still active, already applied
        feed("pc", "25", sequence=300),
        feed("sys", "NEW", level="FAULT", code="3", sequence=301),
        feed("exec", "READY", sequence=302),
    ]
    events = tracker.gap(T0 + 200, T0 + 400, "out_of_range", current, 1)
    assert events[:2] == [
        DataGap(T0 + 200, T0 + 400, "out_of_range"),
        StateChanged(T0 + 200, MachineState.NO_DATA, "out_of_range"),
    ]
    assert events[-1] == StateChanged(T0 + 400, MachineState.ALARM, "fault")
    assert len(of(StateChanged, events)) == 2
    assert [(e.delta, e.at) for e in events if isinstance(e, PartsMade)] == [(15, T0 + 300)]
    assert [(e.native_code, e.at) for e in events if isinstance(e, AlarmRaised)] == [("3", T0 + 301)]
    assert [(e.native_code, e.at) for e in events if isinstance(e, AlarmCleared)] == [("1", T0 + 200)]
    assert tracker.active_alarms == {"sys": ("2", "3")}
    assert tracker.gap(T0 + 200, T0 + 400, "out_of_range", current, 1)[2:] == [
        StateChanged(T0 + 400, MachineState.ALARM, "fault")
    ]


def test_a_gap_with_observations_but_no_known_instance_is_refused_and_changes_nothing() -> None:
    feed, tracker = Feed(), MachineTracker(ITEMS)
    with pytest.raises(ValueError, match="instance_id"):
        tracker.gap(T0, T0 + 5, "restart", [feed("exec", "ACTIVE")])
    assert tracker.state == (MachineState.NO_DATA, None)
    assert tracker.snapshot()["since"] is None


# -- fast paths: the same events as the plain rules ----------------------------------------------------

_CHOICES: dict[str, tuple[str | None, ...]] = {
    "avail": ("AVAILABLE", "AVAILABLE", None),
    "estop": ("ARMED", "ARMED", "ARMED", "TRIGGERED"),
    "exec": ("ACTIVE", "ACTIVE", "READY", "FEED_HOLD", None),
    "mode": ("AUTOMATIC", "AUTOMATIC", "MANUAL"),
    "prog": ("O1", "O2"),
    "fovr": ("100", "100", "50", "0"),
    "exec2": ("ACTIVE", "READY"),
}


def random_documents(seed: int, count: int = 60) -> list[list[StreamObservation]]:
    """Documents of random observations of every kind (states, counts with resets, conditions, samples),
    some repeated (a retried poll), some from a second instance of the agent."""
    rng = random.Random(seed)
    feed = Feed()
    counts = {"pc": 0, "pc_bad": 0, "pc2": 0}
    documents: list[list[StreamObservation]] = []
    for _ in range(count):
        document = []
        for _ in range(rng.randint(1, 12)):
            item_id = rng.choice([i.id for i in ITEMS])
            if item_id in _CHOICES:
                document.append(feed(item_id, rng.choice(_CHOICES[item_id])))
            elif item_id in counts:
                reset = rng.random() < 0.1
                counts[item_id] = 0 if reset else counts[item_id] + rng.randint(0, 2)
                document.append(feed(item_id, str(counts[item_id]), reset="SHIFT" if reset else None))
            elif item_id in ("sys", "s_cond"):
                level = rng.choice(("NORMAL", "WARNING", "FAULT", "FAULT", "UNAVAILABLE"))
                code = None if level == "UNAVAILABLE" or rng.random() < 0.3 else rng.choice(("E1", "E2"))
                document.append(feed(item_id, f"text {code}", level=level, code=code))
            else:
                document.append(feed(item_id, f"{rng.uniform(0, 500):.3f}"))
        documents.append(document)
        if rng.random() < 0.15:
            documents.append(list(document))
    return documents


def _state_of_snapshot(snapshot: dict[str, object]) -> tuple[MachineState, str | None]:
    """The state the plain rule gives from the values a snapshot shows (``derive_state`` on every one)."""
    values = snapshot["values"]
    assert isinstance(values, dict)

    def text(signal: Signal) -> str | None:
        if signal.value not in values:
            return None
        value = values[signal.value]
        return "UNAVAILABLE" if value is None else str(value)

    alarms = snapshot["alarms"]
    assert isinstance(alarms, list)
    override = values.get(Signal.FEED_OVERRIDE.value)
    return derive_state(
        SignalValues(
            availability=text(Signal.AVAILABILITY),
            execution=text(Signal.EXECUTION),
            controller_mode=text(Signal.CONTROLLER_MODE),
            functional_mode=text(Signal.FUNCTIONAL_MODE),
            emergency_stop=text(Signal.EMERGENCY_STOP),
            active_faults=sum(1 for alarm in alarms if alarm["level"] == "FAULT"),
            feed_override=None if override is None else float(override),
        )
    )


@pytest.mark.parametrize("seed", range(8))
def test_the_state_is_always_the_one_the_latest_values_give(seed: int) -> None:
    """The state is derived again only when a state signal or an alarm changed; it is still, after every
    document, exactly what deriving it from all the latest values gives."""
    tracker = MachineTracker(ITEMS)
    for document in random_documents(seed):
        tracker.apply_all(document, 1)
        assert tracker.state == _state_of_snapshot(tracker.snapshot())


@pytest.mark.parametrize("seed", range(8))
def test_apply_all_gives_what_applying_one_by_one_gives(seed: int) -> None:
    """A document's watermark moves once, at its end: the events, the watermarks and the snapshot are the
    same as applying its observations one at a time (duplicates and a second agent instance included)."""
    whole, single = MachineTracker(ITEMS), MachineTracker(ITEMS)
    for n, document in enumerate(random_documents(seed)):
        instance = 1 if n % 7 else 2
        by_one = [e for o in sorted(document, key=lambda o: o.sequence) for e in single.apply(o, instance)]
        assert whole.apply_all(document, instance) == by_one
        assert whole.last_sequence(instance) == single.last_sequence(instance)
    assert whole.snapshot() == single.snapshot()


@pytest.mark.parametrize("seed", range(4))
def test_without_value_reports_the_other_events_are_the_same(seed: int) -> None:
    """``report_values=False`` leaves out the ValueChanged events (a sample that moves reports nothing)
    and changes nothing else."""
    reporting, quiet = MachineTracker(ITEMS), MachineTracker(ITEMS, report_values=False)
    seen_values = 0
    for document in random_documents(seed):
        events = reporting.apply_all(document, 1)
        seen_values += len(of(ValueChanged, events))
        assert quiet.apply_all(document, 1) == [e for e in events if not isinstance(e, ValueChanged)]
    assert seen_values > 0
    assert quiet.snapshot() == reporting.snapshot()
