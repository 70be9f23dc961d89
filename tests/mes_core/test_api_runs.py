"""Production runs over the API (SQLite and PostgreSQL): the seed's lifecycle with illegal steps refused,
setup apart from production time, rejects and notes, cycle times from part counts, current_run in status."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from mes_core.store.writer import BatchWriter
from tests.mes_core.api_harness import Client, data, error, serve, us, utc

MACHINE = "HAAS-VF2-001"
NOW = utc("2026-03-02T12:00:00")
START = {
    "machine_id": MACHINE,
    "job_number": "JOB-2026-0145",
    "part_number": "PN-4820",
    "program_name": "O0145",
    "planned_quantity": 500,
    "ideal_cycle_time_sec": 42,
    "at": "2026-03-02T06:00:00Z",
}
# Parts at 06:30:50, then every 45 s, with one 300 s pause in between (08:00-08:05).
PART_TIMES = [
    *(us("2026-03-02T06:30:50") + k * 45_000_000 for k in range(10)),
    *(us("2026-03-02T08:05:00") + k * 45_000_000 for k in range(1, 6)),
]


def _parts(store: Engine, bad_at: tuple[int, ...] = ()) -> None:
    writer = BatchWriter(store)
    writer.add_part_events(
        [
            {
                "tenant_id": 1,
                "machine_id": MACHINE,
                "ts_us": t,
                "kind": "total",
                "delta": 1,
                "item_id": "pc",
                "instance_id": 1,
                "seq": n,
            }
            for n, t in enumerate(PART_TIMES)
        ]
        + [
            {
                "tenant_id": 1,
                "machine_id": MACHINE,
                "ts_us": PART_TIMES[n],
                "kind": "bad",
                "delta": 1,
                "item_id": "pcb",
                "instance_id": 1,
                "seq": 100 + n,
            }
            for n in bad_at
        ]
    )
    writer.flush()


async def _machine(client: Client, acme: dict[str, str]) -> None:
    machine = {"name": "Haas VF-2 #001", "machine_id": MACHINE, "agent_url": "http://127.0.0.1:9"}
    data(await client.post("/api/acme/mes/machines", headers=acme, json=machine), 201)


async def _step(client: Client, acme: dict[str, str], run_id: str, status: str, at: str) -> dict[str, object]:
    answer = data(
        await client.patch(f"/api/acme/mes/runs/{run_id}", headers=acme, json={"status": status, "at": at})
    )
    assert isinstance(answer, dict)
    return answer


def test_a_run_goes_setup_running_paused_running_completed(store: Engine, db_url: str) -> None:
    _parts(store)

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _machine(client, acme)
        run = data(await client.post("/api/acme/mes/runs", headers=acme, json=START), 201)
        assert isinstance(run, dict)
        assert run["status"] == "setup"
        assert run["id"].startswith("run_")
        assert {k: run[k] for k in ("job_number", "part_number", "program_name", "planned_quantity")} == {
            "job_number": "JOB-2026-0145",
            "part_number": "PN-4820",
            "program_name": "O0145",
            "planned_quantity": 500,
        }
        run_id = run["id"]
        await _step(client, acme, run_id, "running", "2026-03-02T06:30:05Z")
        await _step(client, acme, run_id, "paused", "2026-03-02T08:00:00Z")
        await _step(client, acme, run_id, "running", "2026-03-02T08:05:00Z")
        done = await _step(client, acme, run_id, "completed", "2026-03-02T09:00:00Z")
        assert done["status"] == "completed"
        assert done["ended_at"] == "2026-03-02T09:00:00Z"
        assert done["setup_time_sec"] == pytest.approx(30 * 60 + 5)
        assert done["paused_time_sec"] == pytest.approx(300)
        assert done["production_time_sec"] == pytest.approx(10_800 - 1805 - 300)
        assert done["parts_completed"] == 15
        assert [p["status"] for p in done["phases"]] == ["setup", "running", "paused", "running", "completed"]
        fetched = data(await client.get(f"/api/acme/mes/runs/{run_id}", headers=acme))
        assert fetched == done
        listed = data(
            await client.get(f"/api/acme/mes/runs?machine_id={MACHINE}&status=completed", headers=acme)
        )
        assert isinstance(listed, list)
        assert [r["id"] for r in listed] == [run_id]

    serve(store, db_url, body, now=lambda: NOW)


@pytest.mark.parametrize(
    ("path", "status", "current"),
    [
        (["running"], "setup", "running"),
        ([], "completed", "setup"),
        (["running", "completed"], "running", "completed"),
        (["running", "completed"], "paused", "completed"),
        (["aborted"], "running", "aborted"),
    ],
)
def test_illegal_transitions_are_refused_with_409_naming_the_current_state(
    store: Engine, db_url: str, path: list[str], status: str, current: str
) -> None:
    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _machine(client, acme)
        run = data(await client.post("/api/acme/mes/runs", headers=acme, json=START), 201)
        assert isinstance(run, dict)
        for step in path:
            await _step(client, acme, run["id"], step, "2026-03-02T07:00:00Z")
        message = error(
            await client.patch(f"/api/acme/mes/runs/{run['id']}", headers=acme, json={"status": status}),
            409,
            "illegal_transition",
        )
        assert current in message
        assert status in message
        unchanged = data(await client.get(f"/api/acme/mes/runs/{run['id']}", headers=acme))
        assert isinstance(unchanged, dict)
        assert unchanged["status"] == current

    serve(store, db_url, body, now=lambda: NOW)


def test_a_machine_has_one_open_run_at_a_time(store: Engine, db_url: str) -> None:
    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _machine(client, acme)
        first = data(await client.post("/api/acme/mes/runs", headers=acme, json=START), 201)
        assert isinstance(first, dict)
        message = error(await client.post("/api/acme/mes/runs", headers=acme, json=START), 409, "conflict")
        assert first["id"] in message
        await _step(client, acme, first["id"], "aborted", "2026-03-02T07:00:00Z")
        data(
            await client.post(
                "/api/acme/mes/runs", headers=acme, json={**START, "at": "2026-03-02T07:00:00Z"}
            ),
            201,
        )

    serve(store, db_url, body, now=lambda: NOW)


def test_rejects_and_notes_and_quantities_on_completion(store: Engine, db_url: str) -> None:
    _parts(store, bad_at=(2,))

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _machine(client, acme)
        run = data(
            await client.post("/api/acme/mes/runs", headers=acme, json={**START, "status": "running"}), 201
        )
        assert isinstance(run, dict)
        seed_patch = {
            "status": "completed",
            "actual_quantity": 15,
            "rejected_quantity": 3,
            "operator_notes": "Tool T12 replaced at part 290, slight chatter on finish pass",
            "at": "2026-03-02T09:00:00Z",
        }
        done = data(await client.patch(f"/api/acme/mes/runs/{run['id']}", headers=acme, json=seed_patch))
        assert isinstance(done, dict)
        assert (done["actual_quantity"], done["rejected_quantity"], done["good_parts"]) == (15, 3, 12)
        assert done["operator_notes"].startswith("Tool T12")
        # The machine reported one bad part itself: fewer rejects than that is refused.
        message = error(
            await client.patch(
                f"/api/acme/mes/runs/{run['id']}", headers=acme, json={"rejected_quantity": 0}
            ),
            422,
            "invalid_request",
        )
        assert message.startswith("rejected_quantity")
        oee = data(await client.get(f"/api/acme/mes/oee/{MACHINE}?from=2026-03-02T00:00:00Z", headers=acme))
        assert isinstance(oee, dict)
        assert oee["details"]["good_parts"] == 12

    serve(store, db_url, body, now=lambda: NOW)


def test_cycle_times_come_from_part_count_increments(store: Engine, db_url: str) -> None:
    _parts(store)

    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _machine(client, acme)
        run = data(await client.post("/api/acme/mes/runs", headers=acme, json=START), 201)
        assert isinstance(run, dict)
        await _step(client, acme, run["id"], "running", "2026-03-02T06:30:05Z")
        await _step(client, acme, run["id"], "paused", "2026-03-02T06:37:35Z")
        await _step(client, acme, run["id"], "running", "2026-03-02T08:05:00Z")
        cycles = data(await client.get(f"/api/acme/mes/runs/{run['id']}/cycles?bins=5", headers=acme))
        assert isinstance(cycles, dict)
        times = [c["cycle_time_sec"] for c in cycles["cycles"]]
        # First part 45 s after the run started running; then every 45 s; the pause is left out.
        assert times == pytest.approx([45.0] * 15)
        assert cycles["count"] == 15
        assert cycles["avg_cycle_time_sec"] == pytest.approx(45)
        assert cycles["percentiles"]["p50"] == pytest.approx(45)
        assert sum(b["count"] for b in cycles["histogram"]) == 15
        assert cycles["ideal_cycle_time_sec"] == 42
        assert cycles["slow_cycles"] == 0
        status = data(await client.get(f"/api/acme/mes/machines/{MACHINE}/status", headers=acme))
        assert isinstance(status, dict)
        assert status["current_run"] == {
            "id": run["id"],
            "job_number": "JOB-2026-0145",
            "status": "running",
            "parts_completed": 15,
            "planned_quantity": 500,
        }

    serve(store, db_url, body, now=lambda: NOW)


def test_runs_of_another_tenant_are_not_found(store: Engine, db_url: str) -> None:
    async def body(client: Client, acme: dict[str, str], globex: dict[str, str]) -> None:
        await _machine(client, acme)
        run = data(await client.post("/api/acme/mes/runs", headers=acme, json=START), 201)
        assert isinstance(run, dict)
        error(await client.get(f"/api/globex/mes/runs/{run['id']}", headers=globex), 404, "not_found")
        error(
            await client.patch(
                f"/api/globex/mes/runs/{run['id']}", headers=globex, json={"status": "running"}
            ),
            404,
            "not_found",
        )
        error(await client.post("/api/globex/mes/runs", headers=globex, json=START), 404, "not_found")
        assert data(await client.get("/api/globex/mes/runs", headers=globex)) == []

    serve(store, db_url, body, now=lambda: NOW)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ideal_cycle_time_sec": 0}, "ideal_cycle_time_sec"),
        ({"planned_quantity": -1}, "planned_quantity"),
        ({"at": "2026-03-02T06:00:00"}, "at"),
        ({"job_number": ""}, "job_number"),
        ({"status": "paused"}, "status"),
    ],
)
def test_a_bad_run_request_names_the_field(
    store: Engine, db_url: str, change: dict[str, object], field: str
) -> None:
    async def body(client: Client, acme: dict[str, str], _: dict[str, str]) -> None:
        await _machine(client, acme)
        message = error(
            await client.post("/api/acme/mes/runs", headers=acme, json={**START, **change}),
            422,
            "invalid_request",
        )
        assert message.startswith(field), message

    serve(store, db_url, body, now=lambda: NOW)
