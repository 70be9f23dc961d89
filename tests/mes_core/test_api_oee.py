"""OEE over the API (SQLite and PostgreSQL) from a stored timeline whose figures are worked out by hand.

The day: Monday 2026-03-02 in Europe/Berlin (UTC+1), First Shift 06:00-14:00 local (05:00-13:00Z) with its
30-minute break from 10:00 local (09:00-09:30Z). The machine (UTC):

    04:00 idle | 05:30 producing | 09:00 idle (break) | 09:30 producing | 11:00 alarm | 11:30 producing
    | 13:00 idle (open)

planned 7.5 h = 27,000 s; run 6.5 h = 23,400 s; 300 parts with a 60 s ideal cycle time, 6 of them bad:
A = 23,400 / 27,000, P = 18,000 / 23,400, Q = 294 / 300, OEE = 294 x 60 / 27,000.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from mes_core.store.writer import BatchWriter
from tests.mes_core.api_harness import Client, data, error, serve, us, utc

MACHINE = "HAAS-VF2-001"
OTHER = "NLX-2500-01"
NOW = utc("2026-03-02T15:00:00")  # two hours into Second Shift
SHIFT_END = utc("2026-03-02T13:00:00")  # First Shift just ended
SEED_SHIFTS = {
    "shifts": [
        {
            "name": "First Shift",
            "start": "06:00",
            "end": "14:00",
            "break_minutes": 30,
            "days": ["mon", "tue", "wed", "thu", "fri"],
        },
        {
            "name": "Second Shift",
            "start": "14:00",
            "end": "22:00",
            "break_minutes": 30,
            "days": ["mon", "tue", "wed", "thu", "fri"],
        },
    ]
}
TIMELINE = [
    ("2026-03-02T04:00:00", "idle"),
    ("2026-03-02T05:30:00", "producing"),
    ("2026-03-02T09:00:00", "idle"),
    ("2026-03-02T09:30:00", "producing"),
    ("2026-03-02T11:00:00", "alarm"),
    ("2026-03-02T11:30:00", "producing"),
    ("2026-03-02T13:00:00", "idle"),
]
PARTS = 300
BAD = 6
ICT = 60.0


def _machine(machine_id: str) -> dict[str, object]:
    return {"name": machine_id, "machine_id": machine_id, "agent_url": "http://127.0.0.1:9"}


def _part_times(count: int, start: str, step_s: float) -> list[int]:
    return [us(start) + round((k + 1) * step_s * 1_000_000) for k in range(count)]


def _store_day(store: Engine, machine_id: str, tenant_id: int = 1) -> None:
    writer = BatchWriter(store)
    for start, state in TIMELINE:
        writer.upsert_state_interval(tenant_id, machine_id, us(start), state)
    times = _part_times(PARTS, "2026-03-02T05:30:00", 78.0)  # the last part at 12:00Z
    rows = [
        {
            "tenant_id": tenant_id,
            "machine_id": machine_id,
            "ts_us": t,
            "kind": "total",
            "delta": 1,
            "item_id": "pc",
            "instance_id": 1,
            "seq": n,
        }
        for n, t in enumerate(times)
    ]
    rows += [
        {
            "tenant_id": tenant_id,
            "machine_id": machine_id,
            "ts_us": times[n * 50],
            "kind": "bad",
            "delta": 1,
            "item_id": "pcb",
            "instance_id": 1,
            "seq": 10_000 + n,
        }
        for n in range(BAD)
    ]
    writer.add_part_events(rows)
    writer.upsert_alarm_onset(
        tenant_id,
        machine_id,
        "cond",
        "2001",
        us("2026-03-02T11:00:00"),
        category="spindle",
        severity="CRITICAL",
        level="FAULT",
        text="spindle overload",
    )
    writer.clear_alarm(tenant_id, machine_id, "cond", "2001", us("2026-03-02T11:30:00"))
    writer.flush()


async def _setup(client: Client, acme: dict[str, str], *machines: str, ict: float = ICT) -> None:
    data(await client.post("/api/acme/mes/shifts", headers=acme, json=SEED_SHIFTS))
    for machine_id in machines:
        data(await client.post("/api/acme/mes/machines", headers=acme, json=_machine(machine_id)), 201)
        run = {
            "machine_id": machine_id,
            "job_number": "JOB-1",
            "ideal_cycle_time_sec": ict,
            "status": "running",
            "at": "2026-03-02T05:00:00Z",
        }
        data(await client.post("/api/acme/mes/runs", headers=acme, json=run), 201)


def test_machine_oee_of_a_worked_day_in_the_seed_shape(store: Engine, db_url: str) -> None:
    _store_day(store, MACHINE)

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _setup(client, acme, MACHINE)
        answer = data(
            await client.get(f"/api/acme/mes/oee/{MACHINE}?from=2026-03-02&to=2026-03-02", headers=acme)
        )
        assert isinstance(answer, dict)
        assert answer["machine_id"] == MACHINE
        assert answer["period"] == {"from": "2026-03-01T23:00:00Z", "to": "2026-03-02T13:00:00Z"}
        assert answer["availability"] == pytest.approx(23_400 / 27_000)
        assert answer["performance"] == pytest.approx(18_000 / 23_400)
        assert answer["quality"] == pytest.approx(294 / 300)
        assert answer["oee"] == pytest.approx(294 * 60 / 27_000)
        assert answer["oee"] == pytest.approx(
            answer["availability"] * answer["performance"] * answer["quality"]
        )
        details = answer["details"]
        assert details["planned_time_min"] == pytest.approx(450)
        assert details["run_time_min"] == pytest.approx(390)
        assert details["downtime_min"] == pytest.approx(60)
        assert (details["total_parts"], details["good_parts"], details["rejected_parts"]) == (300, 294, 6)
        assert details["ideal_cycle_time_sec"] == pytest.approx(60)
        assert details["avg_cycle_time_sec"] == pytest.approx(23_400 / 300)
        assert details["alarms"] == 1
        assert answer["losses"] == pytest.approx({"idle": 1800, "alarm": 1800})
        accounting = answer["time_accounting"]
        assert accounting["period_s"] == pytest.approx(14 * 3600)
        assert accounting["planned"] == pytest.approx({"producing": 23_400, "idle": 1800, "alarm": 1800})
        assert accounting["unplanned"] == pytest.approx(
            {"no_shift": 14 * 3600 - 27_000 - 1800, "break": 1800}
        )
        assert answer["flags"] == []
        assert answer["reasons"] == {}

    serve(store, db_url, body, now=lambda: SHIFT_END)


def test_a_shift_filter_counts_only_that_shifts_instances(store: Engine, db_url: str) -> None:
    _store_day(store, MACHINE)

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _setup(client, acme, MACHINE)
        first = data(
            await client.get(
                f"/api/acme/mes/oee/{MACHINE}",
                params={"from": "2026-03-02", "shift": "First Shift"},
                headers=acme,
            )
        )
        assert isinstance(first, dict)
        assert first["shift"] == "First Shift"
        assert first["oee"] == pytest.approx(294 * 60 / 27_000)
        assert first["time_accounting"]["period_s"] == pytest.approx(8 * 3600)
        # Second Shift: 14:00 local (13:00Z) until now (15:00Z), idle, no parts.
        second = data(
            await client.get(
                f"/api/acme/mes/oee/{MACHINE}",
                params={"from": "2026-03-02", "shift": "Second Shift"},
                headers=acme,
            )
        )
        assert isinstance(second, dict)
        assert second["availability"] == 0.0
        assert second["quality"] is None
        assert second["reasons"]["quality"] == "no_parts"
        assert second["details"]["planned_time_min"] == pytest.approx(120)
        message = error(
            await client.get(f"/api/acme/mes/oee/{MACHINE}", params={"shift": "Night"}, headers=acme),
            422,
            "invalid_request",
        )
        assert "Night" in message

    serve(store, db_url, body, now=lambda: NOW)


def test_real_time_oee_covers_the_current_shift_up_to_now(store: Engine, db_url: str) -> None:
    _store_day(store, MACHINE)
    noon = utc("2026-03-02T11:00:00")  # 12:00 local, four hours into First Shift (05:00Z-13:00Z)

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _setup(client, acme, MACHINE)
        answer = data(await client.get(f"/api/acme/mes/oee/{MACHINE}?shift=current", headers=acme))
        assert isinstance(answer, dict)
        assert answer["shift"] == "First Shift"
        assert answer["period"] == {"from": "2026-03-02T05:00:00Z", "to": "2026-03-02T11:00:00Z"}
        # planned 6 h - 0.5 h break; run 3.5 h + 1.5 h.
        assert answer["details"]["planned_time_s"] == pytest.approx(5.5 * 3600)
        assert answer["details"]["run_time_s"] == pytest.approx(5 * 3600)
        current = data(await client.get("/api/acme/mes/shifts/current", headers=acme))
        assert isinstance(current, dict)
        assert current["name"] == "First Shift"
        assert current["business_date"] == "2026-03-02"

    serve(store, db_url, body, now=lambda: noon)


def test_aggregate_sums_components_and_is_not_the_mean_of_machine_oees(store: Engine, db_url: str) -> None:
    _store_day(store, MACHINE)
    # The second machine produced nothing and idled the whole shift: OEE 0 over the same planned time,
    # so the aggregate is half the first machine's. With an ideal cycle time of 30 s on the first machine's
    # run, the two machines' planned times stay equal but the ideal times differ; aggregate from sums.
    writer = BatchWriter(store)
    writer.upsert_state_interval(1, OTHER, us("2026-03-02T04:00:00"), "idle")
    writer.flush()

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _setup(client, acme, MACHINE, OTHER)
        answer = data(await client.get("/api/acme/mes/oee?from=2026-03-02&to=2026-03-02", headers=acme))
        assert isinstance(answer, dict)
        assert answer["machine_count"] == 2
        assert answer["details"]["planned_time_s"] == pytest.approx(2 * 27_000)
        assert answer["oee"] == pytest.approx(294 * 60 / (2 * 27_000))
        assert answer["mean_of_machine_oee"] == pytest.approx((294 * 60 / 27_000 + 0.0) / 2)
        one = data(await client.get(f"/api/acme/mes/oee?from=2026-03-02&machine_id={OTHER}", headers=acme))
        assert isinstance(one, dict)
        assert one["machine_count"] == 1
        assert one["oee"] == 0.0

    serve(store, db_url, body, now=lambda: SHIFT_END)


def test_the_aggregate_over_machines_with_different_planned_time_is_weighted(
    store: Engine, db_url: str
) -> None:
    _store_day(store, MACHINE)
    writer = BatchWriter(store)
    writer.upsert_state_interval(1, OTHER, us("2026-03-02T04:00:00"), "producing")
    writer.add_part_events(
        [
            {
                "tenant_id": 1,
                "machine_id": OTHER,
                "ts_us": t,
                "kind": "total",
                "delta": 1,
                "item_id": "pc",
                "instance_id": 1,
                "seq": n,
            }
            for n, t in enumerate(_part_times(100, "2026-03-02T05:00:00", 120.0))
        ]
    )
    writer.flush()

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _setup(client, acme, MACHINE, OTHER)
        # The second machine works only one shift: a machine-scoped holiday cancels its Second Shift, so
        # its planned time differs from the first machine's.
        exception = {
            "kind": "holiday",
            "start": "2026-03-02T14:00:00",
            "end": "2026-03-03T00:00:00",
            "machine_id": OTHER,
            "name": "no second shift",
        }
        data(await client.post("/api/acme/mes/shifts/exceptions", headers=acme, json=exception), 201)
        one = data(await client.get(f"/api/acme/mes/oee/{MACHINE}?from=2026-03-02", headers=acme))
        two = data(await client.get(f"/api/acme/mes/oee/{OTHER}?from=2026-03-02", headers=acme))
        both = data(await client.get("/api/acme/mes/oee?from=2026-03-02", headers=acme))
        assert isinstance(one, dict)
        assert isinstance(two, dict)
        assert isinstance(both, dict)
        assert one["details"]["planned_time_s"] == pytest.approx(27_000 + 7200)  # Second Shift until now
        # It ran from 04:00Z until now: before the shift, through the break and after the shift.
        assert two["details"]["planned_time_s"] == pytest.approx(27_000 + 3.5 * 3600)
        ideal_good = one["details"]["ideal_time_good_s"] + two["details"]["ideal_time_good_s"]
        planned = one["details"]["planned_time_s"] + two["details"]["planned_time_s"]
        assert both["oee"] == pytest.approx(ideal_good / planned)
        assert both["oee"] != pytest.approx((one["oee"] + two["oee"]) / 2)

    serve(store, db_url, body, now=lambda: NOW)


def test_a_period_equals_the_combination_of_its_halves(store: Engine, db_url: str) -> None:
    _store_day(store, MACHINE)

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _setup(client, acme, MACHINE)
        path = f"/api/acme/mes/oee/{MACHINE}"
        whole = data(
            await client.get(
                path, params={"from": "2026-03-02T04:00:00Z", "to": "2026-03-02T14:00:00Z"}, headers=acme
            )
        )
        halves = data(
            await client.get(
                "/api/acme/mes/oee/compare",
                params={
                    "by": "period",
                    "machine_id": MACHINE,
                    "periods": "2026-03-02T04:00:00Z/2026-03-02T09:10:00Z,"
                    "2026-03-02T09:10:00Z/2026-03-02T14:00:00Z",
                },
                headers=acme,
            )
        )
        assert isinstance(whole, dict)
        assert isinstance(halves, dict)
        first, second = halves["items"]
        for key in (
            "planned_time_s",
            "run_time_s",
            "ideal_time_s",
            "ideal_time_good_s",
            "total_parts",
            "good_parts",
        ):
            assert first["details"][key] + second["details"][key] == pytest.approx(whole["details"][key])
        ideal_good = first["details"]["ideal_time_good_s"] + second["details"]["ideal_time_good_s"]
        planned = first["details"]["planned_time_s"] + second["details"]["planned_time_s"]
        assert whole["oee"] == pytest.approx(ideal_good / planned)

    serve(store, db_url, body, now=lambda: NOW)


def test_running_through_a_break_makes_it_planned_and_availability_stays_at_most_one(
    store: Engine, db_url: str
) -> None:
    writer = BatchWriter(store)
    writer.upsert_state_interval(1, MACHINE, us("2026-03-02T05:00:00"), "producing")
    writer.upsert_state_interval(1, MACHINE, us("2026-03-02T13:00:00"), "idle")
    writer.flush()

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _setup(client, acme, MACHINE)
        answer = data(
            await client.get(f"/api/acme/mes/oee/{MACHINE}?from=2026-03-02&shift=First+Shift", headers=acme)
        )
        assert isinstance(answer, dict)
        assert answer["availability"] == pytest.approx(1.0)
        assert answer["details"]["planned_time_s"] == pytest.approx(8 * 3600)
        assert answer["details"]["run_outside_schedule_s"] == pytest.approx(1800)

    serve(store, db_url, body, now=lambda: NOW)


def test_performance_over_100_percent_is_returned_unclamped_with_a_flag(store: Engine, db_url: str) -> None:
    _store_day(store, MACHINE)

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _setup(client, acme, MACHINE, ict=120.0)  # twice the real 78 s cycle: implausible master data
        answer = data(await client.get(f"/api/acme/mes/oee/{MACHINE}?from=2026-03-02", headers=acme))
        assert isinstance(answer, dict)
        assert answer["performance"] == pytest.approx(36_000 / 23_400)
        assert "performance_gt_100" in answer["flags"]

    serve(store, db_url, body, now=lambda: NOW)


def test_no_planned_time_gives_null_with_a_reason(store: Engine, db_url: str) -> None:
    _store_day(store, MACHINE)

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _setup(client, acme, MACHINE)
        # Sunday: no shift.
        answer = data(
            await client.get(f"/api/acme/mes/oee/{MACHINE}?from=2026-03-01&to=2026-03-01", headers=acme)
        )
        assert isinstance(answer, dict)
        assert answer["oee"] is None
        assert answer["availability"] is None
        assert answer["reasons"]["oee"] == "no_planned_time"
        assert answer["details"]["planned_time_s"] == 0

    serve(store, db_url, body, now=lambda: NOW)


def test_parts_without_a_run_count_but_are_flagged(store: Engine, db_url: str) -> None:
    _store_day(store, MACHINE)

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        data(await client.post("/api/acme/mes/shifts", headers=acme, json=SEED_SHIFTS))
        data(await client.post("/api/acme/mes/machines", headers=acme, json=_machine(MACHINE)), 201)
        answer = data(await client.get(f"/api/acme/mes/oee/{MACHINE}?from=2026-03-02", headers=acme))
        assert isinstance(answer, dict)
        assert answer["details"]["total_parts"] == 300
        assert answer["details"]["parts_without_ideal_cycle_time"] == 300
        assert "parts_without_ideal_cycle_time" in answer["flags"]
        assert answer["performance"] is None

    serve(store, db_url, body, now=lambda: NOW)


def test_rejecting_parts_through_the_api_lowers_quality(store: Engine, db_url: str) -> None:
    _store_day(store, MACHINE)

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _setup(client, acme, MACHINE)
        reject = {"quantity": 4, "at": "2026-03-02T10:00:00Z", "reason": "burr"}
        made = data(
            await client.post(f"/api/acme/mes/machines/{MACHINE}/rejects", headers=acme, json=reject), 201
        )
        assert isinstance(made, dict)
        assert made["run_id"] is not None
        answer = data(await client.get(f"/api/acme/mes/oee/{MACHINE}?from=2026-03-02", headers=acme))
        assert isinstance(answer, dict)
        assert answer["details"]["good_parts"] == 290
        assert answer["quality"] == pytest.approx(290 / 300)
        error(
            await client.post(
                f"/api/acme/mes/machines/{MACHINE}/rejects", headers=acme, json={"quantity": 0}
            ),
            422,
            "invalid_request",
        )

    serve(store, db_url, body, now=lambda: NOW)


def test_feeding_the_same_part_events_twice_changes_nothing(store: Engine, db_url: str) -> None:
    _store_day(store, MACHINE)
    _store_day(store, MACHINE)

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _setup(client, acme, MACHINE)
        answer = data(await client.get(f"/api/acme/mes/oee/{MACHINE}?from=2026-03-02", headers=acme))
        assert isinstance(answer, dict)
        assert answer["details"]["total_parts"] == 300
        assert answer["details"]["good_parts"] == 294
        assert answer["oee"] == pytest.approx(294 * 60 / 27_000)

    serve(store, db_url, body, now=lambda: SHIFT_END)


def test_history_buckets_days_in_the_tenant_time_zone_across_dst(store: Engine, db_url: str) -> None:
    # Europe/Berlin springs forward on Sunday 2026-03-29: that business day lasts 23 h.
    writer = BatchWriter(store)
    writer.upsert_state_interval(1, MACHINE, us("2026-03-27T00:00:00"), "producing")
    writer.flush()
    now = utc("2026-03-31T00:00:00")

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        night = {"shifts": [{"name": "Night", "start": "22:00", "end": "06:00", "days": ["sat", "sun"]}]}
        data(await client.post("/api/acme/mes/shifts", headers=acme, json=night))
        data(await client.post("/api/acme/mes/machines", headers=acme, json=_machine(MACHINE)), 201)
        answer = data(
            await client.get(
                "/api/acme/mes/oee/history",
                params={"bucket": "day", "from": "2026-03-28", "to": "2026-03-30"},
                headers=acme,
            )
        )
        assert isinstance(answer, dict)
        points = answer["points"]
        assert [p["bucket"] for p in points] == ["2026-03-28", "2026-03-29", "2026-03-30"]
        assert [p["time_accounting"]["period_s"] for p in points] == pytest.approx([86_400, 82_800, 86_400])
        # Saturday's night shift (22:00 to 06:00 over the change) lasts 7 h, Sunday's 8 h: with dates, a
        # shift filter takes the whole instances of those business dates.
        night_shift = data(
            await client.get(
                f"/api/acme/mes/oee/{MACHINE}",
                params={"from": "2026-03-28", "to": "2026-03-29", "shift": "Night"},
                headers=acme,
            )
        )
        assert isinstance(night_shift, dict)
        assert night_shift["details"]["planned_time_s"] == pytest.approx(7 * 3600 + 8 * 3600)
        assert answer["trend"]["direction"] in ("up", "down", "flat")

    serve(store, db_url, body, now=lambda: now)


def test_hourly_history_has_a_trend(store: Engine, db_url: str) -> None:
    _store_day(store, MACHINE)

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _setup(client, acme, MACHINE)
        answer = data(
            await client.get(
                "/api/acme/mes/oee/history",
                params={
                    "bucket": "hour",
                    "from": "2026-03-02T05:00:00Z",
                    "to": "2026-03-02T13:00:00Z",
                    "machine_id": MACHINE,
                },
                headers=acme,
            )
        )
        assert isinstance(answer, dict)
        assert len(answer["points"]) == 8
        assert answer["points"][0]["bucket"] == "2026-03-02T06:00"
        summed = sum(p["details"]["planned_time_s"] for p in answer["points"])
        assert summed == pytest.approx(27_000)
        assert answer["trend"]["slope_per_bucket"] is not None

    serve(store, db_url, body, now=lambda: NOW)


def test_compare_shifts_side_by_side(store: Engine, db_url: str) -> None:
    _store_day(store, MACHINE)

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _setup(client, acme, MACHINE)
        answer = data(await client.get("/api/acme/mes/oee/compare?by=shift&from=2026-03-02", headers=acme))
        assert isinstance(answer, dict)
        assert [i["key"] for i in answer["items"]] == ["First Shift", "Second Shift"]
        assert answer["items"][0]["oee"] == pytest.approx(294 * 60 / 27_000)
        machines = data(
            await client.get("/api/acme/mes/oee/compare?by=machine&from=2026-03-02", headers=acme)
        )
        assert isinstance(machines, dict)
        assert [i["key"] for i in machines["items"]] == [MACHINE]
        error(await client.get("/api/acme/mes/oee/compare?by=period", headers=acme), 422, "invalid_request")

    serve(store, db_url, body, now=lambda: NOW)


def test_oee_of_another_tenants_machine_is_not_found(store: Engine, db_url: str) -> None:
    _store_day(store, MACHINE)

    async def body(client: Client, acme: dict[str, str], globex: dict[str, str]) -> None:
        await _setup(client, acme, MACHINE)
        error(await client.get(f"/api/globex/mes/oee/{MACHINE}", headers=globex), 404, "not_found")
        error(await client.get(f"/api/globex/mes/oee?machine_id={MACHINE}", headers=globex), 404, "not_found")
        error(await client.get(f"/api/acme/mes/oee/{MACHINE}", headers=globex), 404, "not_found")
        empty = data(await client.get("/api/globex/mes/oee?from=2026-03-02", headers=globex))
        assert isinstance(empty, dict)
        assert empty["machine_count"] == 0
        assert empty["oee"] is None

    serve(store, db_url, body, now=lambda: NOW)


@pytest.mark.parametrize(
    ("query", "field"),
    [("from=yesterday", "from"), ("from=2026-03-02&to=2026-03-01", "to"), ("bucket=minute", "bucket")],
)
def test_bad_oee_queries_name_the_field(store: Engine, db_url: str, query: str, field: str) -> None:
    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        data(await client.post("/api/acme/mes/machines", headers=acme, json=_machine(MACHINE)), 201)
        path = "/api/acme/mes/oee/history" if "bucket" in query else f"/api/acme/mes/oee/{MACHINE}"
        message = error(await client.get(f"{path}?{query}", headers=acme), 422, "invalid_request")
        assert message.startswith(field)

    serve(store, db_url, body, now=lambda: NOW)
