"""Shift definitions in local wall-clock time, resolved into UTC shift instances and business days."""

from __future__ import annotations

import datetime
import itertools
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

__all__ = [
    "BreakDefinition",
    "ShiftCalendar",
    "ShiftDefinition",
    "ShiftInstance",
    "Window",
]

_DAY_SECONDS = 86_400
_ONE_DAY = datetime.timedelta(days=1)
_MIDNIGHT = datetime.time(0, 0)


@dataclass(frozen=True, slots=True)
class BreakDefinition:
    """A planned break inside a shift, given by its local wall-clock start and its elapsed length."""

    start: datetime.time
    minutes: int


@dataclass(frozen=True, slots=True)
class ShiftDefinition:
    """A recurring shift in local wall-clock time.

    ``end <= start`` means the shift ends on the next day; ``end == start`` means a 24 h shift. ``days``
    holds the weekdays (0=Monday .. 6=Sunday) on which the shift starts. When ``breaks`` is empty,
    ``break_minutes`` places one break starting at the shift's elapsed midpoint; when ``breaks`` is
    given, ``break_minutes`` must be 0 or equal their total.
    """

    name: str
    start: datetime.time
    end: datetime.time
    days: frozenset[int]
    break_minutes: int = 0
    breaks: tuple[BreakDefinition, ...] = ()


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open span ``[start, end)`` of UTC epoch seconds."""

    start: float
    end: float

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"window end {self.end!r} is before its start {self.start!r}")

    @property
    def duration(self) -> float:
        """Returns the window's length in seconds."""
        return self.end - self.start

    def overlap(self, start: float, end: float) -> float:
        """Measures how much of ``[start, end)`` lies inside this window.

        Args:
            start: UTC epoch seconds, inclusive.
            end: UTC epoch seconds, exclusive.

        Returns:
            The overlapping seconds; 0.0 when the spans are disjoint or ``end <= start``.
        """
        return max(0.0, min(end, self.end) - max(start, self.start))


@dataclass(frozen=True, slots=True)
class ShiftInstance:
    """One occurrence of a shift, in UTC epoch seconds, with its breaks."""

    name: str
    business_date: datetime.date
    start: float
    end: float
    breaks: tuple[Window, ...]

    @property
    def window(self) -> Window:
        """Returns the instance's span ``[start, end)``."""
        return Window(self.start, self.end)

    @property
    def planned_seconds(self) -> float:
        """Returns the elapsed seconds of the instance minus its breaks."""
        return (self.end - self.start) - sum(b.duration for b in self.breaks)

    def in_break(self, t: float) -> Window | None:
        """Finds the break containing the instant ``t``.

        Args:
            t: UTC epoch seconds.

        Returns:
            The break window with ``start <= t < end``, or None when ``t`` is in no break.
        """
        for b in self.breaks:
            if b.start <= t < b.end:
                return b
        return None


@dataclass(frozen=True, slots=True)
class _Break:
    """A validated break: wall-clock start, whether it falls on the day after the shift starts, length."""

    start: datetime.time
    next_day: bool
    seconds: int


@dataclass(frozen=True, slots=True)
class _Shift:
    """A validated shift definition, with its breaks resolved to the day they fall on."""

    name: str
    start: datetime.time
    end: datetime.time
    days: frozenset[int]
    overnight: bool
    midpoint_break_seconds: int
    breaks: tuple[_Break, ...]


def _wall_seconds(t: datetime.time) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1_000_000


def _check_naive(t: object, what: str) -> datetime.time:
    if not isinstance(t, datetime.time):
        raise ValueError(f"{what} must be a datetime.time, got {t!r}")
    if t.tzinfo is not None:
        raise ValueError(f"{what} must be a local wall-clock time without tzinfo, got {t.isoformat()}")
    # Ambiguous wall times always resolve to their first occurrence, so a caller's fold=1 is dropped.
    return t.replace(fold=0)


def _compile_shift(shift: ShiftDefinition) -> _Shift:
    name = shift.name
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"shift name must be a non-empty string, got {name!r}")
    start = _check_naive(shift.start, f"start of shift {name!r}")
    end = _check_naive(shift.end, f"end of shift {name!r}")
    days = shift.days
    if not days:
        raise ValueError(f"shift {name!r} has no days; give at least one weekday 0..6")
    bad_days = sorted(
        (d for d in days if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 6), key=repr
    )
    if bad_days:
        raise ValueError(f"shift {name!r} has days {bad_days!r} outside 0 (Monday) .. 6 (Sunday)")

    overnight = end <= start
    span = (_wall_seconds(end) - _wall_seconds(start)) % _DAY_SECONDS or _DAY_SECONDS
    span_text = f"{start.isoformat()}–{end.isoformat()}"

    if isinstance(shift.break_minutes, bool) or not isinstance(shift.break_minutes, int):
        raise ValueError(f"break_minutes of shift {name!r} must be an int, got {shift.break_minutes!r}")
    if shift.break_minutes < 0:
        raise ValueError(f"break_minutes of shift {name!r} must be >= 0, got {shift.break_minutes}")

    placed: list[tuple[float, BreakDefinition, _Break]] = []
    for brk in shift.breaks:
        b_start = _check_naive(brk.start, f"break start in shift {name!r}")
        if isinstance(brk.minutes, bool) or not isinstance(brk.minutes, int) or brk.minutes <= 0:
            raise ValueError(
                f"break at {b_start.isoformat()} of shift {name!r} must last > 0 whole minutes, "
                f"got {brk.minutes!r}"
            )
        offset = (_wall_seconds(b_start) - _wall_seconds(start)) % _DAY_SECONDS
        if offset + brk.minutes * 60 > span:
            raise ValueError(
                f"break at {b_start.isoformat()} ({brk.minutes} min) of shift {name!r} is outside "
                f"the shift's span {span_text}"
            )
        # Validation above guarantees only an overnight shift can hold a break that starts before it.
        placed.append((offset, brk, _Break(b_start, b_start < start, brk.minutes * 60)))

    placed.sort(key=lambda p: p[0])
    for (off_a, def_a, _), (off_b, def_b, _) in itertools.pairwise(placed):
        if off_a + def_a.minutes * 60 > off_b:
            raise ValueError(
                f"break at {def_b.start.isoformat()} of shift {name!r} overlaps the break at "
                f"{def_a.start.isoformat()} ({def_a.minutes} min)"
            )

    midpoint_seconds = 0
    if placed:
        total = sum(p[1].minutes for p in placed)
        if shift.break_minutes not in (0, total):
            raise ValueError(
                f"break_minutes {shift.break_minutes} of shift {name!r} does not match the total "
                f"{total} min of its explicit breaks; give 0 or {total}"
            )
    elif shift.break_minutes:
        midpoint_seconds = shift.break_minutes * 60
        if midpoint_seconds > span / 2:
            raise ValueError(
                f"break_minutes {shift.break_minutes} of shift {name!r} does not fit between the "
                f"shift's midpoint and its end ({span_text})"
            )

    return _Shift(
        name=name,
        start=start,
        end=end,
        days=frozenset(days),
        overnight=overnight,
        midpoint_break_seconds=midpoint_seconds,
        breaks=tuple(p[2] for p in placed),
    )


def _check_instant(t: float, what: str) -> float:
    if isinstance(t, bool) or not isinstance(t, numbers.Real) or not math.isfinite(t):
        raise ValueError(f"{what} must be finite UTC epoch seconds, got {t!r}")
    return float(t)


def _merge(windows: list[Window]) -> tuple[Window, ...]:
    # DST can push two wall-clock-disjoint breaks onto the same elapsed seconds; count that time once.
    merged: list[Window] = []
    for w in sorted(windows, key=lambda w: (w.start, w.end)):
        if merged and w.start < merged[-1].end:
            last = merged.pop()
            merged.append(Window(last.start, max(last.end, w.end)))
        else:
            merged.append(w)
    return tuple(merged)


class ShiftCalendar:
    """Turns wall-clock shift definitions into UTC shift instances and business days for one time zone.

    Local wall times become UTC with ``fold=0``: a time inside a spring-forward gap resolves forward by
    the gap's length (02:30 in the Europe/Berlin gap is 03:30 CEST), and an ambiguous autumn time
    resolves to its first occurrence. All durations are elapsed UTC seconds.
    """

    __slots__ = ("_day_start", "_shifts", "_tz")

    def __init__(
        self,
        shifts: Sequence[ShiftDefinition],
        tz: ZoneInfo,
        day_start: datetime.time | None = None,
    ) -> None:
        """Validates the shift definitions.

        Args:
            shifts: The shift definitions.
            tz: The zone the wall-clock times are given in.
            day_start: The local time at which a business day begins; defaults to the earliest shift
                start, or 00:00 when there are no shifts.

        Raises:
            ValueError: If a name is empty or repeated, a shift has no days or a day outside 0..6, a
                break is not > 0 minutes, lies outside its shift or overlaps another break,
                ``break_minutes`` contradicts the explicit breaks, a time carries tzinfo, or
                ``day_start`` is later than a shift's start (that shift would start before its own
                business day begins, so it could not belong to the date it starts on).
        """
        if not isinstance(tz, datetime.tzinfo):
            raise ValueError(f"tz must be a zoneinfo.ZoneInfo, got {tz!r}")
        compiled: list[_Shift] = []
        seen: set[str] = set()
        for shift in shifts:
            c = _compile_shift(shift)
            if c.name in seen:
                raise ValueError(f"shift name {c.name!r} is defined more than once")
            seen.add(c.name)
            compiled.append(c)

        if day_start is None:
            resolved = min((c.start for c in compiled), default=_MIDNIGHT)
        else:
            resolved = _check_naive(day_start, "day_start")
            for c in compiled:
                if c.start < resolved:
                    raise ValueError(
                        f"day_start {resolved.isoformat()} is later than the start "
                        f"{c.start.isoformat()} of shift {c.name!r}; a shift must not start before "
                        f"its business day begins"
                    )
        self._tz = tz
        self._day_start = resolved
        self._shifts = tuple(compiled)

    @property
    def tz(self) -> ZoneInfo:
        """Returns the calendar's time zone."""
        return self._tz

    @property
    def day_start(self) -> datetime.time:
        """Returns the local time at which each business day begins."""
        return self._day_start

    def _utc(self, d: datetime.date, t: datetime.time) -> float:
        return datetime.datetime.combine(d, t, tzinfo=self._tz).timestamp()

    def _local_date(self, t: float) -> datetime.date:
        try:
            return datetime.datetime.fromtimestamp(t, self._tz).date()
        except (OverflowError, OSError) as exc:
            raise ValueError(f"instant {t!r} is outside the supported date range") from exc

    def _instance(self, shift: _Shift, d: datetime.date) -> ShiftInstance | None:
        start = self._utc(d, shift.start)
        end = self._utc(d + _ONE_DAY if shift.overnight else d, shift.end)
        if end <= start:
            # The start resolved forward through a spring-forward gap past the end: no elapsed time is left.
            return None
        raw: list[Window] = []
        if shift.midpoint_break_seconds:
            mid = math.floor((start + (end - start) / 2) / 60) * 60.0
            raw.append(Window(mid, mid + shift.midpoint_break_seconds))
        for brk in shift.breaks:
            b_start = self._utc(d + _ONE_DAY if brk.next_day else d, brk.start)
            raw.append(Window(b_start, b_start + brk.seconds))
        # Elapsed break lengths across a DST change can poke out of the shift, so clip to keep them inside.
        clipped = [Window(max(w.start, start), min(w.end, end)) for w in raw]
        breaks = _merge([w for w in clipped if w.end > w.start])
        return ShiftInstance(shift.name, d, start, end, breaks)

    def instances(self, start: float, end: float) -> list[ShiftInstance]:
        """Lists every shift instance overlapping ``[start, end)``.

        Args:
            start: UTC epoch seconds, inclusive.
            end: UTC epoch seconds, exclusive.

        Returns:
            The instances sorted by start (then name); empty when ``start == end``. A shift whose wall
            times all fall into a spring-forward gap has no instance on that date.

        Raises:
            ValueError: If a bound is not finite, ``end < start``, or two instances overlap (the message
                names both shifts and the business date).
        """
        start = _check_instant(start, "start")
        end = _check_instant(end, "end")
        if end < start:
            raise ValueError(f"end {end!r} is before start {start!r}")
        if end == start:
            return []
        # An overnight shift begun the local day before `start` can still be running at `start`.
        d = self._local_date(start) - _ONE_DAY
        last = self._local_date(end)
        found: list[ShiftInstance] = []
        while d <= last:
            weekday = d.weekday()
            for shift in self._shifts:
                if weekday not in shift.days:
                    continue
                inst = self._instance(shift, d)
                if inst is not None and inst.start < end and inst.end > start:
                    found.append(inst)
            d += _ONE_DAY
        found.sort(key=lambda i: (i.start, i.end, i.name))
        self._check_overlaps(found)
        return found

    def _check_overlaps(self, ordered: list[ShiftInstance]) -> None:
        latest: ShiftInstance | None = None
        for inst in ordered:
            if latest is not None and inst.start < latest.end:
                raise ValueError(
                    f"shift {inst.name!r} overlaps shift {latest.name!r} on {inst.business_date}: "
                    f"{inst.name!r} starts at {self._iso(inst.start)} but {latest.name!r} "
                    f"(business date {latest.business_date}) runs until {self._iso(latest.end)}"
                )
            if latest is None or inst.end > latest.end:
                latest = inst

    def _iso(self, t: float) -> str:
        return datetime.datetime.fromtimestamp(t, self._tz).isoformat()

    def business_day(self, d: datetime.date) -> Window:
        """Gives the span of a business day.

        Args:
            d: The business date.

        Returns:
            ``[local d at day_start, local d+1 at day_start)`` in UTC epoch seconds: 23 h or 25 h long
            on DST change days.

        Raises:
            ValueError: If ``d`` is not a ``datetime.date`` (a ``datetime`` is rejected too, since its
                time of day would be silently ignored).
        """
        if not isinstance(d, datetime.date) or isinstance(d, datetime.datetime):
            raise ValueError(f"business date must be a datetime.date, got {d!r}")
        return Window(self._utc(d, self._day_start), self._utc(d + _ONE_DAY, self._day_start))

    def business_date(self, t: float) -> datetime.date:
        """Finds the business date whose ``business_day`` window contains the instant ``t``.

        This is the local date of ``t``, minus one day if the local time is before ``day_start``. When
        ``day_start`` itself falls in a DST gap or fold, the window boundary decides, so that
        ``t`` always lies inside ``business_day(business_date(t))``.

        Args:
            t: UTC epoch seconds.

        Returns:
            The business date.

        Raises:
            ValueError: If ``t`` is not finite or is outside the supported date range.
        """
        t = _check_instant(t, "instant")
        d = self._local_date(t)
        while t < self._utc(d, self._day_start):
            d -= _ONE_DAY
        while t >= self._utc(d + _ONE_DAY, self._day_start):
            d += _ONE_DAY
        return d

    def business_days(self, start: float, end: float) -> list[datetime.date]:
        """Lists the business dates whose windows overlap ``[start, end)``.

        Args:
            start: UTC epoch seconds, inclusive.
            end: UTC epoch seconds, exclusive.

        Returns:
            The dates in ascending order; empty when ``start == end``.

        Raises:
            ValueError: If a bound is not finite or ``end < start``.
        """
        start = _check_instant(start, "start")
        end = _check_instant(end, "end")
        if end < start:
            raise ValueError(f"end {end!r} is before start {start!r}")
        if end == start:
            return []
        dates: list[datetime.date] = []
        d = self.business_date(start)
        while self._utc(d, self._day_start) < end:
            dates.append(d)
            d += _ONE_DAY
        return dates
