"""Observation timestamps: the fast formatter writes what ``datetime`` writes, to the microsecond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_sim.shdr import decode_line
from agent_sim.timestamps import utc_formatter

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _reference(epoch: float) -> str:
    moment = _EPOCH + timedelta(microseconds=round(epoch * 1_000_000))
    return f"{moment.year:04d}-{moment.strftime('%m-%dT%H:%M:%S.%f')}Z"  # ISO 8601: four-digit years


@given(st.floats(min_value=-62_135_596_800.0, max_value=253_402_300_799.0, allow_nan=False))
def test_the_formatter_writes_what_datetime_writes(epoch: float) -> None:
    fmt = utc_formatter()
    assert fmt(epoch) == _reference(epoch)
    assert fmt(epoch) == _reference(epoch)  # the remembered instant


def test_rounding_carries_into_the_next_second_day_and_year() -> None:
    fmt = utc_formatter()
    assert fmt(1_767_225_599.9999996) == "2026-01-01T00:00:00.000000Z"
    assert fmt(-0.25) == "1969-12-31T23:59:59.750000Z"
    assert fmt(0.0) == "1970-01-01T00:00:00.000000Z"


@pytest.mark.parametrize("epoch", [float("nan"), float("inf"), -1e12, 1e12])
def test_an_instant_outside_years_1_to_9999_is_refused(epoch: float) -> None:
    with pytest.raises(ValueError, match="epoch"):
        utc_formatter()(epoch)


@given(st.floats(min_value=0.0, max_value=4_102_444_800.0, allow_nan=False))
def test_an_adapters_timestamp_reads_back_to_the_instant_written(epoch: float) -> None:
    """The decoder's shortcut for the form adapters write agrees with its full reading (the second time
    the same second is read, it comes from the shortcut)."""
    text = utc_formatter()(epoch)
    first = decode_line(f"{text}|exec|ACTIVE")
    again = decode_line(f"{text}|exec|ACTIVE")
    micros = round(epoch * 1_000_000)
    for line in (first, again):
        assert round(line.timestamp.epoch * 1_000_000) == micros  # type: ignore[union-attr]
