"""mes_core.domain.counters: part counters as deltas with reset detection; idempotency keys."""

from __future__ import annotations

import pytest

from mes_core.domain.counters import PartCounter, observation_key


def _feed(counter: PartCounter, *readings: int | tuple[int, str]) -> list[int]:
    added = []
    for t, reading in enumerate(readings):
        if isinstance(reading, tuple):
            added.append(counter.update(reading[0], float(t), reset_triggered=reading[1]))
        else:
            added.append(counter.update(reading, float(t)))
    return added


def test_the_first_reading_is_a_baseline() -> None:
    counter = PartCounter()
    assert counter.value is None
    assert counter.update(312, 10.0) == 0
    assert counter.value == 312
    assert counter.last_timestamp == 10.0
    assert counter.total == 0


def test_increases_add_their_difference_and_repeats_add_nothing() -> None:
    counter = PartCounter()
    assert _feed(counter, 10, 11, 12, 12, 12, 15) == [0, 1, 1, 0, 0, 3]
    assert counter.total == 5
    assert counter.last_reset is None


def test_a_decrease_is_a_reset_and_the_new_value_counts() -> None:
    counter = PartCounter()
    assert _feed(counter, 10, 11, 0, 1, 2) == [0, 1, 0, 1, 1]
    assert counter.last_reset == 2.0
    assert _feed(PartCounter(), 500, 502, 3) == [0, 2, 3]  # reset, then 3 parts before the next reading


def test_a_reset_triggered_reading_counts_its_value_even_without_a_decrease() -> None:
    counter = PartCounter()
    assert _feed(counter, 5, (7, "SHIFT"), 8) == [0, 7, 1]
    assert counter.last_reset == 1.0
    assert _feed(PartCounter(), 5, (0, "POWER_ON"), (0, "POWER_ON")) == [0, 0, 0]


def test_a_reset_triggered_first_reading_is_still_a_baseline() -> None:
    assert _feed(PartCounter(), (4, "DAY"), 5) == [0, 1]


def test_the_twins_changeover_reset_adds_nothing() -> None:
    """The twin zeroes its counters at a changeover; the MES sees a decrease to 0 and adds 0."""
    assert _feed(PartCounter(), 0, 1, 2, 3, 0, 1) == [0, 1, 1, 1, 0, 1]


@pytest.mark.parametrize("value", [-1, 1.5, 2.0, "3", None, True])
def test_a_value_that_is_no_count_is_refused_by_value(value: object) -> None:
    counter = PartCounter()
    counter.update(1, 0.0)
    with pytest.raises(ValueError, match=repr(value).replace("(", r"\(").replace(".", r"\.")):
        counter.update(value, 1.0)  # type: ignore[arg-type]
    assert counter.value == 1  # a refused reading changes nothing


@pytest.mark.parametrize("timestamp", [float("nan"), float("inf"), "now", None])
def test_a_timestamp_that_is_no_finite_number_is_refused(timestamp: object) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        PartCounter().update(1, timestamp)  # type: ignore[arg-type]


def test_observation_key_identifies_an_observation() -> None:
    key = observation_key("uuid-1", "pc", 1234, 1700000000)
    assert key == ("uuid-1", "pc", 1234, 1700000000)
    assert key == observation_key("uuid-1", "pc", 1234, 1700000000)
    assert key != observation_key("uuid-1", "pc", 1234, 1700000001)  # the agent restarted
    assert hash(key) == hash(observation_key("uuid-1", "pc", 1234, 1700000000))


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("", "pc", 1, 1), "device uuid"),
        (("u", "", 1, 1), "data item id"),
        (("u", "pc", -1, 1), "sequence -1"),
        (("u", "pc", 1, "x"), "instance id 'x'"),
        (("u", "pc", True, 1), "sequence True"),
    ],
)
def test_observation_key_refuses_bad_parts(args: tuple[object, ...], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        observation_key(*args)  # type: ignore[arg-type]
