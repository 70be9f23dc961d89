"""The batch writer on SQLite and PostgreSQL: round trips, idempotent replays, one transaction per flush, and
nothing lost when the database fails mid-flush."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, Table, func, select, text

from mes_core.store import BatchWriter, StoreError
from mes_core.store.schema import (
    agent_cursors,
    alarms,
    data_gaps,
    machine_status,
    observations,
    part_events,
    state_intervals,
)

ONLY_POSTGRESQL = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
T = 1  # tenant id (the writer's tables carry no foreign key to tenants)


def _count(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _rows(engine: Engine, table: Table, *order: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        query = select(table).order_by(*(table.c[name] for name in order))
        return [tuple(row) for row in conn.execute(query)]


def _observations(n: int, start: int = 0) -> list[tuple[Any, ...]]:
    return [
        (T, f"M{i % 3}", 1_000_000 + i, 7, i, "Xact", "position", None if i % 2 else f"v{i}", i * 0.5)
        for i in range(start, start + n)
    ]


def _part_events(n: int) -> list[tuple[Any, ...]]:
    return [(T, "M1", 2_000 + i, "good" if i % 4 else "scrap", 1, "part_count", 7, 100 + i) for i in range(n)]


def _fill(writer: BatchWriter) -> None:
    """One of everything: observations, part events, a state change, an alarm and its clear, a gap, status,
    cursor."""
    writer.add_observations(_observations(50))
    writer.add_part_events(_part_events(8))
    writer.upsert_state_interval(T, "M1", 1_000, "producing")
    writer.upsert_state_interval(T, "M1", 5_000, "idle", "no program")
    onset = {"category": "spindle", "severity": "CRITICAL", "level": "FAULT", "text": "SPINDLE OVERLOAD"}
    writer.upsert_alarm_onset(T, "M1", "logic_cond", "1001", 3_000, **onset)
    writer.clear_alarm(T, "M1", "logic_cond", "1001", 4_000)
    writer.add_gap(T, "M1", 6_000, 7_000, "agent_down")
    writer.set_status(T, "M1", "online", "idle", {"execution": "READY"}, updated_us=7_000)
    writer.set_cursor(T, "http://agent:5000", 7, 151, updated_us=7_000)


ALL_TABLES = (observations, part_events, state_intervals, alarms, data_gaps, machine_status, agent_cursors)


def _contents(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but observations, in a stable order."""
    with engine.connect() as conn:
        return {
            table.name: sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
            for table in ALL_TABLES
            if table is not observations
        }


def _snapshot(engine: Engine) -> dict[str, int]:
    return {table.name: _count(engine, table) for table in ALL_TABLES}


FILLED = {
    "observations": 50,
    "part_events": 8,
    "state_intervals": 2,
    "alarms": 1,
    "data_gaps": 1,
    "machine_status": 1,
    "agent_cursors": 1,
}


def test_observations_round_trip_from_tuples_and_mappings(store: Engine) -> None:
    """Observations given as tuples or as mappings come back exactly, with None and floats intact."""
    writer = BatchWriter(store)
    rows = _observations(1_000)
    writer.add_observations(rows[:600])
    columns = [column.name for column in observations.columns]
    writer.add_observations([dict(zip(columns, row, strict=True)) for row in rows[600:]])
    assert writer.pending == 1_000
    assert writer.flush() == 1_000
    assert writer.pending == 0
    assert _rows(store, observations, "seq") == rows
    assert writer.flush() == 0


def test_everything_round_trips(store: Engine) -> None:
    """Each kind of row lands in its table, with the intervals chained and the alarm cleared."""
    writer = BatchWriter(store)
    _fill(writer)
    writer.flush()
    assert _snapshot(store) == FILLED
    assert _rows(store, state_intervals, "start_us") == [
        (T, "M1", 1_000, 5_000, "producing", None),
        (T, "M1", 5_000, None, "idle", "no program"),
    ]
    (alarm,) = _rows(store, alarms, "id")
    assert alarm[1:] == (
        T,
        "M1",
        "logic_cond",
        "1001",
        "spindle",
        "CRITICAL",
        "FAULT",
        "SPINDLE OVERLOAD",
        3_000,
        4_000,
        None,
        None,
    )
    (status,) = _rows(store, machine_status, "machine_id")
    assert json.loads(status[5]) == {"execution": "READY"}


def test_replaying_the_same_rows_changes_nothing(store: Engine) -> None:
    """Part events, alarm onsets and clears, state intervals, gaps, status and cursors fed twice are stored
    once: in a second flush, and twice within one flush."""
    writer = BatchWriter(store)
    _fill(writer)
    writer.flush()
    before = _contents(store)
    for _ in range(2):
        _fill(writer)
    writer.flush()
    assert _contents(store) == before
    assert _count(store, observations) == 3 * 50  # observations carry no key: every row given is stored


def test_part_events_duplicates_are_ignored(store: Engine) -> None:
    """A part event with a stored (tenant, machine, item, instance, seq) is ignored, whatever its values."""
    writer = BatchWriter(store)
    writer.add_part_events(_part_events(4))
    writer.flush()
    writer.add_part_events([(T, "M1", 9_999, "good", 5, "part_count", 7, 100)])  # seq 100 again
    writer.add_part_events([(T, "M1", 9_999, "good", 5, "part_count", 8, 100)])  # a new agent instance
    writer.flush()
    with store.connect() as conn:
        total = conn.execute(select(func.sum(part_events.c.delta))).scalar_one()
    assert total == 4 + 5


def test_state_intervals_close_the_open_one(store: Engine) -> None:
    """A new interval closes the machine's open one, only that machine's, across flushes; close ends it."""
    writer = BatchWriter(store)
    writer.upsert_state_interval(T, "M1", 100, "idle")
    writer.upsert_state_interval(T, "M2", 150, "producing")
    writer.flush()
    writer.upsert_state_interval(T, "M1", 200, "producing")
    writer.close_state_interval(T, "M1", 300)
    writer.flush()
    assert _rows(store, state_intervals, "machine_id", "start_us") == [
        (T, "M1", 100, 200, "idle", None),
        (T, "M1", 200, 300, "producing", None),
        (T, "M2", 150, None, "producing", None),
    ]


def test_clear_without_a_code_clears_every_open_alarm_of_the_item(store: Engine) -> None:
    """An MTConnect Normal without a native code clears the item's open alarms, not another item's."""
    writer = BatchWriter(store)
    onset = {"category": "axis", "severity": "WARNING", "level": "WARNING"}
    writer.upsert_alarm_onset(T, "M1", "cond", "A", 10, **onset)
    writer.upsert_alarm_onset(T, "M1", "cond", "B", 20, **onset)
    writer.upsert_alarm_onset(T, "M1", "other", "A", 20, **onset)
    writer.flush()
    writer.clear_alarm(T, "M1", "cond", None, 30)
    writer.clear_alarm(T, "M1", "cond", None, 40)  # a replayed clear keeps the first
    writer.flush()
    cleared = {(row[3], row[4]): row[10] for row in _rows(store, alarms, "id")}
    assert cleared == {("cond", "A"): 30, ("cond", "B"): 30, ("other", "A"): None}


def test_status_and_cursor_keep_the_last_value_set(store: Engine) -> None:
    """Status and cursor are upserts: the last value set before a flush wins, across flushes too."""
    writer = BatchWriter(store, clock=lambda: 42)
    writer.set_cursor(T, "http://a", 1, 10)
    writer.set_cursor(T, "http://a", 1, 20)
    writer.set_status(T, "M1", "online", "idle", "{}")
    writer.flush()
    writer.set_cursor(T, "http://a", 2, 5)
    writer.set_status(T, "M1", "offline", "no_data", '{"x": 1}')
    writer.flush()
    assert _rows(store, agent_cursors, "agent_url") == [(T, "http://a", 2, 5, 42)]
    assert _rows(store, machine_status, "machine_id") == [(T, "M1", 42, "offline", "no_data", '{"x": 1}')]


def test_malformed_rows_are_refused_before_buffering(store: Engine) -> None:
    """A row of the wrong width, or a mapping without a column, is a ValueError and nothing is buffered."""
    writer = BatchWriter(store)
    with pytest.raises(ValueError, match="9-tuple"):
        writer.add_observations([*_observations(2), (1, 2, 3)])
    with pytest.raises(ValueError, match="has no 'ts_us'"):
        writer.add_part_events([{"tenant_id": T, "machine_id": "M1"}])
    with pytest.raises(ValueError, match="before its start"):
        writer.add_gap(T, "M1", 10, 5, "x")
    assert writer.pending == 0


def _break_gaps(engine: Engine, broken: bool) -> None:
    names = ("data_gaps", "data_gaps_off") if broken else ("data_gaps_off", "data_gaps")
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {names[0]} RENAME TO {names[1]}"))


def test_a_failed_flush_writes_nothing_and_keeps_every_row(store: Engine) -> None:
    """When the database fails mid-flush (after the observations, at the gaps), the whole flush rolls back:
    no partial writes are visible, every row stays buffered, and the next flush writes each exactly once."""
    writer = BatchWriter(store)
    _fill(writer)
    pending = writer.pending
    _break_gaps(store, broken=True)
    with pytest.raises(StoreError, match="kept for the next flush"):
        writer.flush()
    assert writer.pending == pending
    assert not any(_count(store, table) for table in ALL_TABLES if table is not data_gaps)
    writer.add_observations(_observations(5, start=1_000))  # added after the failure, written with the rest
    _break_gaps(store, broken=False)
    assert writer.flush() == pending + 5
    assert _snapshot(store) == FILLED | {"observations": 55}
    assert [row[4] for row in _rows(store, observations, "seq")][-5:] == list(range(1_000, 1_005))


@ONLY_POSTGRESQL
def test_a_connection_killed_during_copy_loses_nothing(store: Engine) -> None:
    """PostgreSQL: the server kills the connection in the middle of the observations' COPY; the flush fails,
    the pool drops the dead connection, and the next flush writes everything once."""
    with store.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION die() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$"
            )
        )
        conn.execute(
            text("CREATE TRIGGER die AFTER INSERT ON observations FOR EACH STATEMENT EXECUTE FUNCTION die()")
        )
    writer = BatchWriter(store)
    _fill(writer)
    pending = writer.pending
    with pytest.raises(StoreError, match="kept for the next flush"):
        writer.flush()
    assert writer.pending == pending
    with store.begin() as conn:
        conn.execute(text("DROP TRIGGER die ON observations"))
    assert _snapshot(store) == dict.fromkeys(FILLED, 0)
    assert writer.flush() == pending
    assert _snapshot(store) == FILLED


@ONLY_POSTGRESQL
def test_flush_survives_the_server_dropping_idle_connections(store: Engine) -> None:
    """PostgreSQL: after the server terminates the pool's idle connections (a restart), the next flush just
    works: connections are checked before use."""
    writer = BatchWriter(store)
    writer.add_observations(_observations(10))
    writer.flush()
    url = store.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as killer:  # outside the pool, so the pool's one is killed
        killed = killer.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert killed is not None
    assert killed[0] >= 1
    writer.add_observations(_observations(10, start=10))
    assert writer.flush() == 10
    assert _count(store, observations) == 20


def test_a_clear_and_a_new_onset_at_one_instant_close_only_the_old_alarm(store: Engine) -> None:
    writer = BatchWriter(store)
    writer.upsert_alarm_onset(
        1, "M", "sys", "A1", 1000, category="other", severity="WARNING", level="WARNING"
    )
    writer.flush()
    # The warning turns into a fault at 2000: the tracker clears the warning and raises the fault there.
    writer.clear_alarm(1, "M", "sys", "A1", 2000)
    writer.upsert_alarm_onset(1, "M", "sys", "A1", 2000, category="other", severity="CRITICAL", level="FAULT")
    writer.flush()
    with store.connect() as conn:
        rows = conn.execute(
            select(alarms.c.level, alarms.c.onset_us, alarms.c.clear_us).order_by(alarms.c.onset_us)
        )
        assert [tuple(r) for r in rows] == [("WARNING", 1000, 2000), ("FAULT", 2000, None)]


def test_the_last_state_at_one_instant_is_the_state(store: Engine) -> None:
    writer = BatchWriter(store)
    writer.upsert_state_interval(1, "M", 1000, "no_data", "execution_unavailable")
    writer.upsert_state_interval(1, "M", 1000, "idle", None)
    writer.flush()
    writer.upsert_state_interval(1, "M", 1000, "producing", None)
    writer.flush()
    with store.connect() as conn:
        rows = conn.execute(select(state_intervals.c.state, state_intervals.c.detail))
        assert [tuple(r) for r in rows] == [("producing", None)]


# -- the ingest path's fast paths ----------------------------------------------------------------------


def test_observations_are_written_grouped_by_machine_each_in_its_own_order(store: Engine) -> None:
    """A flush groups the rows by machine (the index stays local) without reordering any machine's rows:
    in insertion (rowid) order each machine's rows come as they were added."""
    writer = BatchWriter(store)
    rows = [(T, f"M{i % 3}", 9_000 - i, 7, i, "Xact", None, None, None) for i in range(30)]  # times go back
    writer.extend_observations(rows)
    writer.flush()
    order = "rowid" if store.dialect.name == "sqlite" else "ctid"  # insertion order (a fresh table)
    with store.connect() as conn:
        query = text(f"SELECT machine_id, seq FROM observations ORDER BY {order}")
        stored = [tuple(row) for row in conn.execute(query)]
    assert [machine for machine, _ in stored] == ["M0"] * 10 + ["M1"] * 10 + ["M2"] * 10
    for machine in ("M0", "M1", "M2"):
        assert [seq for m, seq in stored if m == machine] == [i for i in range(30) if f"M{i % 3}" == machine]


# -- the writer process --------------------------------------------------------------------------------


def test_a_writer_process_writes_what_the_writer_writes_in_process(store: Engine) -> None:
    """Every kind of row, through the child process, lands as it does when the writer writes itself."""
    writer = BatchWriter(store, process=True)
    try:
        writer.start()
        assert writer.process_pid is not None
        _fill(writer)
        pending = writer.pending
        assert writer.flush() == pending
        assert writer.pending == 0
        assert _snapshot(store) == FILLED
        assert [row[4] for row in _rows(store, observations, "seq")] == list(range(50))
    finally:
        writer.close()
    assert writer.process_pid is None


def test_a_writer_process_that_died_is_started_again(store: Engine) -> None:
    """A child gone between flushes is replaced before the next batch goes out: nothing fails."""
    writer = BatchWriter(store, process=True)
    try:
        writer.start()
        pid = writer.process_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        _fill(writer)
        assert writer.flush() > 0
        assert writer.process_pid not in (None, pid)
        assert _snapshot(store) == FILLED
    finally:
        writer.close()


def test_a_writer_process_that_hangs_mid_flush_keeps_the_batch_and_is_replaced(store: Engine) -> None:
    """A child that stops answering (here: stopped) fails the flush after the timeout, every row kept; it is
    killed, and the next flush starts a new child that writes them, once."""
    writer = BatchWriter(store, process=True, process_timeout_s=3.0)
    try:
        writer.start()
        pid = writer.process_pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        writer.add_observations(_observations(20_000))  # more than a pipe holds
        writer.set_cursor(T, "http://agent:5000", 7, 20_001, updated_us=1)
        with pytest.raises(StoreError, match="not committed and is kept"):
            writer.flush()
        assert writer.pending == 20_001
        assert writer.flush() == 20_001  # a new child (or, had it been slow, the committed cursor says so)
        assert writer.process_pid != pid
        assert _count(store, observations) == 20_000
    finally:
        writer.close()


def test_a_batch_the_writer_process_committed_before_dying_is_not_written_again(
    store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child commits, then dies before it answers: the cursors written with the batch show it was
    committed, so it is not kept (and written twice) but counted as written."""
    from mes_core.store import writer as module

    real_write = module._WriterProcess.write

    def commit_then_die(self: Any, batch: Any) -> None:
        real_write(self, batch)
        raise module._ProcessLost("the writer process ended (EOFError)")

    writer = BatchWriter(store, process=True)
    try:
        _fill(writer)
        pending = writer.pending
        monkeypatch.setattr(module._WriterProcess, "write", commit_then_die)
        assert writer.flush() == pending
        assert writer.pending == 0
        assert _snapshot(store) == FILLED
        writer.add_observations(_observations(3, start=500))  # no cursor: cannot tell, so kept
        with pytest.raises(StoreError, match="not committed and is kept"):
            writer.flush()
        assert writer.pending == 3
    finally:
        writer.close()


def test_a_writer_process_needs_a_database_it_can_open() -> None:
    from mes_core.store import connect

    engine = connect("sqlite://")
    try:
        with pytest.raises(ValueError, match="in-memory"):
            BatchWriter(engine, process=True)
    finally:
        engine.dispose()


def test_a_late_state_change_splits_the_timeline_where_it_belongs(store: Engine) -> None:
    """A change that arrives after a newer one (late data) takes its place in the timeline: the interval it
    falls in ends where it begins, and it ends where the next stored one begins; nothing overlaps and the
    newest interval stays open. A replay of stored changes leaves the timeline as it was."""
    writer = BatchWriter(store)
    writer.upsert_state_interval(T, "M1", 100, "idle")
    writer.upsert_state_interval(T, "M1", 300, "producing")
    writer.flush()
    writer.upsert_state_interval(T, "M1", 200, "alarm")
    writer.flush()
    expected = [
        (T, "M1", 100, 200, "idle", None),
        (T, "M1", 200, 300, "alarm", None),
        (T, "M1", 300, None, "producing", None),
    ]
    assert _rows(store, state_intervals, "start_us") == expected
    for start, state in ((100, "idle"), (200, "alarm"), (300, "producing")):
        writer.upsert_state_interval(T, "M1", start, state)
    writer.flush()
    assert _rows(store, state_intervals, "start_us") == expected
