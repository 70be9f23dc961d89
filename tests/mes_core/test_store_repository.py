"""The repository's queries on SQLite and PostgreSQL: what each returns, and that a tenant only ever sees and
changes its own rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Connection, Engine

from mes_core.store import BatchWriter, ConflictError, StoreError, transaction
from mes_core.store import repository as repo
from mes_core.store.records import Machine


def _tenant(store: Engine, name: str) -> int:
    with transaction(store) as conn:
        return repo.create_tenant(conn, name, f"{name:x>64}", created_us=1, timezone="Europe/Berlin")


def _machine(tenant_id: int, machine_id: str = "M1", **fields: Any) -> Machine:
    return Machine(
        tenant_id=tenant_id,
        machine_id=machine_id,
        name=f"Mill {machine_id}",
        created_us=5,
        updated_us=5,
        **fields,
    )


def _seed(store: Engine, tenant_id: int, offset: int) -> None:
    """The same machine ids, alarms, states, parts, gaps, cursor and status for a tenant; values differ by
    ``offset`` so rows of different tenants are told apart."""
    with transaction(store) as conn:
        repo.insert_machine(conn, _machine(tenant_id, "M1", agent_url="http://agent:5000", device="vf2"))
        repo.insert_machine(conn, _machine(tenant_id, "M2", source="ix40", ix40_machine_number="7"))
    writer = BatchWriter(store)
    onset = {"category": "spindle", "severity": "CRITICAL", "level": "FAULT"}
    writer.upsert_alarm_onset(tenant_id, "M1", "cond", "1", 100, **onset, text=f"t{offset}")
    writer.upsert_alarm_onset(tenant_id, "M1", "cond", "2", 200, **(onset | {"severity": "WARNING"}))
    writer.upsert_alarm_onset(
        tenant_id, "M2", "cond", "3", 300, category="axis", severity="WARNING", level="WARNING"
    )
    writer.clear_alarm(tenant_id, "M1", "cond", "1", 150)
    writer.upsert_state_interval(tenant_id, "M1", 0, "idle", f"d{offset}")
    writer.upsert_state_interval(tenant_id, "M1", 1_000, "producing")
    writer.add_part_events([(tenant_id, "M1", 500 + i, "good", 1 + offset, "pc", 1, i) for i in range(3)])
    writer.add_part_events([(tenant_id, "M1", 600, "scrap", 1, "rej", 1, 0)])
    writer.add_part_events([(tenant_id, "M2", 600, "good", 7, "pc", 1, 0)])
    writer.add_gap(tenant_id, "M1", 2_000, 3_000, f"agent_down{offset}")
    writer.set_cursor(tenant_id, "http://agent:5000", 9, 100 + offset, updated_us=1)
    writer.set_status(tenant_id, "M1", "online", "producing", {"offset": offset}, updated_us=1)
    writer.flush()


@pytest.fixture
def two_tenants(store: Engine) -> tuple[int, int]:
    """Tenants A and B with identical machine ids and the same kinds of rows (B's values differ)."""
    a, b = _tenant(store, "acme"), _tenant(store, "globex")
    _seed(store, a, 0)
    _seed(store, b, 10)
    return a, b


def test_tenants_are_created_and_found_by_id_name_and_token_hash(store: Engine) -> None:
    """create_tenant returns the new id; the finders return the tenant, or None for unknown values."""
    tenant_id = _tenant(store, "acme")
    with transaction(store) as conn:
        tenant = repo.get_tenant(conn, tenant_id)
        assert tenant is not None
        assert (tenant.name, tenant.timezone, tenant.created_us) == ("acme", "Europe/Berlin", 1)
        assert repo.find_tenant_by_name(conn, "acme") == tenant
        assert repo.find_tenant_by_token_hash(conn, tenant.token_hash) == tenant
        assert repo.find_tenant_by_token_hash(conn, "nope") is None
        assert repo.find_tenant_by_name(conn, "nope") is None
        assert repo.get_tenant(conn, tenant_id + 1) is None


def test_a_tenant_name_or_token_taken_is_a_conflict(store: Engine) -> None:
    """A second tenant with the same name, or the same token hash, is a ConflictError."""
    _tenant(store, "acme")
    with pytest.raises(ConflictError, match="name 'acme'"), transaction(store) as conn:
        repo.create_tenant(conn, "acme", "other-hash", created_us=2)
    with pytest.raises(ConflictError, match="this token"), transaction(store) as conn:
        repo.create_tenant(conn, "other", f"{'acme':x>64}", created_us=2)


def test_machines_insert_get_list_update(store: Engine) -> None:
    """Machines are inserted, read, listed by id and updated field by field (updated_us moves)."""
    tenant_id = _tenant(store, "acme")
    m2 = _machine(tenant_id, "M2", agent_url="http://a:5000", device="vf2")
    with transaction(store) as conn:
        repo.insert_machine(conn, m2)
        repo.insert_machine(conn, _machine(tenant_id, "M1"))
        assert repo.get_machine(conn, tenant_id, "M2") == m2
        assert [m.machine_id for m in repo.list_machines(conn, tenant_id)] == ["M1", "M2"]
        updated = repo.update_machine(
            conn, tenant_id, "M2", {"location": "Hall 2", "poll_interval_ms": 500}, updated_us=9
        )
        assert updated == replace(m2, location="Hall 2", poll_interval_ms=500, updated_us=9)
        assert repo.get_machine(conn, tenant_id, "M2") == updated
        assert repo.update_machine(conn, tenant_id, "M9", {"name": "x"}, updated_us=9) is None
        with pytest.raises(ValueError, match=r"\['tenant_id'\] cannot be changed"):
            repo.update_machine(conn, tenant_id, "M2", {"tenant_id": 2}, updated_us=9)
        with pytest.raises(ConflictError, match="'M1' already exists"):
            repo.insert_machine(conn, _machine(tenant_id, "M1"))


def test_a_machine_of_a_missing_tenant_is_refused(store: Engine) -> None:
    """machines.tenant_id is a foreign key, enforced on SQLite too (foreign_keys=ON)."""
    with pytest.raises(StoreError), transaction(store) as conn:
        repo.insert_machine(conn, _machine(999))


def test_alarms_active_history_and_acknowledge(store: Engine, two_tenants: tuple[int, int]) -> None:
    """Active alarms are those not cleared; history filters and pages newest first; acknowledging keeps the
    first acknowledgement and is False for an alarm the tenant does not have."""
    a, b = two_tenants
    with transaction(store) as conn:
        assert [x.native_code for x in repo.active_alarms(conn, a)] == ["2", "3"]
        assert [x.native_code for x in repo.active_alarms(conn, a, machine_id="M2")] == ["3"]
        assert [x.native_code for x in repo.alarm_history(conn, a)] == ["3", "2", "1"]
        assert [x.native_code for x in repo.alarm_history(conn, a, machine_id="M1")] == ["2", "1"]
        assert [x.native_code for x in repo.alarm_history(conn, a, category="axis")] == ["3"]
        assert [x.native_code for x in repo.alarm_history(conn, a, severity="WARNING")] == ["3", "2"]
        assert [x.native_code for x in repo.alarm_history(conn, a, from_us=100, to_us=300)] == ["2", "1"]
        assert [x.native_code for x in repo.alarm_history(conn, a, limit=1, offset=1)] == ["2"]
        with pytest.raises(ValueError, match="limit 0"):
            repo.alarm_history(conn, a, limit=0)
        with pytest.raises(ValueError, match="offset -1"):
            repo.alarm_history(conn, a, offset=-1)
        alarm = repo.active_alarms(conn, a)[0]
        assert repo.acknowledge_alarm(conn, a, alarm.id, "ann", 400)
        assert repo.acknowledge_alarm(conn, a, alarm.id, "bob", 500)
        (again,) = [x for x in repo.active_alarms(conn, a) if x.id == alarm.id]
        assert (again.ack_by, again.ack_us) == ("ann", 400)
        assert not repo.acknowledge_alarm(conn, b, alarm.id, "mallory", 600)  # A's alarm, asked by B
        assert not repo.acknowledge_alarm(conn, a, 10_000, "ann", 600)
        assert all(x.ack_by is None for x in repo.alarm_history(conn, b))


def test_states_parts_gaps_cursor_status(store: Engine, two_tenants: tuple[int, int]) -> None:
    """Intervals and gaps overlapping [from, to) come back unclipped; part totals sum by kind over
    [from, to); the cursor and status are the last ones written."""
    a, _ = two_tenants
    with transaction(store) as conn:
        states = repo.state_intervals_between(conn, a, "M1", 900, 5_000)
        assert [(s.start_us, s.end_us, s.state) for s in states] == [
            (0, 1_000, "idle"),
            (1_000, None, "producing"),
        ]
        assert [s.state for s in repo.state_intervals_between(conn, a, "M1", 1_000, 5_000)] == ["producing"]
        assert repo.state_intervals_between(conn, a, "M1", 0, 0) == []
        assert repo.part_totals(conn, a, "M1", 0, 10_000) == {"good": 3, "scrap": 1}
        assert repo.part_totals(conn, a, "M1", 501, 502) == {"good": 1}
        assert repo.part_totals(conn, a, None, 0, 10_000) == {"good": 10, "scrap": 1}
        assert repo.part_totals(conn, a, "M9", 0, 10_000) == {}
        assert [g.reason for g in repo.data_gaps_between(conn, a, "M1", 2_999, 4_000)] == ["agent_down0"]
        assert repo.data_gaps_between(conn, a, "M1", 3_000, 4_000) == []
        cursor = repo.get_cursor(conn, a, "http://agent:5000")
        assert cursor is not None
        assert (cursor.instance_id, cursor.next_sequence) == (9, 100)
        assert repo.get_cursor(conn, a, "http://other") is None
        status = repo.get_status(conn, a, "M1")
        assert status is not None
        assert (status.status, status.state, status.values_json) == ("online", "producing", '{"offset": 0}')
        assert repo.list_status(conn, a) == [status]
        assert repo.get_status(conn, a, "M2") is None
        with pytest.raises(ValueError, match="before its start"):
            repo.part_totals(conn, a, "M1", 10, 5)


Query = Callable[[Connection, int], Any]

TENANT_QUERIES: dict[str, Query] = {
    "get_machine": lambda c, t: [repo.get_machine(c, t, "M1")],
    "list_machines": repo.list_machines,
    "active_alarms": repo.active_alarms,
    "alarm_history": repo.alarm_history,
    "state_intervals_between": lambda c, t: repo.state_intervals_between(c, t, "M1", 0, 10_000),
    "data_gaps_between": lambda c, t: repo.data_gaps_between(c, t, "M1", 0, 10_000),
    "get_cursor": lambda c, t: [repo.get_cursor(c, t, "http://agent:5000")],
    "get_status": lambda c, t: [repo.get_status(c, t, "M1")],
    "list_status": repo.list_status,
}


@pytest.mark.parametrize("query", TENANT_QUERIES.values(), ids=TENANT_QUERIES.keys())
def test_a_tenant_never_sees_another_tenants_rows(
    store: Engine, two_tenants: tuple[int, int], query: Query
) -> None:
    """Every tenant-scoped query returns rows of the asking tenant only, and finds them for each tenant."""
    a, b = two_tenants
    with transaction(store) as conn:
        for tenant_id in (a, b):
            rows = query(conn, tenant_id)
            assert rows
            assert all(row is not None and row.tenant_id == tenant_id for row in rows)
        assert query(conn, max(a, b) + 1) in ([], [None])


def test_part_totals_and_updates_are_tenant_scoped(store: Engine, two_tenants: tuple[int, int]) -> None:
    """Part totals count only the tenant's events; a tenant cannot update another's machine."""
    a, b = two_tenants
    with transaction(store) as conn:
        assert repo.part_totals(conn, a, "M1", 0, 10_000) == {"good": 3, "scrap": 1}
        assert repo.part_totals(conn, b, "M1", 0, 10_000) == {"good": 33, "scrap": 1}
        before = repo.get_machine(conn, b, "M1")
        changed = repo.update_machine(conn, a, "M1", {"name": "renamed"}, updated_us=99)
        assert changed is not None
        assert changed.tenant_id == a
        assert repo.get_machine(conn, b, "M1") == before
        assert {m.tenant_id for m in repo.list_all_machines(conn)} == {a, b}
