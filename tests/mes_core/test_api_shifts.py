"""The shift schedule over the API (SQLite and PostgreSQL): the seed's shape, time zones, overnight and DST
shifts, breaks and their policy, calendar exceptions, overlaps refused, the current shift."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.mes_core.api_harness import Client, data, error, serve, utc

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
SEED = {
    "shifts": [
        {"name": "First Shift", "start": "06:00", "end": "14:00", "break_minutes": 30, "days": WEEKDAYS},
        {"name": "Second Shift", "start": "14:00", "end": "22:00", "break_minutes": 30, "days": WEEKDAYS},
        {"name": "Third Shift", "start": "22:00", "end": "06:00", "break_minutes": 30, "days": WEEKDAYS},
    ]
}
NOON_MONDAY = utc("2026-03-02T11:00:00")  # 12:00 in Europe/Berlin


def test_the_seed_schedule_is_stored_and_returned_in_its_shape(store: Engine, db_url: str) -> None:
    async def body(client: Client, acme: dict[str, str], globex: dict[str, str]) -> None:
        stored = data(await client.post("/api/acme/mes/shifts", headers=acme, json=SEED))
        fetched = data(await client.get("/api/acme/mes/shifts", headers=acme))
        assert stored == fetched
        assert isinstance(fetched, dict)
        assert [s["name"] for s in fetched["shifts"]] == ["First Shift", "Second Shift", "Third Shift"]
        assert fetched["shifts"][2] == {
            "name": "Third Shift",
            "start": "22:00",
            "end": "06:00",
            "break_minutes": 30,
            "breaks": [],
            "days": WEEKDAYS,
        }
        assert (fetched["timezone"], fetched["day_start"], fetched["break_policy"]) == (
            "Europe/Berlin",
            "00:00",
            "planned",
        )
        other = data(await client.get("/api/globex/mes/shifts", headers=globex))
        assert isinstance(other, dict)
        assert other["shifts"] == []

    serve(store, db_url, body, now=lambda: NOON_MONDAY)


def test_the_current_shift_is_the_instance_running_now(store: Engine, db_url: str) -> None:
    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        data(await client.post("/api/acme/mes/shifts", headers=acme, json=SEED))
        current = data(await client.get("/api/acme/mes/shifts/current", headers=acme))
        assert isinstance(current, dict)
        assert current["name"] == "First Shift"
        assert (current["start"], current["end"]) == ("2026-03-02T05:00:00Z", "2026-03-02T13:00:00Z")
        assert current["start_local"] == "2026-03-02T06:00:00+01:00"
        assert current["planned_s"] == 7.5 * 3600
        assert current["elapsed_s"] == 6 * 3600
        assert current["in_break"] is False

    serve(store, db_url, body, now=lambda: NOON_MONDAY)


def test_an_overnight_shift_belongs_to_the_day_it_began(store: Engine, db_url: str) -> None:
    after_midnight = utc("2026-03-03T01:00:00")  # Tuesday 02:00 local

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        data(await client.post("/api/acme/mes/shifts", headers=acme, json=SEED))
        current = data(await client.get("/api/acme/mes/shifts/current", headers=acme))
        assert isinstance(current, dict)
        assert current["name"] == "Third Shift"
        assert current["business_date"] == "2026-03-02"
        assert current["duration_s"] == 8 * 3600

    serve(store, db_url, body, now=lambda: after_midnight)


@pytest.mark.parametrize(
    ("now", "hours"),
    [("2026-03-28T23:00:00", 7), ("2026-10-24T23:00:00", 9)],
    ids=["spring-forward", "fall-back"],
)
def test_a_night_shift_across_a_dst_change_lasts_its_elapsed_time(
    store: Engine, db_url: str, now: str, hours: int
) -> None:
    night = {"shifts": [{"name": "Night", "start": "22:00", "end": "06:00", "days": ["sat"]}]}

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        data(await client.post("/api/acme/mes/shifts", headers=acme, json=night))
        current = data(await client.get("/api/acme/mes/shifts/current", headers=acme))
        assert isinstance(current, dict)
        assert current["duration_s"] == hours * 3600

    serve(store, db_url, body, now=lambda: utc(now))


def test_overlapping_shifts_are_refused_naming_both(store: Engine, db_url: str) -> None:
    overlapping = {
        "shifts": [
            {"name": "Early", "start": "06:00", "end": "14:00", "days": WEEKDAYS},
            {"name": "Late", "start": "13:00", "end": "21:00", "days": ["fri"]},
        ]
    }

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        data(await client.post("/api/acme/mes/shifts", headers=acme, json=SEED))
        message = error(
            await client.post("/api/acme/mes/shifts", headers=acme, json=overlapping), 422, "invalid_request"
        )
        assert "Early" in message
        assert "Late" in message
        kept = data(await client.get("/api/acme/mes/shifts", headers=acme))
        assert isinstance(kept, dict)
        assert len(kept["shifts"]) == 3  # nothing was stored

    serve(store, db_url, body, now=lambda: NOON_MONDAY)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"shifts": [{"name": "A", "start": "25:00", "end": "06:00", "days": ["mon"]}]}, "shifts"),
        ({"shifts": [{"name": "A", "start": "06:00", "end": "14:00", "days": ["funday"]}]}, "shifts"),
        ({"shifts": [{"name": "A", "start": "06:00", "end": "14:00", "days": []}]}, "shifts"),
        ({"break_policy": "sometimes"}, "break_policy"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_bad_schedule_gets_a_4xx_naming_the_field(
    store: Engine, db_url: str, change: dict[str, object], field: str
) -> None:
    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        message = error(
            await client.post("/api/acme/mes/shifts", headers=acme, json={**SEED, **change}),
            422,
            "invalid_request",
        )
        assert message.startswith(field), message

    serve(store, db_url, body, now=lambda: NOON_MONDAY)


def test_a_break_longer_than_its_shift_is_refused(store: Engine, db_url: str) -> None:
    bad = {
        "shifts": [{"name": "Short", "start": "06:00", "end": "07:00", "break_minutes": 90, "days": ["mon"]}]
    }

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        message = error(
            await client.post("/api/acme/mes/shifts", headers=acme, json=bad), 422, "invalid_request"
        )
        assert "Short" in message

    serve(store, db_url, body, now=lambda: NOON_MONDAY)


def test_calendar_exceptions_holiday_planned_downtime_and_extra_shift(store: Engine, db_url: str) -> None:
    saturday_morning = utc("2026-03-07T07:00:00")  # 08:00 local

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        data(await client.post("/api/acme/mes/shifts", headers=acme, json=SEED))
        extra = {
            "kind": "extra_shift",
            "start": "2026-03-07T06:00:00",
            "end": "2026-03-07T12:00:00",
            "name": "Saturday overtime",
        }
        made = data(await client.post("/api/acme/mes/shifts/exceptions", headers=acme, json=extra), 201)
        assert isinstance(made, dict)
        assert made["kind"] == "extra_shift"
        current = data(await client.get("/api/acme/mes/shifts/current", headers=acme))
        assert isinstance(current, dict)
        assert current["name"] == "Saturday overtime"
        assert current["extra"] is True
        downtime = {
            "kind": "planned_downtime",
            "start": "2026-03-07T07:00:00",
            "end": "2026-03-07T08:00:00",
            "name": "maintenance",
        }
        data(await client.post("/api/acme/mes/shifts/exceptions", headers=acme, json=downtime), 201)
        current = data(await client.get("/api/acme/mes/shifts/current", headers=acme))
        assert isinstance(current, dict)
        assert current["planned_s"] == 5 * 3600
        # An extra shift over a live regular one is refused.
        clash = {
            "kind": "extra_shift",
            "start": "2026-03-06T12:00:00",
            "end": "2026-03-06T15:00:00",
            "name": "Friday overtime",
        }
        message = error(
            await client.post("/api/acme/mes/shifts/exceptions", headers=acme, json=clash),
            422,
            "invalid_request",
        )
        assert "Friday overtime" in message
        listed = data(await client.get("/api/acme/mes/shifts/exceptions", headers=acme))
        assert isinstance(listed, list)
        assert [e["kind"] for e in listed] == ["extra_shift", "planned_downtime"]
        assert (
            await client.delete(f"/api/acme/mes/shifts/exceptions/{made['id']}", headers=acme)
        ).status_code == 204
        assert data(await client.get("/api/acme/mes/shifts/current", headers=acme)) is None
        error(
            await client.delete(f"/api/acme/mes/shifts/exceptions/{made['id']}", headers=acme),
            404,
            "not_found",
        )

    serve(store, db_url, body, now=lambda: saturday_morning)


def test_a_holiday_cancels_the_shifts_starting_in_it(store: Engine, db_url: str) -> None:
    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        data(await client.post("/api/acme/mes/shifts", headers=acme, json=SEED))
        holiday = {
            "kind": "holiday",
            "start": "2026-03-02T00:00:00",
            "end": "2026-03-03T00:00:00",
            "name": "Holiday",
        }
        data(await client.post("/api/acme/mes/shifts/exceptions", headers=acme, json=holiday), 201)
        assert data(await client.get("/api/acme/mes/shifts/current", headers=acme)) is None

    serve(store, db_url, body, now=lambda: NOON_MONDAY)


def test_an_exception_for_another_tenants_machine_is_not_found(store: Engine, db_url: str) -> None:
    async def body(client: Client, acme: dict[str, str], globex: dict[str, str]) -> None:
        machine = {"name": "m", "machine_id": "M1", "agent_url": "http://127.0.0.1:9"}
        data(await client.post("/api/acme/mes/machines", headers=acme, json=machine), 201)
        holiday = {
            "kind": "holiday",
            "start": "2026-03-02T00:00:00",
            "end": "2026-03-03T00:00:00",
            "machine_id": "M1",
        }
        error(
            await client.post("/api/globex/mes/shifts/exceptions", headers=globex, json=holiday),
            404,
            "not_found",
        )
        bad = {**holiday, "end": "2026-03-01T00:00:00"}
        message = error(
            await client.post("/api/acme/mes/shifts/exceptions", headers=acme, json=bad),
            422,
            "invalid_request",
        )
        assert "end" in message

    serve(store, db_url, body, now=lambda: NOON_MONDAY)


def test_break_policy_loss_keeps_breaks_in_planned_time(store: Engine, db_url: str) -> None:
    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        data(await client.post("/api/acme/mes/shifts", headers=acme, json={**SEED, "break_policy": "loss"}))
        current = data(await client.get("/api/acme/mes/shifts/current", headers=acme))
        assert isinstance(current, dict)
        assert current["planned_s"] == 8 * 3600

    serve(store, db_url, body, now=lambda: NOON_MONDAY)
