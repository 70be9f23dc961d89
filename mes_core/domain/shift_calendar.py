"""The MES shift calendar: wall-clock shifts, breaks and calendar exceptions resolved into UTC spans.

Shifts are defined in local wall-clock time and resolved per date with ``zoneinfo``: a local time that does
not exist (spring-forward gap) moves forward by the gap (02:30 in the Europe/Berlin gap is 03:30 CEST), an
ambiguous one (autumn fold) takes its first occurrence (``fold=0``). Durations are elapsed UTC seconds, so a
22:00-06:00 night lasts 7 h on the spring night and 9 h on the autumn night in Europe/Berlin. An instance
belongs to the business date on which it starts. These rules, and where breaks fall, agree with the twin's
calendar, against which the harness checks the MES.

Calendar exceptions are naive local date-times, resolved the same way, tenant-wide or for one machine:

* ``holiday`` cancels the regular instances whose UTC start lies in its ``[start, end)``; extra shifts are
  never cancelled (an extra shift is how a holiday is worked).
* ``extra_shift`` adds one instance without breaks; it may not overlap another extra shift nor a regular
  instance that a holiday does not cancel for every machine the extra shift applies to.
* ``planned_downtime`` removes time from every instance, extra ones included, and takes precedence over
  breaks: break time inside planned downtime counts as planned downtime.

Over a window, an instance's time is therefore ``scheduled`` (planned busy time) + ``break_spans`` +
``planned_downtime_spans`` with break policy ``"planned"``; with ``"loss"`` breaks stay scheduled time and
``break_spans`` lies inside ``scheduled``.
"""

from __future__ import annotations

import bisect
import itertools
import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "WEEKDAYS",
    "BreakDef",
    "CalendarError",
    "CalendarException",
    "ShiftCalendar",
    "ShiftDef",
    "ShiftInstance",
    "Span",
]

Span = tuple[float, float]
"""A half-open span ``[start, end)`` of UTC epoch seconds."""

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""The weekday names a ``ShiftDef`` uses, Monday first (index = ``date.weekday()``)."""

_DAY: Final = 86_400
_ONE_DAY: Final = timedelta(days=1)
_KINDS: Final = ("holiday", "planned_downtime", "extra_shift")
_BUCKET_MARGIN: Final = (
    6 * 3600.0
)  # wider than any repeated autumn hour, so labels do not depend on the window
_DATE_CACHE_LIMIT: Final = 4096


class CalendarError(ValueError):
    """A shift calendar definition or query is invalid; the message names the shift, date or field."""


@dataclass(frozen=True, slots=True)
class BreakDef:
    """A break inside a shift: its local wall-clock start and its elapsed length in minutes (> 0)."""

    start: time
    minutes: int


@dataclass(frozen=True, slots=True)
class ShiftDef:
    """A recurring shift in local wall-clock time.

    ``end <= start`` means the shift ends on the next day (``end == start``: a 24 h shift). ``days`` are the
    weekdays (from ``WEEKDAYS``) on which the shift starts. Without explicit ``breaks``, ``break_minutes``
    places one break starting at the shift's elapsed midpoint, floored to the minute; with ``breaks``,
    ``break_minutes`` must be 0 or their total.
    """

    name: str
    start: time
    end: time
    days: frozenset[str]
    break_minutes: int = 0
    breaks: tuple[BreakDef, ...] = ()


@dataclass(frozen=True, slots=True)
class CalendarException:
    """A one-off change to the calendar between two naive local date-times, ``end > start``.

    ``kind`` is ``holiday``, ``planned_downtime`` or ``extra_shift`` (see the module docstring); ``name`` is
    the extra shift's name (required for it), a label otherwise. ``machine_id`` None applies the exception
    to every machine of the tenant, else only to that machine.
    """

    kind: Literal["holiday", "planned_downtime", "extra_shift"]
    start: datetime
    end: datetime
    name: str = ""
    machine_id: str | None = None


@dataclass(frozen=True, slots=True)
class ShiftInstance:
    """One occurrence of a shift in UTC epoch seconds, with its breaks (inside ``[start, end)``, sorted).

    ``business_date`` is the local date on which a regular instance starts (an overnight shift belongs to
    the day it began); for an extra shift it is the business date of its start. ``extra`` marks an instance
    added by an ``extra_shift`` exception.
    """

    name: str
    business_date: date
    start: float
    end: float
    breaks: tuple[Span, ...]
    extra: bool = False


@dataclass(frozen=True, slots=True)
class _Shift:
    """A validated shift: weekday indexes, and breaks as (wall start, on the next day, seconds)."""

    name: str
    start: time
    end: time
    weekdays: frozenset[int]
    overnight: bool
    midpoint_break: int
    breaks: tuple[tuple[time, bool, int], ...]


@dataclass(frozen=True, slots=True)
class _Scope:
    """The exceptions in force for one machine (or, keyed None, for the whole tenant), in UTC, merged."""

    holidays: tuple[Span, ...]
    holiday_starts: tuple[float, ...]
    downtime: tuple[Span, ...]
    extras: tuple[ShiftInstance, ...]

    def cancels(self, t: float) -> bool:
        i = bisect.bisect_right(self.holiday_starts, t) - 1
        return i >= 0 and t < self.holidays[i][1]


def _seconds(t: time) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1_000_000


def _hhmm(t: time) -> str:
    return t.isoformat(timespec="minutes") if not (t.second or t.microsecond) else t.isoformat()


def _wall_time(t: object, what: str) -> time:
    if not isinstance(t, time):
        raise CalendarError(f"{what} must be a datetime.time, got {t!r}")
    if t.tzinfo is not None:
        raise CalendarError(f"{what} must be a local wall-clock time without tzinfo, got {t.isoformat()}")
    return t.replace(fold=0)  # ambiguous wall times always mean their first occurrence


def _minutes(value: object, what: str, *, positive: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (1 if positive else 0):
        raise CalendarError(f"{what} must be an int {'> 0' if positive else '>= 0'}, got {value!r}")
    return value


def _compile(shift: ShiftDef) -> _Shift:
    name = shift.name
    if not isinstance(name, str) or not name.strip():
        raise CalendarError(f"shift name must be a non-empty string, got {name!r}")
    start = _wall_time(shift.start, f"start of shift {name!r}")
    end = _wall_time(shift.end, f"end of shift {name!r}")
    if not shift.days:
        raise CalendarError(f"shift {name!r} has no days; give weekdays from {WEEKDAYS}")
    bad = sorted(repr(d) for d in shift.days if d not in WEEKDAYS)
    if bad:
        raise CalendarError(f"shift {name!r} has unknown weekdays {', '.join(bad)}; use {WEEKDAYS}")
    span = (_seconds(end) - _seconds(start)) % _DAY or _DAY
    where = f"the shift's span {_hhmm(start)}-{_hhmm(end)}"
    break_minutes = _minutes(shift.break_minutes, f"break_minutes of shift {name!r}", positive=False)

    placed: list[tuple[float, BreakDef]] = []
    for brk in shift.breaks:
        b_start = _wall_time(brk.start, f"break start in shift {name!r}")
        minutes = _minutes(
            brk.minutes, f"minutes of the break at {_hhmm(b_start)} in shift {name!r}", positive=True
        )
        offset = (_seconds(b_start) - _seconds(start)) % _DAY
        if offset + minutes * 60 > span:
            raise CalendarError(
                f"break at {_hhmm(b_start)} ({minutes} min) of shift {name!r} lies outside {where}"
            )
        placed.append((offset, BreakDef(b_start, minutes)))
    placed.sort(key=lambda p: p[0])
    for (off_a, a), (off_b, b) in itertools.pairwise(placed):
        if off_a + a.minutes * 60 > off_b:
            raise CalendarError(
                f"break at {_hhmm(b.start)} of shift {name!r} overlaps its break at {_hhmm(a.start)} "
                f"({a.minutes} min)"
            )
    total = sum(b.minutes for _, b in placed)
    if placed and break_minutes not in (0, total):
        raise CalendarError(
            f"break_minutes {break_minutes} of shift {name!r} does not match the {total} min of its "
            f"explicit breaks; give 0 or {total}"
        )
    midpoint = 0 if placed else break_minutes * 60
    if midpoint > span / 2:
        raise CalendarError(
            f"break_minutes {break_minutes} of shift {name!r} does not fit between the midpoint and the "
            f"end of {where}"
        )
    return _Shift(
        name=name,
        start=start,
        end=end,
        weekdays=frozenset(WEEKDAYS.index(d) for d in shift.days),
        overnight=end <= start,
        midpoint_break=midpoint,
        # Only an overnight shift can hold a break whose wall time is earlier than its start.
        breaks=tuple((b.start, b.start < start, b.minutes * 60) for _, b in placed),
    )


def _check_weekly_overlaps(shifts: Sequence[_Shift]) -> None:
    """Refuses definitions whose instances overlap in wall time, over two weeks (every weekday pattern)."""
    monday = date(2024, 1, 1)
    spans: list[tuple[datetime, datetime, str]] = []
    for s in shifts:
        for k in range(14):
            d = monday + timedelta(days=k)
            if d.weekday() in s.weekdays:
                end_day = d + _ONE_DAY if s.overnight else d
                spans.append((datetime.combine(d, s.start), datetime.combine(end_day, s.end), s.name))
    spans.sort()
    latest: tuple[datetime, datetime, str] | None = None
    for span in spans:
        if latest is not None and span[0] < latest[1]:
            day = WEEKDAYS[span[0].weekday()]
            raise CalendarError(
                f"shift {span[2]!r} overlaps shift {latest[2]!r} on {day}: {span[2]!r} starts at "
                f"{day} {span[0]:%H:%M} but {latest[2]!r} (from {WEEKDAYS[latest[0].weekday()]} "
                f"{latest[0]:%H:%M}) runs until {WEEKDAYS[latest[1].weekday()]} {latest[1]:%H:%M}"
            )
        if latest is None or span[1] > latest[1]:
            latest = span


def _instant(t: object, what: str) -> float:
    if isinstance(t, bool) or not isinstance(t, numbers.Real) or not math.isfinite(t):
        raise CalendarError(f"{what} must be finite UTC epoch seconds, got {t!r}")
    return float(t)


def _merge(spans: Iterable[Span], *, touching: bool = True) -> list[Span]:
    """Sorts and unites spans; ``touching=False`` keeps spans that only meet apart (as breaks are)."""
    merged: list[Span] = []
    for s, e in sorted(spans):
        if e <= s:
            continue
        if merged and (s <= merged[-1][1] if touching else s < merged[-1][1]):
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _clip(spans: Iterable[Span], start: float, end: float) -> list[Span]:
    return [(max(s, start), min(e, end)) for s, e in spans if s < end and e > start]


def _subtract(spans: list[Span], holes: Sequence[Span]) -> list[Span]:
    """Removes ``holes`` from ``spans``; both sorted and disjoint."""
    out: list[Span] = []
    i = 0
    for s, e in spans:
        while i < len(holes) and holes[i][1] <= s:
            i += 1
        j, cur = i, s
        while j < len(holes) and holes[j][0] < e:
            if holes[j][0] > cur:
                out.append((cur, holes[j][0]))
            cur = max(cur, holes[j][1])
            j += 1
        if cur < e:
            out.append((cur, e))
    return out


def _intersect(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    """Intersects two sorted, disjoint span lists."""
    out: list[Span] = []
    i = j = 0
    while i < len(a) and j < len(b):
        s, e = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if s < e:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _offset_label(offset: timedelta) -> str:
    total = int(offset.total_seconds())
    sign, total = ("-", -total) if total < 0 else ("+", total)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


class ShiftCalendar:
    """A tenant's shift definitions, break policy and calendar exceptions in one IANA time zone.

    Construction validates everything and compiles it; queries take UTC epoch seconds, treat windows as
    half-open ``[start, end)`` and never re-validate. ``machine_id`` None means the tenant-wide view (only
    exceptions without a machine apply); a machine id adds that machine's own exceptions.
    """

    __slots__ = (
        "_break_policy",
        "_by_date",
        "_day_start",
        "_names",
        "_scopes",
        "_shifts",
        "_timezone",
        "_zone",
    )

    def __init__(
        self,
        shifts: Sequence[ShiftDef],
        timezone: str,
        *,
        day_start: time = time(0, 0),
        break_policy: Literal["planned", "loss"] = "planned",
        exceptions: Sequence[CalendarException] = (),
    ) -> None:
        """Validates and compiles the calendar.

        Args:
            shifts: The recurring shift definitions; names must be unique.
            timezone: The IANA zone of every wall-clock time, e.g. ``"Europe/Berlin"``.
            day_start: The local time at which a business day begins; no shift may start before it.
            break_policy: ``"planned"`` removes breaks from scheduled time; ``"loss"`` keeps them scheduled.
            exceptions: Holidays, planned downtime and extra shifts.

        Raises:
            CalendarError: For an unknown time zone, an empty or repeated shift name, a bad weekday, a break
                outside its shift or overlapping another, ``break_minutes`` that contradicts the explicit
                breaks or does not fit after the midpoint, a ``day_start`` later than a shift's start, two
                definitions whose instances overlap (naming both shifts and the weekday), an exception of
                unknown kind, with aware or non-datetime bounds, ``end <= start`` or no elapsed time, an
                extra shift without a name, or an extra shift overlapping another one or a regular instance
                that no holiday cancels.
        """
        if not isinstance(timezone, str) or not timezone:
            raise CalendarError(f"timezone must be an IANA zone name, got {timezone!r}")
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise CalendarError(f"unknown time zone {timezone!r}") from exc
        if break_policy not in ("planned", "loss"):
            raise CalendarError(f"break_policy must be 'planned' or 'loss', got {break_policy!r}")
        compiled = [_compile(s) for s in shifts]
        names = [c.name for c in compiled]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise CalendarError(f"shift name {repeated[0]!r} is defined more than once")
        start_of_day = _wall_time(day_start, "day_start")
        for c in compiled:
            if c.start < start_of_day:
                raise CalendarError(
                    f"day_start {_hhmm(start_of_day)} is later than the start {_hhmm(c.start)} of shift "
                    f"{c.name!r}; a shift must not start before its business day begins"
                )
        _check_weekly_overlaps(compiled)

        self._zone = zone
        self._timezone = timezone
        self._day_start = start_of_day
        self._break_policy: Literal["planned", "loss"] = break_policy
        self._shifts = tuple(compiled)
        self._by_date: dict[date, tuple[ShiftInstance, ...]] = {}
        self._scopes = self._compile_exceptions(exceptions)
        extra_names = (x.name for scope in self._scopes.values() for x in scope.extras)
        self._names = tuple(dict.fromkeys(itertools.chain(names, extra_names)))

    @property
    def timezone(self) -> str:
        """The IANA name of the calendar's time zone."""
        return self._timezone

    @property
    def shift_names(self) -> tuple[str, ...]:
        """The regular shifts' names in definition order, then the extra shifts' names not among them."""
        return self._names

    @property
    def day_start(self) -> time:
        """The local time at which each business day begins."""
        return self._day_start

    @property
    def break_policy(self) -> Literal["planned", "loss"]:
        """``"planned"``: breaks are not planned busy time; ``"loss"``: breaks are, idling in them a loss."""
        return self._break_policy

    # --- compilation --------------------------------------------------------------------------------

    def _utc(self, d: date, t: time) -> float:
        return datetime.combine(d, t, tzinfo=self._zone).timestamp()

    def _local(self, t: float) -> datetime:
        try:
            return datetime.fromtimestamp(t, self._zone)
        except (OverflowError, OSError, ValueError) as exc:
            raise CalendarError(f"instant {t!r} is outside the supported date range") from exc

    def _iso(self, t: float) -> str:
        return self._local(t).isoformat(timespec="minutes")

    def _compile_exceptions(self, exceptions: Sequence[CalendarException]) -> dict[str | None, _Scope]:
        resolved: list[tuple[CalendarException, float, float]] = []
        for exc in exceptions:
            what = f"{exc.kind} exception {exc.name!r}" if exc.name else f"{exc.kind} exception"
            if exc.kind not in _KINDS:
                raise CalendarError(f"exception kind must be one of {_KINDS}, got {exc.kind!r}")
            for field, value in (("start", exc.start), ("end", exc.end)):
                if not isinstance(value, datetime) or value.tzinfo is not None:
                    raise CalendarError(f"{field} of {what} must be a naive local datetime, got {value!r}")
            if exc.end <= exc.start:
                raise CalendarError(
                    f"end {exc.end.isoformat()} of {what} is not after its start {exc.start.isoformat()}"
                )
            if exc.kind == "extra_shift" and (not isinstance(exc.name, str) or not exc.name.strip()):
                raise CalendarError(f"extra_shift exception at {exc.start.isoformat()} needs a name")
            if exc.machine_id is not None and (not isinstance(exc.machine_id, str) or not exc.machine_id):
                raise CalendarError(f"machine_id of {what} must be None or a non-empty string")
            start = exc.start.replace(tzinfo=self._zone, fold=0).timestamp()
            end = exc.end.replace(tzinfo=self._zone, fold=0).timestamp()
            if end <= start:
                raise CalendarError(
                    f"{what} {exc.start.isoformat()}-{exc.end.isoformat()} has no elapsed time in "
                    f"{self._timezone} (it lies in a spring-forward gap)"
                )
            resolved.append((exc, start, end))

        scopes: dict[str | None, _Scope] = {}
        for key in [None, *sorted({e.machine_id for e, _, _ in resolved if e.machine_id is not None})]:
            mine = [r for r in resolved if r[0].machine_id is None or r[0].machine_id == key]
            holidays = tuple(_merge((s, e) for x, s, e in mine if x.kind == "holiday"))
            downtime = tuple(_merge((s, e) for x, s, e in mine if x.kind == "planned_downtime"))
            extras = sorted(
                (
                    ShiftInstance(x.name, self.business_date(s), s, e, (), extra=True)
                    for x, s, e in mine
                    if x.kind == "extra_shift"
                ),
                key=lambda i: (i.start, i.end, i.name),
            )
            scope = _Scope(holidays, tuple(s for s, _ in holidays), downtime, tuple(extras))
            self._check_extras(scope, key)
            scopes[key] = scope
        return scopes

    def _check_extras(self, scope: _Scope, machine_id: str | None) -> None:
        whom = "every machine" if machine_id is None else f"machine {machine_id!r}"
        for a, b in itertools.pairwise(scope.extras):
            if b.start < a.end:
                raise CalendarError(
                    f"extra shift {b.name!r} overlaps extra shift {a.name!r} on {b.business_date} for "
                    f"{whom}: it starts at {self._iso(b.start)}, before {self._iso(a.end)}"
                )
        for extra in scope.extras:
            for inst in self._regular(extra.start, extra.end):
                if not scope.cancels(inst.start):
                    raise CalendarError(
                        f"extra shift {extra.name!r} ({self._iso(extra.start)} to {self._iso(extra.end)}) "
                        f"overlaps shift {inst.name!r} of {inst.business_date} for {whom}, and no holiday "
                        f"cancels that shift"
                    )

    # --- instances ----------------------------------------------------------------------------------

    def _on_date(self, d: date) -> tuple[ShiftInstance, ...]:
        cached = self._by_date.get(d)
        if cached is not None:
            return cached
        found: list[ShiftInstance] = []
        weekday = d.weekday()
        for shift in self._shifts:
            if weekday not in shift.weekdays:
                continue
            start = self._utc(d, shift.start)
            end = self._utc(d + _ONE_DAY if shift.overnight else d, shift.end)
            if end <= start:
                continue  # the start moved forward through a spring gap past the end: nothing is left
            raw: list[Span] = []
            if shift.midpoint_break:
                mid = math.floor((start + (end - start) / 2) / 60) * 60.0
                raw.append((mid, mid + shift.midpoint_break))
            for wall, next_day, seconds in shift.breaks:
                b = self._utc(d + _ONE_DAY if next_day else d, wall)
                raw.append((b, b + seconds))
            # A break's elapsed length can poke out of a DST-shortened shift, and two breaks can land on
            # the same elapsed seconds; clip and unite so break time is inside the shift and counted once.
            breaks = tuple(_merge(_clip(raw, start, end), touching=False))
            found.append(ShiftInstance(shift.name, d, start, end, breaks))
        found.sort(key=lambda i: (i.start, i.end, i.name))
        if len(self._by_date) >= _DATE_CACHE_LIMIT:
            self._by_date.clear()
        self._by_date[d] = result = tuple(found)
        return result

    def _regular(self, start: float, end: float) -> list[ShiftInstance]:
        """The regular instances overlapping ``[start, end)``, holidays ignored."""
        # An overnight shift begun the local day before `start` can still be running at `start`.
        d = self._local(start).date() - _ONE_DAY
        last = self._local(end).date()
        found: list[ShiftInstance] = []
        while d <= last:
            found.extend(i for i in self._on_date(d) if i.start < end and i.end > start)
            d += _ONE_DAY
        return found

    def _window(self, start: float, end: float) -> tuple[float, float]:
        start = _instant(start, "start")
        end = _instant(end, "end")
        if end < start:
            raise CalendarError(f"end {end!r} is before start {start!r}")
        return start, end

    def _scope(self, machine_id: str | None) -> _Scope:
        return self._scopes.get(machine_id) or self._scopes[None]

    def instances(self, start: float, end: float, machine_id: str | None = None) -> list[ShiftInstance]:
        """Lists the shift instances, regular and extra, overlapping ``[start, end)``.

        Regular instances whose start lies in a holiday applying to ``machine_id`` are left out.

        Returns:
            The instances sorted by start; empty when ``start == end``.

        Raises:
            CalendarError: If a bound is not finite or ``end < start``, or if two instances overlap, which
                only a shift ending inside a spring-forward gap can cause (the message names both shifts
                and the business date).
        """
        start, end = self._window(start, end)
        if start == end:
            return []
        scope = self._scope(machine_id)
        found = [i for i in self._regular(start, end) if not scope.cancels(i.start)]
        found.extend(x for x in scope.extras if x.start < end and x.end > start)
        found.sort(key=lambda i: (i.start, i.end, i.name))
        for a, b in itertools.pairwise(found):
            if b.start < a.end:
                raise CalendarError(
                    f"shift {b.name!r} overlaps shift {a.name!r} on {b.business_date}: {b.name!r} starts "
                    f"at {self._iso(b.start)} but {a.name!r} runs until {self._iso(a.end)}"
                )
        return found

    def current(self, at: float, machine_id: str | None = None) -> ShiftInstance | None:
        """Returns the instance with ``start <= at < end``, or None outside every shift."""
        at = _instant(at, "at")
        found = self.instances(at, math.nextafter(at, math.inf), machine_id)
        return found[0] if found else None

    def shift_spans(self, name: str, start: float, end: float, machine_id: str | None = None) -> list[Span]:
        """Returns the span of each instance named ``name`` overlapping ``[start, end)``, clipped."""
        return _clip(
            ((i.start, i.end) for i in self.instances(start, end, machine_id) if i.name == name), start, end
        )

    # --- planned time -------------------------------------------------------------------------------

    def _parts(
        self, start: float, end: float, machine_id: str | None
    ) -> tuple[list[Span], list[Span], list[Span]]:
        """Within ``[start, end)``: instance time, break time and planned downtime, each merged."""
        start, end = self._window(start, end)
        found = self.instances(start, end, machine_id)
        shifts = _merge(_clip(((i.start, i.end) for i in found), start, end))
        breaks = _merge(_clip((b for i in found for b in i.breaks), start, end))
        downtime = _clip(self._scope(machine_id).downtime, start, end)
        return shifts, breaks, downtime

    def scheduled(self, start: float, end: float, machine_id: str | None = None) -> list[Span]:
        """Returns the planned busy time (ISO PBT) in ``[start, end)``: sorted, disjoint, merged spans.

        That is every instance minus planned downtime and, with break policy ``"planned"``, minus breaks.
        """
        shifts, breaks, downtime = self._parts(start, end, machine_id)
        if self._break_policy == "planned":
            shifts = _subtract(shifts, breaks)
        return _subtract(shifts, downtime)

    def break_spans(self, start: float, end: float, machine_id: str | None = None) -> list[Span]:
        """Returns the instances' breaks in ``[start, end)`` outside planned downtime, merged, any policy."""
        _, breaks, downtime = self._parts(start, end, machine_id)
        return _subtract(breaks, downtime)

    def planned_downtime_spans(self, start: float, end: float, machine_id: str | None = None) -> list[Span]:
        """Returns the instance time in ``[start, end)`` that planned downtime takes away, merged.

        Planned downtime outside every instance removes nothing and is not returned.
        """
        shifts, _, downtime = self._parts(start, end, machine_id)
        return _intersect(shifts, downtime)

    # --- business days and buckets ------------------------------------------------------------------

    def business_date(self, at: float) -> date:
        """Returns the business date containing ``at``: its local date, one day earlier before ``day_start``.

        When ``day_start`` falls in a DST gap or fold, ``business_day``'s bounds decide, so ``at`` always
        lies in ``business_day(business_date(at))``.
        """
        at = _instant(at, "at")
        d = self._local(at).date()
        while at < self._utc(d, self._day_start):
            d -= _ONE_DAY
        while at >= self._utc(d + _ONE_DAY, self._day_start):
            d += _ONE_DAY
        return d

    def business_day(self, d: date) -> Span:
        """Returns ``[local d at day_start, local d+1 at day_start)``: 23 h or 25 h on DST change days.

        Raises:
            CalendarError: If ``d`` is not a date (a datetime is refused: its time would be ignored).
        """
        if not isinstance(d, date) or isinstance(d, datetime):
            raise CalendarError(f"business date must be a datetime.date, got {d!r}")
        return self._utc(d, self._day_start), self._utc(d + _ONE_DAY, self._day_start)

    def business_days(self, start: float, end: float) -> list[date]:
        """Returns the business dates whose days overlap ``[start, end)``, ascending (none if empty)."""
        start, end = self._window(start, end)
        if start == end:
            return []
        days: list[date] = []
        d = self.business_date(start)
        while self._utc(d, self._day_start) < end:
            days.append(d)
            d += _ONE_DAY
        return days

    def local_buckets(
        self, start: float, end: float, unit: Literal["hour", "day", "week", "month"]
    ) -> list[tuple[str, Span]]:
        """Splits ``[start, end)`` into local calendar buckets, each clipped to the window.

        Hours are local wall-clock hours labelled ``"2026-03-29T03:00"``; an hour in a spring gap has no
        bucket, and an hour that occurs twice in autumn is two buckets labelled with their UTC offsets
        (``"2026-10-25T02:00+02:00"``, ``"2026-10-25T02:00+01:00"``). Days (``"2026-03-29"``) are business
        days, weeks (ISO ``"2026-W13"``) start on Monday at ``day_start``, months (``"2026-03"``) on the 1st
        at ``day_start``; all are elapsed time, so DST days last 23 h or 25 h.

        Raises:
            CalendarError: If a bound is not finite, ``end < start`` or ``unit`` is unknown.
        """
        start, end = self._window(start, end)
        if unit == "hour":
            buckets = self._hours(start, end)
        elif unit in ("day", "week", "month"):
            buckets = self._periods(start, end, unit)
        else:
            raise CalendarError(f"unit must be 'hour', 'day', 'week' or 'month', got {unit!r}")
        return [(label, (max(s, start), min(e, end))) for label, (s, e) in buckets if s < end and e > start]

    def _periods(self, start: float, end: float, unit: str) -> list[tuple[str, Span]]:
        if start == end:
            return []
        d = self.business_date(start)
        if unit == "week":
            d -= timedelta(days=d.weekday())
        elif unit == "month":
            d = d.replace(day=1)
        buckets: list[tuple[str, Span]] = []
        lo = self._utc(d, self._day_start)
        while lo < end:
            if unit == "day":
                label, nxt = d.isoformat(), d + _ONE_DAY
            elif unit == "week":
                iso = d.isocalendar()
                label, nxt = f"{iso.year}-W{iso.week:02d}", d + timedelta(days=7)
            else:
                label = f"{d.year:04d}-{d.month:02d}"
                nxt = date(d.year + d.month // 12, d.month % 12 + 1, 1)
            hi = self._utc(nxt, self._day_start)
            buckets.append((label, (lo, hi)))
            d, lo = nxt, hi
        return buckets

    def _hours(self, start: float, end: float) -> list[tuple[str, Span]]:
        # Walk whole seconds from a local hour boundary before the window; each bucket ends at the next
        # local hour or at an offset change, whichever comes first (a 30-minute DST zone has both).
        t = float(math.floor(start - _BUCKET_MARGIN))
        here = self._local(t)
        t -= here.minute * 60 + here.second
        raw: list[tuple[date, int, timedelta | None, Span]] = []
        while t < end + _BUCKET_MARGIN:
            here = self._local(t)
            offset = here.utcoffset()
            nxt = t + 3600 - (here.minute * 60 + here.second)
            if self._local(nxt).utcoffset() != offset:
                lo, hi = t, nxt  # offsets change on whole seconds: bisect for the first second of the new one
                while hi - lo > 1:
                    mid = math.floor((lo + hi) / 2)
                    lo, hi = (mid, hi) if self._local(mid).utcoffset() == offset else (lo, mid)
                nxt = hi
            raw.append((here.date(), here.hour, offset, (t, nxt)))
            t = nxt
        seen: dict[tuple[date, int], int] = {}
        for d, h, _, _ in raw:
            seen[(d, h)] = seen.get((d, h), 0) + 1
        out: list[tuple[str, Span]] = []
        for d, h, offset, span in raw:
            label = f"{d.isoformat()}T{h:02d}:00"
            if seen[(d, h)] > 1 and offset is not None:
                label += _offset_label(offset)
            out.append((label, span))
        return out
