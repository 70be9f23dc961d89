"""Clocks: virtual time as fast as the CPU allows, or real time with a speed factor; local <-> UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import simpy
import simpy.rt

__all__ = ["local_midnights", "local_to_epoch", "make_environment"]


def make_environment(*, realtime: bool = False, speed: float = 1.0) -> simpy.Environment:
    """Return a SimPy environment whose time unit is one second of twin time.

    Args:
        realtime: follow the wall clock (``RealtimeEnvironment``, not strict) instead of virtual time.
        speed: with ``realtime``, twin seconds per wall second (2.0 runs twice as fast as life).

    Raises:
        ValueError: ``speed`` is not positive.
    """
    if speed <= 0:
        raise ValueError(f"speed ({speed}) must be greater than 0")
    if realtime:
        return simpy.rt.RealtimeEnvironment(factor=1.0 / speed, strict=False)
    return simpy.Environment()


def local_to_epoch(local: datetime, tz: ZoneInfo) -> float:
    """Return the UTC epoch seconds of a naive local date-time in ``tz``.

    A time in the spring-forward gap resolves forward and an ambiguous one to its first occurrence.
    """
    if local.tzinfo is not None:
        raise ValueError(f"local date-time {local.isoformat()} must be naive (no UTC offset)")
    try:
        return local.replace(tzinfo=tz).astimezone(UTC).timestamp()
    except (OverflowError, ValueError) as exc:
        raise ValueError(f"local date-time {local.isoformat()} is out of the supported range") from exc


def local_midnights(start: float, end: float, tz: ZoneInfo) -> list[float]:
    """Return every local midnight in ``tz`` strictly after ``start`` and before ``end`` (UTC epoch s)."""
    day: date = datetime.fromtimestamp(start, tz).date() + timedelta(days=1)
    result: list[float] = []
    while True:
        t = local_to_epoch(datetime(day.year, day.month, day.day), tz)
        if t >= end:
            return result
        result.append(t)
        day += timedelta(days=1)
