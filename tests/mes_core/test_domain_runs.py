"""mes_core.domain.runs: the production-run lifecycle and the time spent in each of its phases."""

from __future__ import annotations

import itertools

import pytest

from mes_core.domain.runs import (
    IllegalTransition,
    RunPhase,
    RunStatus,
    phase_durations,
    phases_from_events,
    run_window_spans,
    transition,
)

S, R, P, C, A = (RunStatus.SETUP, RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.COMPLETED, RunStatus.ABORTED)
LEGAL = {(S, R), (S, P), (S, A), (R, P), (R, C), (R, A), (P, S), (P, R), (P, C), (P, A)}


def test_status_values_are_the_seeds() -> None:
    assert [s.value for s in RunStatus] == ["setup", "running", "paused", "completed", "aborted"]


@pytest.mark.parametrize(("current", "requested"), sorted(LEGAL))
def test_legal_steps_return_the_requested_status(current: RunStatus, requested: RunStatus) -> None:
    assert transition(current, requested) is requested


@pytest.mark.parametrize(
    ("current", "requested"), [pair for pair in itertools.product(RunStatus, repeat=2) if pair not in LEGAL]
)
def test_every_other_step_is_illegal(current: RunStatus, requested: RunStatus) -> None:
    with pytest.raises(IllegalTransition) as raised:
        transition(current, requested)
    assert (raised.value.current, raised.value.requested) == (current, requested)


def test_nothing_leaves_a_finished_run_and_the_message_names_both_statuses() -> None:
    for finished, requested in itertools.product((C, A), RunStatus):
        with pytest.raises(IllegalTransition, match=f"run is {finished}; it cannot become {requested}"):
            transition(finished, requested)


def test_an_illegal_transition_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="run is setup; it cannot become completed"):
        transition(S, C)


def test_setup_time_is_kept_apart_from_production_time() -> None:
    phases = phases_from_events([(0, S), (600, R), (1000, P), (1100, R), (2000, C)])
    assert phase_durations(phases, now=5000) == {S: 600, R: 1300, P: 100}


def test_an_open_phase_ends_now() -> None:
    phases = phases_from_events([(0, S), (600, R)])
    assert phases[-1] == RunPhase(R, 600, None)
    assert phase_durations(phases, now=700) == {S: 600, R: 100, P: 0}


def test_an_open_phase_lasts_nothing_when_now_is_before_its_start() -> None:
    assert phase_durations([RunPhase(R, 100, None)], now=90)[R] == 0


def test_phases_from_events_checks_each_step() -> None:
    with pytest.raises(IllegalTransition, match="run is completed; it cannot become running"):
        phases_from_events([(0, S), (10, R), (20, C), (30, R)])
    with pytest.raises(ValueError, match="starts in setup or running, not paused"):
        phases_from_events([(0, P)])
    with pytest.raises(ValueError, match="before"):
        phases_from_events([(10, S), (5, R)])


def test_a_run_may_start_running_without_setup() -> None:
    assert phase_durations(phases_from_events([(0, R), (50, C)]), now=99) == {S: 0, R: 50, P: 0}


def test_a_closed_phase_ending_before_it_starts_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"running phase ends \(5\) before it starts \(10\)"):
        phase_durations([RunPhase(R, 10, 5)], now=20)


def test_window_spans_of_a_status_merge_adjacent_phases_and_end_open_ones_now() -> None:
    phases = phases_from_events([(0, S), (600, R), (1000, P), (1100, R)])
    assert run_window_spans(phases, 1500, R) == [(600, 1000), (1100, 1500)]
    assert run_window_spans(phases, 1500, P) == [(1000, 1100)]
    assert run_window_spans(phases, 1500, C) == []
    touching = [RunPhase(R, 0, 10), RunPhase(R, 10, 20)]
    assert run_window_spans(touching, 30, R) == [(0, 20)]
