"""The MES REST API (seed paths and shapes) on SQLite and PostgreSQL: auth, tenant isolation, machines,
status and alarms, and errors as ``{"error": {"code", "message"}}`` with a 4xx naming the field."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import Engine

from mes_core.store.writer import BatchWriter
from tests.mes_core import api_harness

HAAS = {
    "name": "Haas VF-2 #001",
    "machine_id": "HAAS-VF2-001",
    "agent_url": "http://127.0.0.1:5000",
    "type": "milling",
    "location": "Bay A, Position 3",
    "poll_interval_ms": 1000,
}
T0 = 1_772_427_600_000_000  # 2026-03-02T05:00:00Z in microseconds

Client = api_harness.Client
_error = api_harness.error


def run(store: Engine, db_url: str, body: api_harness.Body) -> None:
    """Two tenants (acme, globex, in UTC) and a client of the API on ``db_url``, on the wall clock."""
    api_harness.serve(store, db_url, body, now=time.time, timezone="UTC")


def test_every_request_needs_a_valid_bearer_token(store: Engine, db_url: str) -> None:
    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        _error(await client.get("/api/acme/mes/machines"), 401, "unauthorized")
        _error(
            await client.get("/api/acme/mes/machines", headers={"Authorization": "Bearer nope"}),
            401,
            "unauthorized",
        )
        _error(
            await client.get("/api/acme/mes/machines", headers={"Authorization": "Basic x"}),
            401,
            "unauthorized",
        )
        assert (await client.get("/api/acme/mes/machines", headers=acme)).json() == {"data": []}

    run(store, db_url, body)


def test_a_token_sees_nothing_of_another_tenant(store: Engine, db_url: str) -> None:
    async def body(client: Client, acme: dict[str, str], globex: dict[str, str]) -> None:
        assert (await client.post("/api/acme/mes/machines", headers=acme, json=HAAS)).status_code == 201
        _error(await client.get("/api/acme/mes/machines", headers=globex), 404, "not_found")
        _error(await client.get("/api/globex/mes/machines/HAAS-VF2-001", headers=globex), 404, "not_found")
        assert (await client.get("/api/globex/mes/machines", headers=globex)).json() == {"data": []}
        _error(
            await client.get("/api/globex/mes/machines/HAAS-VF2-001/status", headers=globex), 404, "not_found"
        )

    run(store, db_url, body)


def test_machines_are_registered_listed_fetched_and_updated(store: Engine, db_url: str) -> None:
    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        created = await client.post("/api/acme/mes/machines", headers=acme, json=HAAS)
        assert created.status_code == 201
        machine = created.json()["data"]
        assert {k: machine[k] for k in HAAS} == HAAS
        assert machine["device"] == "HAAS-VF2-001"  # the device at the agent defaults to the machine id
        listed = (await client.get("/api/acme/mes/machines", headers=acme)).json()["data"]
        assert [m["machine_id"] for m in listed] == ["HAAS-VF2-001"]
        patched = await client.patch(
            "/api/acme/mes/machines/HAAS-VF2-001",
            headers=acme,
            json={"location": "Bay B", "poll_interval_ms": 500},
        )
        assert patched.json()["data"]["location"] == "Bay B"
        fetched = (await client.get("/api/acme/mes/machines/HAAS-VF2-001", headers=acme)).json()["data"]
        assert (fetched["location"], fetched["poll_interval_ms"], fetched["name"]) == (
            "Bay B",
            500,
            HAAS["name"],
        )

    run(store, db_url, body)


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"poll_interval_ms": -5}, 422, "poll_interval_ms"),
        ({"agent_url": "ftp://x"}, 422, "agent_url"),
        ({"machine_id": "has space"}, 422, "machine_id"),
        ({"colour": "red"}, 422, "colour"),
        ({"agent_url": None}, 422, "agent_url"),
        ({"source": "ix40"}, 422, "ix40_base_url"),
        ({"source": "opcua"}, 422, "source"),
    ],
)
def test_a_bad_machine_is_a_4xx_naming_the_field(
    store: Engine, db_url: str, change: dict[str, Any], status: int, field: str
) -> None:
    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        response = await client.post("/api/acme/mes/machines", headers=acme, json={**HAAS, **change})
        assert field in _error(response, status, "invalid_request")

    run(store, db_url, body)


def test_a_second_machine_with_the_same_id_is_a_conflict(store: Engine, db_url: str) -> None:
    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await client.post("/api/acme/mes/machines", headers=acme, json=HAAS)
        message = _error(
            await client.post("/api/acme/mes/machines", headers=acme, json=HAAS), 409, "conflict"
        )
        assert "HAAS-VF2-001" in message
        _error(
            await client.patch("/api/acme/mes/machines/NOPE", headers=acme, json={"name": "x"}),
            404,
            "not_found",
        )
        _error(await client.get("/api/acme/mes/nothing-here", headers=acme), 404, "not_found")

    run(store, db_url, body)


def test_status_has_the_seed_shape(store: Engine, db_url: str) -> None:
    writer = BatchWriter(store)

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await client.post("/api/acme/mes/machines", headers=acme, json=HAAS)
        values = {
            "spindle_speed": "8500",
            "spindle_load": "34",
            "spindle_override": "100",
            "feed_rate": "2400",
            "feed_override": "100",
            "program": "O0145",
            "block": "N1240",
            "position_x": "-45.23",
            "position_y": "12.005",
            "position_z": "-85.1",
            "tool_number": "12",
        }
        writer.set_status(1, "HAAS-VF2-001", "ACTIVE", "producing", values, updated_us=T0)
        writer.flush()
        status = (await client.get("/api/acme/mes/machines/HAAS-VF2-001/status", headers=acme)).json()["data"]
        assert status["status"] == "ACTIVE"
        assert status["last_updated"] == "2026-03-02T05:00:00Z"
        assert status["spindle"] == {"speed_rpm": 8500.0, "load_pct": 34.0, "override_pct": 100.0}
        assert status["feed"] == {"rate_mm_min": 2400.0, "override_pct": 100.0}
        assert status["program"]["name"] == "O0145"
        assert status["program"]["block"] == "N1240"
        assert status["axes"] == {"x": -45.23, "y": 12.005, "z": -85.1}
        assert status["active_tool"]["id"] == "T12"
        assert set(status) >= {"machine_id", "name", "status", "last_updated", "current_run"}

    run(store, db_url, body)


def test_alarms_active_history_filters_and_acknowledgement(store: Engine, db_url: str) -> None:
    writer = BatchWriter(store)

    async def body(client: Client, acme: dict[str, str], globex: dict[str, str]) -> None:
        await client.post("/api/acme/mes/machines", headers=acme, json=HAAS)
        onsets = [
            ("cond_system", "107", T0, "emergency_stop", "CRITICAL", "FAULT"),
            ("cond_spindle", "174", T0 + 60_000_000, "spindle", "WARNING", "WARNING"),
            ("cond_x", "103", T0 + 120_000_000, "axis", "CRITICAL", "FAULT"),
        ]
        for item, code, onset, category, severity, level in onsets:
            writer.upsert_alarm_onset(
                1,
                "HAAS-VF2-001",
                item,
                code,
                onset,
                category=category,
                severity=severity,
                level=level,
                text="t",
            )
        writer.clear_alarm(1, "HAAS-VF2-001", "cond_system", "107", T0 + 300_000_000)
        writer.flush()
        active = (await client.get("/api/acme/mes/alarms", headers=acme)).json()["data"]
        assert sorted(a["native_code"] for a in active) == ["103", "174"]
        history = (await client.get("/api/acme/mes/alarms/history", headers=acme)).json()["data"]
        assert [a["native_code"] for a in history] == ["103", "174", "107"]  # newest first
        cleared = next(a for a in history if a["native_code"] == "107")
        assert cleared["duration_s"] == 300.0
        critical = await client.get(
            "/api/acme/mes/alarms/history", headers=acme, params={"severity": "CRITICAL"}
        )
        assert [a["native_code"] for a in critical.json()["data"]] == ["103", "107"]
        spindle = await client.get(
            "/api/acme/mes/alarms/history", headers=acme, params={"category": "spindle"}
        )
        assert [a["native_code"] for a in spindle.json()["data"]] == ["174"]
        window = {"from": "2026-03-02T05:00:30Z", "to": "2026-03-02T05:01:30Z", "machine_id": "HAAS-VF2-001"}
        ranged = await client.get("/api/acme/mes/alarms/history", headers=acme, params=window)
        assert [a["native_code"] for a in ranged.json()["data"]] == ["174"]
        alarm_id = active[0]["id"]
        _error(
            await client.post(
                f"/api/globex/mes/alarms/{alarm_id}/ack", headers=globex, json={"acknowledged_by": "x"}
            ),
            404,
            "not_found",
        )
        acked = await client.post(
            f"/api/acme/mes/alarms/{alarm_id}/ack", headers=acme, json={"acknowledged_by": "j.smith"}
        )
        assert acked.json()["data"]["acknowledged_by"] == "j.smith"
        assert acked.json()["data"]["acknowledged_at"] is not None
        bad = await client.get("/api/acme/mes/alarms/history", headers=acme, params={"severity": "LOUD"})
        assert "severity" in _error(bad, 422, "invalid_request")
        naive = await client.get(
            "/api/acme/mes/alarms/history", headers=acme, params={"from": "2026-03-02T05:00:00"}
        )
        assert "from" in _error(naive, 422, "invalid_request")

    run(store, db_url, body)


def test_operations_endpoints_answer(store: Engine, db_url: str) -> None:
    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        spec = (await client.get("/openapi.json")).json()
        assert "/api/{tenant}/mes/machines/{machine_id}/status" in spec["paths"]
        assert (await client.get("/docs")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200

    run(store, db_url, body)


def test_nulls_for_required_fields_and_huge_numbers_are_4xx_naming_the_field(
    store: Engine, db_url: str
) -> None:
    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await client.post("/api/acme/mes/machines", headers=acme, json=HAAS)
        for field in ("name", "poll_interval_ms"):
            patch = await client.patch(
                "/api/acme/mes/machines/HAAS-VF2-001", headers=acme, json={field: None}
            )
            assert field in _error(patch, 422, "invalid_request")
        huge = "99999999999999999999"
        ack = await client.post(
            f"/api/acme/mes/alarms/{huge}/ack", headers=acme, json={"acknowledged_by": "x"}
        )
        assert "alarm_id" in _error(ack, 422, "invalid_request")
        page = await client.get("/api/acme/mes/alarms/history", headers=acme, params={"offset": huge})
        assert "offset" in _error(page, 422, "invalid_request")

    run(store, db_url, body)


def test_alarm_filters_naming_another_tenants_machine_are_not_found(store: Engine, db_url: str) -> None:
    async def body(client: Client, acme: dict[str, str], globex: dict[str, str]) -> None:
        assert (await client.post("/api/acme/mes/machines", headers=acme, json=HAAS)).status_code == 201
        assert (await client.get("/api/acme/mes/alarms?machine_id=HAAS-VF2-001", headers=acme)).json() == {
            "data": []
        }
        for path in ("/api/globex/mes/alarms", "/api/globex/mes/alarms/history"):
            message = _error(
                await client.get(f"{path}?machine_id=HAAS-VF2-001", headers=globex), 404, "not_found"
            )
            assert "HAAS-VF2-001" in message

    run(store, db_url, body)
