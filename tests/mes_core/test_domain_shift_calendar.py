"""mes_core.domain.shift_calendar: shift instances, breaks, exceptions, business days, buckets and DST."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mes_core.domain.shift_calendar import (
    WEEKDAYS,
    BreakDef,
    CalendarError,
    CalendarException,
    ShiftCalendar,
    ShiftDef,
    ShiftInstance,
    Span,
)
from twin import shift_calendar as twin_calendar

BERLIN = "Europe/Berlin"
HOUR = 3600.0
MON_FRI = frozenset(WEEKDAYS[:5])
EVERY_DAY = frozenset(WEEKDAYS)


def local(y: int, mo: int, d: int, h: int = 0, mi: int = 0, zone: str = BERLIN) -> float:
    return dt.datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(zone)).timestamp()


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> float:
    return dt.datetime(y, mo, d, h, mi, tzinfo=dt.UTC).timestamp()


def shift(
    name: str,
    start: str,
    end: str,
    days: frozenset[str] = EVERY_DAY,
    break_minutes: int = 0,
    breaks: tuple[BreakDef, ...] = (),
) -> ShiftDef:
    return ShiftDef(
        name, dt.time.fromisoformat(start), dt.time.fromisoformat(end), days, break_minutes, breaks
    )


def brk(start: str, minutes: int) -> BreakDef:
    return BreakDef(dt.time.fromisoformat(start), minutes)


def exception(
    kind: str, start: str, end: str, name: str = "", machine_id: str | None = None
) -> CalendarException:
    return CalendarException(
        kind,  # type: ignore[arg-type]
        dt.datetime.fromisoformat(start),
        dt.datetime.fromisoformat(end),
        name,
        machine_id,
    )


def seed_shifts(days: frozenset[str] = MON_FRI) -> list[ShiftDef]:
    return [
        shift("Early", "06:00", "14:00", days, 30),
        shift("Late", "14:00", "22:00", days, 30),
        shift("Night", "22:00", "06:00", days, 30),
    ]


def seed(**kwargs: object) -> ShiftCalendar:
    return ShiftCalendar(seed_shifts(), BERLIN, **kwargs)  # type: ignore[arg-type]


def hours(spans: list[Span]) -> float:
    return sum(e - s for s, e in spans) / HOUR


def named(instances: list[ShiftInstance]) -> list[tuple[str, dt.date]]:
    return [(i.name, i.business_date) for i in instances]


# --- instances and breaks -------------------------------------------------------------------------


def test_seed_three_shifts_give_8h_instances_with_7_5h_scheduled() -> None:
    cal = seed()
    week = (local(2026, 3, 2, 6), local(2026, 3, 7, 6))  # Monday 06:00 to Saturday 06:00
    found = cal.instances(*week)
    assert len(found) == 15
    assert {i.end - i.start for i in found} == {8 * HOUR}
    assert all(sum(e - s for s, e in i.breaks) == 1800 for i in found)
    assert hours(cal.scheduled(*week)) == 15 * 7.5
    assert hours(cal.break_spans(*week)) == 15 * 0.5
    early = found[0]
    assert early.breaks == ((local(2026, 3, 2, 10), local(2026, 3, 2, 10, 30)),)  # at the midpoint
    assert not early.extra


def test_overnight_shift_belongs_to_the_business_date_it_began() -> None:
    cal = seed()
    friday_night = cal.current(local(2026, 3, 7, 3))  # Saturday 03:00, though Saturday has no shifts
    assert friday_night is not None
    assert (friday_night.name, friday_night.business_date) == ("Night", dt.date(2026, 3, 6))
    assert friday_night.end == local(2026, 3, 7, 6)


def test_current_is_the_instance_containing_the_instant_half_open() -> None:
    cal = seed()
    at_change = cal.current(local(2026, 3, 2, 14))
    assert at_change is not None
    assert at_change.name == "Late"
    assert cal.current(local(2026, 3, 2, 5, 59)) is None  # Monday before 06:00: Sunday had no night shift
    assert cal.current(local(2026, 3, 7, 12)) is None


def test_shift_spans_lists_each_instance_of_one_shift_clipped_to_the_window() -> None:
    cal = seed()
    spans = cal.shift_spans("Night", local(2026, 3, 3, 0), local(2026, 3, 4, 23))
    assert spans == [
        (local(2026, 3, 3, 0), local(2026, 3, 3, 6)),
        (local(2026, 3, 3, 22), local(2026, 3, 4, 6)),
        (local(2026, 3, 4, 22), local(2026, 3, 4, 23)),
    ]
    assert cal.shift_spans("Nope", local(2026, 3, 3), local(2026, 3, 4)) == []


def test_explicit_breaks_are_placed_at_their_wall_times_including_after_midnight() -> None:
    night = shift("Night", "22:00", "06:00", breaks=(brk("23:45", 15), brk("02:00", 30)), break_minutes=45)
    cal = ShiftCalendar([night], BERLIN)
    (inst,) = cal.instances(local(2026, 3, 2, 23), local(2026, 3, 2, 23, 1))
    assert inst.breaks == (
        (local(2026, 3, 2, 23, 45), local(2026, 3, 3)),
        (local(2026, 3, 3, 2), local(2026, 3, 3, 2, 30)),
    )


def test_break_policy_loss_keeps_break_time_scheduled() -> None:
    cal = seed(break_policy="loss")
    day = (local(2026, 3, 2, 6), local(2026, 3, 2, 14))
    assert cal.break_policy == "loss"
    assert cal.scheduled(*day) == [day]
    assert cal.break_spans(*day) == [(local(2026, 3, 2, 10), local(2026, 3, 2, 10, 30))]


def test_adjacent_instances_merge_into_one_scheduled_span() -> None:
    cal = ShiftCalendar(seed_shifts(EVERY_DAY)[:2], BERLIN, break_policy="loss")
    assert cal.scheduled(local(2026, 3, 2), local(2026, 3, 3)) == [
        (local(2026, 3, 2, 6), local(2026, 3, 2, 22))
    ]


# --- DST --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("night_of", "length", "utc_span"),
    [
        (dt.date(2026, 3, 28), 7, (utc(2026, 3, 28, 21), utc(2026, 3, 29, 4))),
        (dt.date(2026, 10, 24), 9, (utc(2026, 10, 24, 20), utc(2026, 10, 25, 5))),
        (dt.date(2026, 3, 2), 8, (utc(2026, 3, 2, 21), utc(2026, 3, 3, 5))),
    ],
    ids=["spring-7h", "autumn-9h", "normal-8h"],
)
def test_night_shift_lasts_elapsed_7h_and_9h_across_berlin_dst_changes(
    night_of: dt.date, length: int, utc_span: Span
) -> None:
    cal = ShiftCalendar([shift("Night", "22:00", "06:00", break_minutes=30)], BERLIN)
    start = local(night_of.year, night_of.month, night_of.day, 23)
    (inst,) = cal.instances(start, start + 1)
    assert (inst.start, inst.end) == utc_span
    assert inst.end - inst.start == length * HOUR
    assert hours(cal.scheduled(inst.start, inst.end)) == length - 0.5


def test_nonexistent_start_moves_forward_and_ambiguous_start_takes_the_first_occurrence() -> None:
    cal = ShiftCalendar([shift("Odd", "02:30", "10:00")], BERLIN)
    spring = cal.current(utc(2026, 3, 29, 5))
    autumn = cal.current(utc(2026, 10, 25, 5))
    assert spring is not None
    assert autumn is not None
    assert spring.start == utc(2026, 3, 29, 1, 30)  # 02:30 does not exist: 03:30 CEST
    assert autumn.start == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, not 02:30 CET


@pytest.mark.parametrize(
    ("day_start", "date", "length"),
    [
        ("00:00", dt.date(2026, 3, 29), 23),
        ("00:00", dt.date(2026, 10, 25), 25),
        ("06:00", dt.date(2026, 3, 28), 23),  # Saturday 06:00 to Sunday 06:00 holds the spring change
        ("06:00", dt.date(2026, 10, 24), 25),
        ("06:00", dt.date(2026, 3, 29), 24),
    ],
)
def test_business_days_last_23h_and_25h_on_dst_change_days(
    day_start: str, date: dt.date, length: int
) -> None:
    cal = ShiftCalendar(seed_shifts(), BERLIN, day_start=dt.time.fromisoformat(day_start))
    start, end = cal.business_day(date)
    assert end - start == length * HOUR
    assert cal.business_date(start) == date
    assert cal.business_date(end - 1) == date


def test_business_date_before_day_start_is_the_previous_date() -> None:
    cal = seed(day_start=dt.time(6))
    assert cal.day_start == dt.time(6)
    assert cal.business_date(local(2026, 3, 3, 5, 59)) == dt.date(2026, 3, 2)
    assert cal.business_date(local(2026, 3, 3, 6)) == dt.date(2026, 3, 3)
    assert cal.business_days(local(2026, 3, 2, 5), local(2026, 3, 3, 7)) == [
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 2),
        dt.date(2026, 3, 3),
    ]


def test_local_hour_buckets_skip_the_spring_gap_and_split_the_repeated_autumn_hour() -> None:
    cal = seed()
    spring = cal.local_buckets(local(2026, 3, 29, 1), local(2026, 3, 29, 4), "hour")
    assert [label for label, _ in spring] == ["2026-03-29T01:00", "2026-03-29T03:00"]
    autumn = cal.local_buckets(utc(2026, 10, 24, 23), utc(2026, 10, 25, 2), "hour")
    assert autumn == [
        ("2026-10-25T01:00", (utc(2026, 10, 24, 23), utc(2026, 10, 25, 0))),
        ("2026-10-25T02:00+02:00", (utc(2026, 10, 25, 0), utc(2026, 10, 25, 1))),
        ("2026-10-25T02:00+01:00", (utc(2026, 10, 25, 1), utc(2026, 10, 25, 2))),
    ]
    # The label of the second 02:00 does not depend on whether the window also holds the first one.
    assert cal.local_buckets(utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 1, 40), "hour") == [
        ("2026-10-25T02:00+01:00", (utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 1, 40)))
    ]


def test_local_hour_buckets_follow_a_half_hour_dst_change() -> None:
    cal = ShiftCalendar([], "Australia/Lord_Howe")  # 02:00 +11:00 becomes 01:30 +10:30 on 2026-04-05
    start = local(2026, 4, 5, 0, zone="Australia/Lord_Howe")
    found = [(label, (e - s) / 60) for label, (s, e) in cal.local_buckets(start, start + 4 * HOUR, "hour")]
    assert found == [
        ("2026-04-05T00:00", 60),
        ("2026-04-05T01:00+11:00", 60),
        ("2026-04-05T01:00+10:30", 30),
        ("2026-04-05T02:00", 60),
        ("2026-04-05T03:00", 30),
    ]


def test_local_day_week_and_month_buckets_follow_day_start_and_last_elapsed_time() -> None:
    cal = seed(day_start=dt.time(6))
    window = (local(2026, 3, 28, 12), local(2026, 4, 1, 6))
    days = cal.local_buckets(*window, "day")
    assert [label for label, _ in days] == ["2026-03-28", "2026-03-29", "2026-03-30", "2026-03-31"]
    assert days[0][1] == (window[0], local(2026, 3, 29, 6))  # clipped to the window
    assert days[1][1] == (local(2026, 3, 29, 6), local(2026, 3, 30, 6))
    weeks = cal.local_buckets(local(2026, 3, 23, 6), local(2026, 3, 30, 7), "week")
    assert [(label, (e - s) / HOUR) for label, (s, e) in weeks] == [("2026-W13", 167), ("2026-W14", 1)]
    months = cal.local_buckets(local(2026, 3, 1, 6), local(2026, 11, 1, 6), "month")
    lengths = {label: (e - s) / HOUR for label, (s, e) in months}
    assert lengths["2026-03"] == 31 * 24 - 1
    assert lengths["2026-10"] == 31 * 24 + 1
    assert lengths["2026-06"] == 30 * 24
    assert len(months) == 8
    with pytest.raises(CalendarError, match="'year'"):
        cal.local_buckets(*window, "year")  # type: ignore[arg-type]


# --- exceptions ---------------------------------------------------------------------------------------


def test_holiday_cancels_the_instances_that_start_inside_it() -> None:
    cal = seed(exceptions=[exception("holiday", "2026-03-04T00:00", "2026-03-05T00:00", "Ash Wednesday")])
    found = named(cal.instances(local(2026, 3, 3, 12), local(2026, 3, 5, 12)))
    assert found == [
        ("Early", dt.date(2026, 3, 3)),
        ("Late", dt.date(2026, 3, 3)),
        ("Night", dt.date(2026, 3, 3)),  # began Tuesday 22:00, before the holiday: it runs
        ("Early", dt.date(2026, 3, 5)),
    ]
    assert cal.scheduled(local(2026, 3, 4, 6), local(2026, 3, 5, 0)) == []


def test_planned_downtime_removes_time_even_from_an_extra_shift() -> None:
    cal = seed(
        exceptions=[
            exception("extra_shift", "2026-03-07T06:00", "2026-03-07T12:00", "Saturday"),
            exception("planned_downtime", "2026-03-07T08:00", "2026-03-07T10:00", "maintenance"),
        ]
    )
    saturday = (local(2026, 3, 7, 6), local(2026, 3, 8))
    assert cal.scheduled(*saturday) == [
        (local(2026, 3, 7, 6), local(2026, 3, 7, 8)),
        (local(2026, 3, 7, 10), local(2026, 3, 7, 12)),
    ]
    assert cal.planned_downtime_spans(*saturday) == [(local(2026, 3, 7, 8), local(2026, 3, 7, 10))]


def test_planned_downtime_takes_precedence_over_a_break_and_ignores_time_outside_shifts() -> None:
    cal = seed(exceptions=[exception("planned_downtime", "2026-03-02T04:00", "2026-03-02T10:15")])
    day = (local(2026, 3, 2), local(2026, 3, 2, 14))
    assert cal.planned_downtime_spans(*day) == [(local(2026, 3, 2, 6), local(2026, 3, 2, 10, 15))]
    assert cal.break_spans(*day) == [(local(2026, 3, 2, 10, 15), local(2026, 3, 2, 10, 30))]
    assert cal.scheduled(*day) == [(local(2026, 3, 2, 10, 30), local(2026, 3, 2, 14))]


def test_extra_shift_adds_an_instance_without_breaks() -> None:
    cal = seed(exceptions=[exception("extra_shift", "2026-03-07T06:00", "2026-03-07T14:00", "Overtime")])
    (inst,) = cal.instances(local(2026, 3, 7, 6), local(2026, 3, 7, 22))
    assert inst == ShiftInstance(
        "Overtime", dt.date(2026, 3, 7), local(2026, 3, 7, 6), local(2026, 3, 7, 14), (), extra=True
    )
    assert cal.current(local(2026, 3, 7, 9)) == inst
    assert cal.shift_names == ("Early", "Late", "Night", "Overtime")


def test_extra_shift_overlapping_a_live_regular_instance_is_refused() -> None:
    with pytest.raises(CalendarError, match=r"extra shift 'Overtime' .* overlaps shift 'Late' of 2026-03-06"):
        seed(exceptions=[exception("extra_shift", "2026-03-06T20:00", "2026-03-06T23:00", "Overtime")])


def test_extra_shift_may_replace_instances_a_holiday_cancels() -> None:
    cal = seed(
        exceptions=[
            exception("holiday", "2026-03-06T14:00", "2026-03-07T00:00"),
            exception("extra_shift", "2026-03-06T18:00", "2026-03-07T02:00", "Short night"),
        ]
    )
    found = named(cal.instances(local(2026, 3, 6, 6), local(2026, 3, 7, 6)))
    assert found == [("Early", dt.date(2026, 3, 6)), ("Short night", dt.date(2026, 3, 6))]


def test_extra_shifts_overlapping_each_other_are_refused() -> None:
    with pytest.raises(CalendarError, match="extra shift 'B' overlaps extra shift 'A' on 2026-03-07"):
        seed(
            exceptions=[
                exception("extra_shift", "2026-03-07T06:00", "2026-03-07T12:00", "A"),
                exception("extra_shift", "2026-03-07T11:00", "2026-03-07T15:00", "B"),
            ]
        )


def test_machine_scoped_exceptions_apply_only_to_that_machine() -> None:
    cal = seed(
        exceptions=[
            exception("holiday", "2026-03-04T00:00", "2026-03-05T00:00", machine_id="M1"),
            exception("planned_downtime", "2026-03-05T06:00", "2026-03-05T08:00", machine_id="M2"),
            exception("extra_shift", "2026-03-07T06:00", "2026-03-07T12:00", "Overtime", machine_id="M1"),
        ]
    )
    week = (local(2026, 3, 2, 6), local(2026, 3, 8))
    assert len(cal.instances(*week, machine_id="M1")) == 15 - 3 + 1
    assert len(cal.instances(*week, machine_id="M2")) == 15
    assert len(cal.instances(*week)) == 15  # the tenant-wide view
    assert len(cal.instances(*week, machine_id="M3")) == 15
    assert hours(cal.scheduled(*week, machine_id="M2")) == 15 * 7.5 - 2
    assert hours(cal.scheduled(*week, machine_id="M1")) == 12 * 7.5 + 6
    assert cal.planned_downtime_spans(*week, machine_id="M1") == []


def test_machine_scoped_holiday_does_not_free_the_tenant_for_an_extra_shift() -> None:
    holiday = exception("holiday", "2026-03-06T00:00", "2026-03-07T00:00", machine_id="M1")
    with pytest.raises(CalendarError, match="for every machine"):
        seed(exceptions=[holiday, exception("extra_shift", "2026-03-06T07:00", "2026-03-06T09:00", "X")])
    cal = seed(
        exceptions=[holiday, exception("extra_shift", "2026-03-06T07:00", "2026-03-06T09:00", "X", "M1")]
    )
    assert [i.name for i in cal.instances(local(2026, 3, 6, 6), local(2026, 3, 6, 12), "M1")] == ["X"]


# --- validation ---------------------------------------------------------------------------------------


def test_overlapping_definitions_are_refused_with_a_message_naming_both_shifts() -> None:
    shifts = [shift("Late", "14:00", "22:30", MON_FRI), shift("Night", "22:00", "06:00", frozenset({"fri"}))]
    with pytest.raises(CalendarError, match="shift 'Night' overlaps shift 'Late' on fri"):
        ShiftCalendar(shifts, BERLIN)


def test_overlap_across_the_week_end_is_found_from_the_weekday_pattern() -> None:
    shifts = [
        shift("Sunday night", "22:00", "07:00", frozenset({"sun"})),
        shift("Early", "06:00", "14:00", MON_FRI),
    ]
    with pytest.raises(CalendarError, match="shift 'Early' overlaps shift 'Sunday night' on mon"):
        ShiftCalendar(shifts, BERLIN)


def test_definitions_overlapping_only_in_a_spring_gap_are_refused_when_that_night_is_queried() -> None:
    cal = ShiftCalendar([shift("A", "22:00", "02:45"), shift("B", "03:00", "10:00")], BERLIN)
    assert len(cal.instances(local(2026, 3, 2), local(2026, 3, 3))) == 3
    with pytest.raises(CalendarError, match="shift 'B' overlaps shift 'A' on 2026-03-29"):
        cal.instances(local(2026, 3, 29), local(2026, 3, 29, 12))


@pytest.mark.parametrize(
    ("shifts", "kwargs", "message"),
    [
        (seed_shifts(), {"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        (
            [shift("A", "06:00", "14:00", frozenset({"monday"}))],
            {},
            "shift 'A' has unknown weekdays 'monday'",
        ),
        ([shift("A", "06:00", "14:00", frozenset())], {}, "shift 'A' has no days"),
        (
            [shift("A", "06:00", "14:00", breaks=(brk("13:45", 30),))],
            {},
            "break at 13:45 .* 'A' lies outside",
        ),
        ([shift("A", "22:00", "06:00", breaks=(brk("07:00", 5),))], {}, "break at 07:00 .* 'A' lies outside"),
        (
            [shift("A", "06:00", "14:00", breaks=(brk("09:00", 30), brk("09:15", 5)))],
            {},
            "09:15 of shift 'A' over",
        ),
        (
            [shift("A", "06:00", "14:00", break_minutes=300)],
            {},
            "break_minutes 300 of shift 'A' does not fit",
        ),
        (
            [shift("A", "06:00", "14:00", break_minutes=9, breaks=(brk("09:00", 5),))],
            {},
            "break_minutes 9 .* 5",
        ),
        ([shift("A", "06:00", "14:00", break_minutes=-1)], {}, "break_minutes of shift 'A' must be"),
        ([shift("A", "06:00", "14:00"), shift("A", "14:00", "22:00")], {}, "'A' is defined more than once"),
        ([shift("", "06:00", "14:00")], {}, "non-empty"),
        (seed_shifts(), {"day_start": dt.time(7)}, "day_start 07:00 is later than .* 'Early'"),
        (seed_shifts(), {"break_policy": "ignore"}, "break_policy"),
    ],
    ids=[
        "unknown-zone",
        "bad-weekday",
        "no-days",
        "break-past-end",
        "break-after-overnight-end",
        "breaks-overlap",
        "break-minutes-too-long",
        "break-minutes-mismatch",
        "negative-break-minutes",
        "duplicate-name",
        "empty-name",
        "day-start-after-a-shift-start",
        "unknown-break-policy",
    ],
)
def test_invalid_definitions_raise_calendar_error_naming_what_is_wrong(
    shifts: list[ShiftDef], kwargs: dict[str, object], message: str
) -> None:
    zone = kwargs.pop("timezone", BERLIN)
    with pytest.raises(CalendarError, match=message):
        ShiftCalendar(shifts, zone, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (
            exception("holiday", "2026-03-04T00:00", "2026-03-04T00:00", "X"),
            "end 2026-03-04T00:00:00 of holiday",
        ),
        (exception("extra_shift", "2026-03-07T06:00", "2026-03-07T08:00"), "extra_shift .* needs a name"),
        (exception("downtime", "2026-03-07T06:00", "2026-03-07T08:00"), "kind must be one of"),
        (exception("planned_downtime", "2026-03-29T02:30", "2026-03-29T03:10", "gap"), "no elapsed time"),
        (
            CalendarException("holiday", dt.datetime(2026, 3, 4, tzinfo=dt.UTC), dt.datetime(2026, 3, 5)),
            "start of holiday exception must be a naive local datetime",
        ),
    ],
    ids=["end-not-after-start", "extra-without-name", "unknown-kind", "inside-spring-gap", "aware-start"],
)
def test_invalid_exceptions_raise_calendar_error_naming_what_is_wrong(
    exc: CalendarException, message: str
) -> None:
    with pytest.raises(CalendarError, match=message):
        seed(exceptions=[exc])


def test_query_bounds_must_be_finite_and_ordered() -> None:
    cal = seed()
    t = local(2026, 3, 2, 10)
    assert cal.instances(t, t) == []
    assert cal.scheduled(t, t) == []
    with pytest.raises(CalendarError, match="before start"):
        cal.scheduled(t, t - 1)
    with pytest.raises(CalendarError, match="nan"):
        cal.business_date(math.nan)
    with pytest.raises(CalendarError, match=r"datetime\.date"):
        cal.business_day(dt.datetime(2026, 3, 2, 12))


def test_calendar_error_is_a_value_error() -> None:
    assert issubclass(CalendarError, ValueError)
    assert seed().timezone == BERLIN


# --- properties ---------------------------------------------------------------------------------------

ZONES = ["Europe/Berlin", "America/Chicago", "Australia/Lord_Howe", "America/Santiago"]
LAYOUTS = ["seed", "loss", "exceptions", "explicit-breaks"]
PERIOD = (utc(2026, 3, 20), utc(2026, 4, 10))  # holds the Berlin and Chicago spring changes
instants = st.floats(min_value=PERIOD[0], max_value=PERIOD[1], allow_nan=False, allow_infinity=False)


@functools.cache
def calendar(layout: str, zone: str) -> ShiftCalendar:
    if layout == "explicit-breaks":
        night = shift("Night", "22:00", "06:00", breaks=(brk("02:30", 30), brk("23:30", 15)))
        return ShiftCalendar([shift("Day", "08:00", "16:00", breaks=(brk("12:00", 45),)), night], zone)
    if layout == "exceptions":
        return ShiftCalendar(
            seed_shifts(),
            zone,
            exceptions=[
                exception("holiday", "2026-03-25T00:00", "2026-03-26T00:00"),
                exception("planned_downtime", "2026-03-30T09:00", "2026-03-31T03:00"),
                exception("extra_shift", "2026-03-28T06:00", "2026-03-28T16:00", "Saturday"),
                exception("planned_downtime", "2026-03-28T10:00", "2026-03-28T11:00"),
            ],
        )
    return ShiftCalendar(seed_shifts(EVERY_DAY), zone, break_policy="loss" if layout == "loss" else "planned")


def is_sorted_disjoint_within(spans: list[Span], start: float, end: float) -> bool:
    return all(start <= s < e <= end for s, e in spans) and all(
        a[1] < b[0] for a, b in itertools.pairwise(spans)
    )


@settings(max_examples=150, deadline=None, database=None)
@given(layout=st.sampled_from(LAYOUTS), zone=st.sampled_from(ZONES), a=instants, b=instants)
def test_scheduled_spans_are_sorted_disjoint_merged_and_inside_the_window(
    layout: str, zone: str, a: float, b: float
) -> None:
    cal = calendar(layout, zone)
    start, end = min(a, b), max(a, b)
    for spans in (
        cal.scheduled(start, end),
        cal.break_spans(start, end),
        cal.planned_downtime_spans(start, end),
    ):
        assert is_sorted_disjoint_within(spans, start, end)


@settings(max_examples=150, deadline=None, database=None)
@given(
    layout=st.sampled_from(LAYOUTS),
    zone=st.sampled_from(ZONES),
    cuts=st.lists(instants, min_size=3, max_size=3),
)
def test_scheduled_over_a_window_is_the_two_halves_joined_at_the_cut(
    layout: str, zone: str, cuts: list[float]
) -> None:
    cal = calendar(layout, zone)
    a, b, c = sorted(cuts)
    left, right = cal.scheduled(a, b), cal.scheduled(b, c)
    if left and right and left[-1][1] == right[0][0] == b:
        left, right = left[:-1], [(left[-1][0], right[0][1]), *right[1:]]
    assert cal.scheduled(a, c) == left + right


@settings(max_examples=150, deadline=None, database=None)
@given(layout=st.sampled_from(LAYOUTS[:3]), zone=st.sampled_from(ZONES), a=instants, b=instants)
def test_scheduled_breaks_and_planned_downtime_partition_the_instances(
    layout: str, zone: str, a: float, b: float
) -> None:
    cal = calendar(layout, zone)
    start, end = min(a, b), max(a, b)
    whole = sum(min(i.end, end) - max(i.start, start) for i in cal.instances(start, end))
    parts = [cal.scheduled(start, end), cal.planned_downtime_spans(start, end)]
    if cal.break_policy == "planned":
        parts.append(cal.break_spans(start, end))
    assert sum(e - s for spans in parts for s, e in spans) == pytest.approx(whole, abs=1e-6)


@settings(max_examples=150, deadline=None, database=None)
@given(
    zone=st.sampled_from(ZONES),
    day_start=st.sampled_from(["00:00", "02:30", "06:00"]),
    first=st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2026, 12, 31)),
    days=st.integers(min_value=1, max_value=60),
)
def test_business_day_lengths_over_a_range_sum_to_the_elapsed_time(
    zone: str, day_start: str, first: dt.date, days: int
) -> None:
    cal = ShiftCalendar([], zone, day_start=dt.time.fromisoformat(day_start))
    spans = [cal.business_day(first + dt.timedelta(days=k)) for k in range(days)]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    assert sum(e - s for s, e in spans) == spans[-1][1] - spans[0][0]
    assert cal.business_days(spans[0][0], spans[-1][1]) == [first + dt.timedelta(days=k) for k in range(days)]


@settings(max_examples=200, deadline=None, database=None)
@given(zone=st.sampled_from(ZONES), day_start=st.sampled_from(["00:00", "02:30", "06:00"]), at=instants)
def test_every_instant_lies_in_exactly_one_business_day(zone: str, day_start: str, at: float) -> None:
    cal = ShiftCalendar([], zone, day_start=dt.time.fromisoformat(day_start))
    d = cal.business_date(at)
    around = [d + dt.timedelta(days=k) for k in (-2, -1, 0, 1, 2)]
    holding = [day for day in around if cal.business_day(day)[0] <= at < cal.business_day(day)[1]]
    assert holding == [d]


# --- agreement with the twin ---------------------------------------------------------------------------

TWIN_CASES = {
    "berlin-seed-spring": (BERLIN, seed_shifts(), (local(2026, 3, 25), local(2026, 4, 2))),
    "berlin-seed-autumn": (BERLIN, seed_shifts(EVERY_DAY), (local(2026, 10, 22), local(2026, 10, 28))),
    "chicago-nights": (
        "America/Chicago",
        [shift("Night", "22:00", "06:00", break_minutes=45)],
        (utc(2026, 3, 5), utc(2026, 3, 12)),
    ),
    "explicit-breaks-dst": (
        BERLIN,
        [shift("Night", "22:00", "06:00", breaks=(brk("02:30", 30), brk("23:30", 15), brk("05:00", 20)))],
        (local(2026, 3, 27), local(2026, 3, 31)),
    ),
    "starts-in-the-gap": (BERLIN, [shift("Odd", "02:30", "10:00")], (local(2026, 3, 27), local(2026, 3, 31))),
    "vanishes-in-the-gap": (
        BERLIN,
        [shift("Ghost", "02:30", "03:10"), shift("Late", "14:00", "22:00")],
        (local(2026, 3, 27), local(2026, 3, 31)),
    ),
    "24h-autumn": (
        BERLIN,
        [shift("Round", "06:00", "06:00", break_minutes=61)],
        (local(2026, 10, 20), local(2026, 10, 30)),
    ),
}


def to_twin(s: ShiftDef) -> twin_calendar.ShiftDefinition:
    return twin_calendar.ShiftDefinition(
        s.name,
        s.start,
        s.end,
        frozenset(WEEKDAYS.index(d) for d in s.days),
        s.break_minutes,
        tuple(twin_calendar.BreakDefinition(b.start, b.minutes) for b in s.breaks),
    )


@pytest.mark.parametrize("case", sorted(TWIN_CASES))
def test_instances_agree_with_the_twin_calendar_over_dst_and_overnight_cases(case: str) -> None:
    zone, shifts, window = TWIN_CASES[case]
    mes = ShiftCalendar(shifts, zone)
    twin = twin_calendar.ShiftCalendar([to_twin(s) for s in shifts], ZoneInfo(zone), dt.time(0))
    expected = [
        (i.name, i.business_date, i.start, i.end, tuple((b.start, b.end) for b in i.breaks))
        for i in twin.instances(*window)
    ]
    assert expected
    assert [(i.name, i.business_date, i.start, i.end, i.breaks) for i in mes.instances(*window)] == expected
    for d in twin.business_days(*window):
        assert mes.business_day(d) == (twin.business_day(d).start, twin.business_day(d).end)
