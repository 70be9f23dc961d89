"""mes_core.domain.cycles: cycle times from part-count increments, and their statistics."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mes_core.domain.cycles import SLOW_FACTOR, cycle_stats, cycle_times, percentile, running_average


def test_a_cycle_is_the_time_between_increments_the_first_from_the_run_start() -> None:
    assert cycle_times([(40, 1), (85, 1), (125, 1)], started=0) == [40, 45, 40]


def test_without_a_start_the_first_increment_only_opens_a_cycle() -> None:
    assert cycle_times([(40, 1), (85, 1), (125, 1)], started=None) == [45, 40]
    assert cycle_times([], started=None) == []


def test_an_increment_of_several_parts_gives_equal_cycles() -> None:
    assert cycle_times([(30, 1), (90, 3)], started=0) == [30, 20, 20, 20]


def test_increments_at_the_same_instant_are_one_increment() -> None:
    assert cycle_times([(30, 1), (90, 1), (90, 1)], started=0) == [30, 30, 30]


def test_excluded_time_is_not_part_of_a_cycle() -> None:
    # Overlapping spans count once; spans after the last part count nothing.
    pauses = [(50, 70), (60, 80), (200, 300)]
    assert cycle_times([(40, 1), (100, 1)], started=0, excluded=pauses) == [40, 30]


def test_bad_increments_are_rejected() -> None:
    with pytest.raises(ValueError, match="has 0 parts"):
        cycle_times([(10, 0)], started=0)
    with pytest.raises(ValueError, match="increment at 5 comes before the previous instant 10"):
        cycle_times([(10, 1), (5, 1)], started=0)
    with pytest.raises(ValueError, match="before"):
        cycle_times([(5, 1)], started=10)


@given(st.lists(st.tuples(st.floats(0, 1000), st.integers(1, 5)), max_size=30), st.floats(0, 50))
def test_cycles_add_up_to_the_time_from_start_to_the_last_part(
    raw: list[tuple[float, int]], lead: float
) -> None:
    increments = sorted(raw)
    times = cycle_times(increments, started=-lead)
    assert len(times) == sum(n for _, n in increments)
    if increments:
        assert sum(times) == pytest.approx(increments[-1][0] + lead)


def test_stats_of_known_times() -> None:
    s = cycle_stats([10, 20, 30, 40, 50], bins=4)
    assert (s.count, s.mean_s, s.min_s, s.max_s) == (5, 30, 10, 50)
    assert s.stdev_s == pytest.approx(statistics.pstdev([10, 20, 30, 40, 50]))
    assert s.p50_s == 30
    assert s.p90_s == pytest.approx(46)
    assert s.histogram == ((10, 20, 1), (20, 30, 1), (30, 40, 1), (40, 50, 2))
    assert s.slow_cycles is None


@given(st.lists(st.floats(0, 1e5), min_size=1, max_size=50), st.floats(0, 1))
def test_percentiles_interpolate_linearly_like_statistics_inclusive(times: list[float], q: float) -> None:
    ordered = sorted(times)
    assert ordered[0] <= percentile(ordered, q) <= ordered[-1]
    if len(times) >= 2:
        quartiles = statistics.quantiles(times, n=4, method="inclusive")
        for got, want in zip((percentile(ordered, x) for x in (0.25, 0.5, 0.75)), quartiles, strict=True):
            assert got == pytest.approx(want, rel=1e-9, abs=1e-9)


@given(st.lists(st.floats(0, 1e4), min_size=1, max_size=60), st.integers(1, 30))
def test_histogram_bins_span_min_to_max_and_hold_every_cycle(times: list[float], bins: int) -> None:
    h = cycle_stats(times, bins=bins).histogram
    assert h[0][0] == min(times)
    assert h[-1][1] == max(times)
    assert sum(count for _, _, count in h) == len(times)
    assert len(h) == (1 if min(times) == max(times) else bins)


def test_slow_cycles_are_those_above_one_and_a_half_ideal_times() -> None:
    assert SLOW_FACTOR == 1.5
    assert cycle_stats([10, 15, 15.1, 40], ideal_s=10).slow_cycles == 2


def test_no_cycles_give_none_everywhere() -> None:
    s = cycle_stats([])
    assert s.count == 0
    assert (s.mean_s, s.min_s, s.max_s, s.stdev_s, s.p50_s, s.p90_s, s.p95_s, s.p99_s) == (None,) * 8
    assert s.histogram == ()
    assert cycle_stats([], ideal_s=10).slow_cycles == 0


def test_bad_stats_input_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"bins \(0\)"):
        cycle_stats([1.0], bins=0)
    with pytest.raises(ValueError, match=r"cycle time \(-1.0\)"):
        cycle_stats([-1.0])
    with pytest.raises(ValueError, match=r"ideal cycle time \(0\)"):
        cycle_stats([1.0], ideal_s=0)
    with pytest.raises(ValueError, match=r"quantile \(2\)"):
        percentile([1.0], 2)


def test_running_average_is_the_mean_so_far_or_over_a_window() -> None:
    assert running_average([10, 20, 30, 40]) == [10, 15, 20, 25]
    assert running_average([10, 20, 30, 40], window=2) == [10, 15, 25, 35]
    assert running_average([]) == []
    with pytest.raises(ValueError, match=r"window \(0\)"):
        running_average([1.0], window=0)
