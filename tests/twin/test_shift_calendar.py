"""Tests for the shift calendar's wall-clock to UTC rules, DST handling and validation."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.shift_calendar import BreakDefinition, ShiftCalendar, ShiftDefinition, ShiftInstance, Window

BERLIN = ZoneInfo("Europe/Berlin")
CHICAGO = ZoneInfo("America/Chicago")
NEW_YORK = ZoneInfo("America/New_York")
ALL_DAYS = frozenset(range(7))
WEEKDAYS = frozenset(range(5))
HOUR = 3600.0


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> float:
    return dt.datetime(y, mo, d, h, mi, tzinfo=dt.UTC).timestamp()


def local(tz: ZoneInfo, y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> float:
    return dt.datetime(y, mo, d, h, mi, tzinfo=tz).timestamp()


def shift(
    name: str,
    start: str,
    end: str,
    days: frozenset[int] = ALL_DAYS,
    break_minutes: int = 0,
    breaks: tuple[BreakDefinition, ...] = (),
) -> ShiftDefinition:
    return ShiftDefinition(
        name, dt.time.fromisoformat(start), dt.time.fromisoformat(end), days, break_minutes, breaks
    )


def brk(start: str, minutes: int) -> BreakDefinition:
    return BreakDefinition(dt.time.fromisoformat(start), minutes)


def three_shifts(tz: ZoneInfo, days: frozenset[int] = ALL_DAYS) -> ShiftCalendar:
    return ShiftCalendar(
        [
            shift("Early", "06:00", "14:00", days),
            shift("Late", "14:00", "22:00", days),
            shift("Night", "22:00", "06:00", days),
        ],
        tz,
    )


def only(cal: ShiftCalendar, name: str, business_date: dt.date) -> ShiftInstance:
    day = cal.business_day(business_date)
    found = [
        i for i in cal.instances(day.start, day.end) if i.name == name and i.business_date == business_date
    ]
    assert len(found) == 1, found
    return found[0]


# --- instance times -------------------------------------------------------------------------------


def test_day_shift_instance_is_wall_clock_converted_to_utc_on_a_normal_date() -> None:
    cal = ShiftCalendar([shift("Early", "06:00", "14:00")], BERLIN)
    inst = only(cal, "Early", dt.date(2026, 3, 2))
    assert (inst.start, inst.end) == (utc(2026, 3, 2, 5), utc(2026, 3, 2, 13))
    assert inst.window == Window(utc(2026, 3, 2, 5), utc(2026, 3, 2, 13))


@pytest.mark.parametrize(
    ("date", "utc_start_hour"),
    [(dt.date(2026, 1, 14), 13), (dt.date(2026, 7, 15), 12)],
    ids=["EST", "EDT"],
)
def test_day_shift_in_a_us_zone_uses_that_zones_offset_on_the_date(
    date: dt.date, utc_start_hour: int
) -> None:
    cal = ShiftCalendar([shift("Day", "08:00", "16:30")], NEW_YORK)
    inst = only(cal, "Day", date)
    start = utc(date.year, date.month, date.day, utc_start_hour)
    assert (inst.start, inst.end) == (start, start + 8.5 * HOUR)


def test_overnight_shift_belongs_to_the_business_date_it_starts_and_ends_next_day() -> None:
    cal = ShiftCalendar([shift("Night", "22:00", "06:00")], BERLIN)
    inst = only(cal, "Night", dt.date(2026, 3, 2))
    assert inst.business_date == dt.date(2026, 3, 2)
    assert (inst.start, inst.end) == (utc(2026, 3, 2, 21), utc(2026, 3, 3, 5))
    assert cal.business_date(inst.start) == dt.date(2026, 3, 2)
    assert cal.business_date(inst.end - 1) == dt.date(2026, 3, 2)


def test_end_equal_to_start_is_a_24_hour_shift() -> None:
    cal = ShiftCalendar([shift("Round", "07:00", "07:00")], BERLIN)
    inst = only(cal, "Round", dt.date(2026, 3, 2))
    assert inst.end - inst.start == 24 * HOUR


def test_instances_exist_only_on_listed_weekdays_counted_by_start_day() -> None:
    cal = ShiftCalendar([shift("Night", "22:00", "06:00", WEEKDAYS)], BERLIN)
    # Mon 2026-03-02 .. Mon 2026-03-09 local midnight.
    found = cal.instances(local(BERLIN, 2026, 3, 2), local(BERLIN, 2026, 3, 9))
    assert [i.business_date for i in found] == [dt.date(2026, 3, d) for d in (2, 3, 4, 5, 6)]
    friday = found[-1]
    assert friday.business_date.weekday() == 4
    assert friday.end == local(BERLIN, 2026, 3, 7, 6)  # runs into Saturday though Saturday is not listed


def test_instances_are_sorted_by_start() -> None:
    cal = three_shifts(BERLIN)
    found = cal.instances(local(BERLIN, 2026, 3, 2), local(BERLIN, 2026, 3, 4))
    assert [i.start for i in found] == sorted(i.start for i in found)
    assert [i.name for i in found[:4]] == ["Night", "Early", "Late", "Night"]


def test_instances_window_includes_an_overnight_shift_begun_the_previous_day() -> None:
    cal = ShiftCalendar([shift("Night", "22:00", "06:00")], BERLIN)
    found = cal.instances(local(BERLIN, 2026, 3, 3, 2), local(BERLIN, 2026, 3, 3, 3))
    assert [(i.name, i.business_date) for i in found] == [("Night", dt.date(2026, 3, 2))]


def test_instances_window_is_half_open() -> None:
    cal = ShiftCalendar([shift("Early", "06:00", "14:00")], BERLIN)
    assert cal.instances(local(BERLIN, 2026, 3, 2, 14), local(BERLIN, 2026, 3, 2, 15)) == []
    assert cal.instances(local(BERLIN, 2026, 3, 2, 5), local(BERLIN, 2026, 3, 2, 6)) == []
    assert len(cal.instances(local(BERLIN, 2026, 3, 2, 13, 59), local(BERLIN, 2026, 3, 2, 14))) == 1


def test_empty_query_returns_nothing_and_reversed_query_raises() -> None:
    cal = three_shifts(BERLIN)
    t = utc(2026, 3, 2, 10)
    assert cal.instances(t, t) == []
    assert cal.business_days(t, t) == []
    with pytest.raises(ValueError, match="before start"):
        cal.instances(t, t - 1)
    with pytest.raises(ValueError, match="before start"):
        cal.business_days(t, t - 1)
    with pytest.raises(ValueError, match="nan"):
        cal.business_date(float("nan"))


# --- DST ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "night_of", "hours"),
    [
        (BERLIN, dt.date(2026, 3, 28), 7),
        (BERLIN, dt.date(2026, 10, 24), 9),
        (BERLIN, dt.date(2026, 3, 2), 8),
        (CHICAGO, dt.date(2026, 3, 7), 7),
        (CHICAGO, dt.date(2026, 10, 31), 9),
        (CHICAGO, dt.date(2026, 3, 2), 8),
    ],
    ids=[
        "berlin-spring",
        "berlin-autumn",
        "berlin-normal",
        "chicago-spring",
        "chicago-autumn",
        "chicago-normal",
    ],
)
def test_night_shift_lasts_elapsed_hours_across_dst_change(
    tz: ZoneInfo, night_of: dt.date, hours: int
) -> None:
    cal = ShiftCalendar([shift("Night", "22:00", "06:00")], tz)
    inst = only(cal, "Night", night_of)
    assert inst.end - inst.start == hours * HOUR
    assert inst.planned_seconds == hours * HOUR


def test_berlin_dst_nights_start_and_end_at_the_expected_utc_instants() -> None:
    cal = ShiftCalendar([shift("Night", "22:00", "06:00")], BERLIN)
    spring = only(cal, "Night", dt.date(2026, 3, 28))
    autumn = only(cal, "Night", dt.date(2026, 10, 24))
    assert (spring.start, spring.end) == (utc(2026, 3, 28, 21), utc(2026, 3, 29, 4))
    assert (autumn.start, autumn.end) == (utc(2026, 10, 24, 20), utc(2026, 10, 25, 5))


def test_nonexistent_local_time_in_spring_gap_resolves_forward() -> None:
    cal = ShiftCalendar([shift("Odd", "02:30", "10:00")], BERLIN)
    inst = only(cal, "Odd", dt.date(2026, 3, 29))
    assert inst.start == utc(2026, 3, 29, 1, 30)  # 03:30 CEST
    assert inst.end == utc(2026, 3, 29, 8)


def test_ambiguous_local_time_in_autumn_fold_resolves_to_first_occurrence() -> None:
    cal = ShiftCalendar([shift("Odd", "02:30", "10:00")], BERLIN)
    inst = only(cal, "Odd", dt.date(2026, 10, 25))
    assert inst.start == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, not 02:30 CET
    assert inst.end - inst.start == 8.5 * HOUR


def test_caller_fold_1_is_ignored_so_ambiguous_times_still_resolve_to_first_occurrence() -> None:
    cal = ShiftCalendar([ShiftDefinition("Odd", dt.time(2, 30, fold=1), dt.time(10), ALL_DAYS)], BERLIN)
    assert only(cal, "Odd", dt.date(2026, 10, 25)).start == utc(2026, 10, 25, 0, 30)


def test_shift_whose_start_resolves_past_its_end_in_the_spring_gap_has_no_instance_that_day() -> None:
    # 02:30 resolves forward to 03:30 CEST, after the 03:10 CEST end, so no elapsed time remains.
    cal = ShiftCalendar([shift("Ghost", "02:30", "03:10")], BERLIN)
    assert cal.instances(local(BERLIN, 2026, 3, 29), local(BERLIN, 2026, 3, 30)) == []
    assert len(cal.instances(local(BERLIN, 2026, 3, 30), local(BERLIN, 2026, 3, 31))) == 1


@pytest.mark.parametrize(
    ("tz", "date", "hours"),
    [
        (BERLIN, dt.date(2026, 3, 28), 23),  # 06:00 Sat .. 06:00 Sun spans the 02:00 spring change
        (BERLIN, dt.date(2026, 3, 29), 24),
        (BERLIN, dt.date(2026, 10, 24), 25),
        (BERLIN, dt.date(2026, 6, 1), 24),
        (CHICAGO, dt.date(2026, 3, 7), 23),
        (CHICAGO, dt.date(2026, 10, 31), 25),
    ],
)
def test_business_day_length_is_elapsed_23_24_or_25_hours(tz: ZoneInfo, date: dt.date, hours: int) -> None:
    cal = three_shifts(tz)
    assert cal.day_start == dt.time(6)
    assert cal.business_day(date).duration == hours * HOUR


def test_business_day_with_midnight_day_start_is_short_on_the_change_date_itself() -> None:
    cal = ShiftCalendar([], BERLIN)
    assert cal.day_start == dt.time(0)
    assert cal.business_day(dt.date(2026, 3, 29)).duration == 23 * HOUR
    assert cal.business_day(dt.date(2026, 10, 25)).duration == 25 * HOUR


# --- business dates -------------------------------------------------------------------------------


def test_day_start_defaults_to_earliest_shift_start() -> None:
    cal = ShiftCalendar([shift("Late", "14:00", "22:00"), shift("Early", "05:30", "14:00")], BERLIN)
    assert cal.day_start == dt.time(5, 30)
    assert cal.tz is BERLIN


def test_business_date_switches_exactly_at_day_start() -> None:
    cal = three_shifts(BERLIN)
    boundary = local(BERLIN, 2026, 3, 3, 6)
    assert cal.business_date(boundary - 1) == dt.date(2026, 3, 2)
    assert cal.business_date(boundary) == dt.date(2026, 3, 3)
    assert cal.business_day(dt.date(2026, 3, 3)).start == boundary


def test_business_date_after_midnight_but_before_day_start_is_the_previous_date() -> None:
    cal = three_shifts(BERLIN)
    assert cal.business_date(local(BERLIN, 2026, 3, 3, 0, 30)) == dt.date(2026, 3, 2)


def test_business_days_lists_every_date_whose_window_overlaps() -> None:
    cal = three_shifts(BERLIN)
    days = cal.business_days(local(BERLIN, 2026, 3, 2, 5), local(BERLIN, 2026, 3, 4, 6))
    assert days == [dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)]


def test_business_day_rejects_a_datetime() -> None:
    cal = three_shifts(BERLIN)
    with pytest.raises(ValueError, match=r"datetime\.datetime\(2026, 3, 2, 12"):
        cal.business_day(dt.datetime(2026, 3, 2, 12))


# --- breaks ---------------------------------------------------------------------------------------


def test_midpoint_break_starts_at_elapsed_midpoint_and_reduces_planned_seconds() -> None:
    cal = ShiftCalendar([shift("Early", "06:00", "14:00", break_minutes=30)], BERLIN)
    inst = only(cal, "Early", dt.date(2026, 3, 2))
    assert inst.breaks == (Window(local(BERLIN, 2026, 3, 2, 10), local(BERLIN, 2026, 3, 2, 10, 30)),)
    assert inst.planned_seconds == 7.5 * HOUR


def test_midpoint_break_start_is_floored_to_a_whole_minute() -> None:
    cal = ShiftCalendar([shift("Odd", "06:00", "13:01", break_minutes=15)], BERLIN)
    inst = only(cal, "Odd", dt.date(2026, 3, 2))
    # Elapsed midpoint is 09:30:30 local; the break starts at 09:30:00.
    assert inst.breaks[0].start == local(BERLIN, 2026, 3, 2, 9, 30)
    assert inst.breaks[0].start % 60 == 0


@pytest.mark.parametrize(
    ("night_of", "break_start_utc"),
    [(dt.date(2026, 3, 28), utc(2026, 3, 29, 0, 30)), (dt.date(2026, 10, 24), utc(2026, 10, 25, 0, 30))],
    ids=["spring-7h", "autumn-9h"],
)
def test_midpoint_break_of_a_dst_night_sits_at_the_elapsed_midpoint(
    night_of: dt.date, break_start_utc: float
) -> None:
    cal = ShiftCalendar([shift("Night", "22:00", "06:00", break_minutes=30)], BERLIN)
    inst = only(cal, "Night", night_of)
    assert inst.breaks == (Window(break_start_utc, break_start_utc + 1800),)
    assert inst.planned_seconds == inst.end - inst.start - 1800


def test_explicit_breaks_are_placed_at_wall_times_including_after_midnight() -> None:
    breaks = (brk("02:00", 30), brk("23:45", 15))
    cal = ShiftCalendar([shift("Night", "22:00", "06:00", breaks=breaks, break_minutes=45)], BERLIN)
    inst = only(cal, "Night", dt.date(2026, 3, 2))
    assert inst.breaks == (
        Window(local(BERLIN, 2026, 3, 2, 23, 45), local(BERLIN, 2026, 3, 3)),
        Window(local(BERLIN, 2026, 3, 3, 2), local(BERLIN, 2026, 3, 3, 2, 30)),
    )
    assert inst.planned_seconds == 8 * HOUR - 45 * 60


def test_explicit_break_in_spring_gap_resolves_forward_and_stays_inside_the_shift() -> None:
    cal = ShiftCalendar([shift("Night", "22:00", "06:00", breaks=(brk("02:30", 30),))], BERLIN)
    inst = only(cal, "Night", dt.date(2026, 3, 28))
    assert inst.breaks == (Window(utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2)),)  # 03:30–04:00 CEST
    assert inst.planned_seconds == 6.5 * HOUR


def test_in_break_returns_the_containing_break_with_half_open_bounds() -> None:
    cal = ShiftCalendar(
        [shift("Early", "06:00", "14:00", breaks=(brk("09:00", 15), brk("12:00", 30)))], BERLIN
    )
    inst = only(cal, "Early", dt.date(2026, 3, 2))
    first, second = inst.breaks
    assert inst.in_break(first.start) == first
    assert inst.in_break(first.end - 0.001) == first
    assert inst.in_break(first.end) is None
    assert inst.in_break(second.start + 60) == second
    assert inst.in_break(inst.start) is None


def test_window_duration_and_overlap() -> None:
    w = Window(100.0, 200.0)
    assert w.duration == 100.0
    assert w.overlap(150.0, 400.0) == 50.0
    assert w.overlap(0.0, 1000.0) == 100.0
    assert w.overlap(200.0, 300.0) == 0.0
    assert w.overlap(300.0, 250.0) == 0.0
    with pytest.raises(ValueError, match="99"):
        Window(100.0, 99.0)


# --- validation -----------------------------------------------------------------------------------


def test_overlapping_shift_instances_raise_naming_both_shifts_and_the_date() -> None:
    cal = ShiftCalendar([shift("Late", "14:00", "22:30"), shift("Night", "22:00", "06:00")], BERLIN)
    with pytest.raises(ValueError, match=r"shift 'Night' overlaps shift 'Late' on 2026-03-02"):
        cal.instances(local(BERLIN, 2026, 3, 2, 12), local(BERLIN, 2026, 3, 2, 23))


def test_shifts_that_only_touch_do_not_overlap() -> None:
    cal = three_shifts(BERLIN)
    assert len(cal.instances(local(BERLIN, 2026, 3, 28), local(BERLIN, 2026, 3, 30))) == 7


@pytest.mark.parametrize(
    ("breaks", "message"),
    [
        ((brk("15:00", 30),), "break at 15:00:00 \\(30 min\\) of shift 'Early' is outside"),
        ((brk("13:45", 30),), "break at 13:45:00 \\(30 min\\) of shift 'Early' is outside"),
        ((brk("05:30", 15),), "break at 05:30:00 \\(15 min\\) of shift 'Early' is outside"),
    ],
    ids=["after-end", "crosses-end", "before-start"],
)
def test_break_outside_its_shift_raises(breaks: tuple[BreakDefinition, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ShiftCalendar([shift("Early", "06:00", "14:00", breaks=breaks)], BERLIN)


@pytest.mark.parametrize(
    ("shifts", "message"),
    [
        ([shift("", "06:00", "14:00")], "non-empty"),
        ([shift("A", "06:00", "14:00"), shift("A", "14:00", "22:00")], "'A' is defined more than once"),
        ([shift("A", "06:00", "14:00", frozenset())], "shift 'A' has no days"),
        ([shift("A", "06:00", "14:00", frozenset({7}))], r"days \[7\]"),
        ([shift("A", "06:00", "14:00", breaks=(brk("09:00", 0),))], "got 0"),
        ([shift("A", "06:00", "14:00", breaks=(brk("09:00", 30), brk("09:15", 10)))], "09:15:00 .* overlaps"),
        ([shift("A", "06:00", "14:00", break_minutes=20, breaks=(brk("09:00", 30),))], "break_minutes 20"),
        ([shift("A", "06:00", "14:00", break_minutes=-5)], "got -5"),
        ([shift("A", "06:00", "14:00", break_minutes=300)], "break_minutes 300"),
        ([ShiftDefinition("A", dt.time(6, tzinfo=dt.UTC), dt.time(14), ALL_DAYS)], "06:00:00\\+00:00"),
    ],
    ids=[
        "empty-name",
        "duplicate-name",
        "no-days",
        "day-7",
        "zero-break",
        "breaks-overlap",
        "break-total-mismatch",
        "negative-break-minutes",
        "midpoint-break-too-long",
        "aware-time",
    ],
)
def test_invalid_definitions_raise_naming_the_bad_value(shifts: list[ShiftDefinition], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ShiftCalendar(shifts, BERLIN)


def test_day_start_later_than_a_shift_start_raises() -> None:
    with pytest.raises(
        ValueError, match="day_start 07:00:00 is later than the start 06:00:00 of shift 'Early'"
    ):
        ShiftCalendar([shift("Early", "06:00", "14:00")], BERLIN, day_start=dt.time(7))


def test_explicit_break_minutes_equal_to_their_total_is_accepted() -> None:
    cal = ShiftCalendar([shift("A", "06:00", "14:00", break_minutes=30, breaks=(brk("09:00", 30),))], BERLIN)
    assert only(cal, "A", dt.date(2026, 3, 2)).planned_seconds == 7.5 * HOUR


# --- properties -----------------------------------------------------------------------------------

ZONES = ["Europe/Berlin", "America/Chicago", "Australia/Sydney", "Australia/Lord_Howe", "America/Santiago"]
CALENDARS = {
    "06-14-22": [("Early", "06:00", "14:00"), ("Late", "14:00", "22:00"), ("Night", "22:00", "06:00")],
    "00-08-16": [("A", "00:00", "08:00"), ("B", "08:00", "16:00"), ("C", "16:00", "00:00")],
    "02:30": [("Odd", "02:30", "12:00"), ("Eve", "18:00", "02:30")],
}


@settings(max_examples=300, deadline=None, database=None)
@given(
    date=st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2026, 12, 31)),
    zone=st.sampled_from(ZONES),
    layout=st.sampled_from(sorted(CALENDARS)),
)
def test_business_days_tile_time_and_instances_belong_to_the_business_date_of_their_start(
    date: dt.date, zone: str, layout: str
) -> None:
    cal = ShiftCalendar([shift(*spec) for spec in CALENDARS[layout]], ZoneInfo(zone))
    day = cal.business_day(date)
    following = cal.business_day(date + dt.timedelta(days=1))
    assert day.end == following.start
    assert day.duration > 0
    assert cal.business_date(day.start) == date
    assert cal.business_date(day.end - 1) == date
    assert cal.business_days(day.start, day.end) == [date]
    for inst in cal.instances(day.start - 86_400, day.end + 86_400):
        assert inst.business_date == cal.business_date(inst.start)
        assert inst.start < inst.end
        assert all(inst.start <= b.start < b.end <= inst.end for b in inst.breaks)
