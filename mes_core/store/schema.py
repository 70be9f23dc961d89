"""The MES tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Instants are UTC epoch microseconds in BIGINT columns (``*_us``): exact, ordered, time-zone free, and as fast
to bulk-load as integers get. Every table is scoped by ``tenant_id``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "agent_cursors",
    "alarms",
    "calendar_exceptions",
    "data_gaps",
    "machine_status",
    "machines",
    "metadata",
    "observations",
    "part_events",
    "part_rejects",
    "run_phases",
    "runs",
    "shift_schedules",
    "shifts",
    "state_intervals",
    "tenants",
]

metadata = MetaData()

tenants = Table(
    "tenants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("timezone", String(64), nullable=False, server_default="UTC"),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_us", BigInteger, nullable=False),
)

machines = Table(
    "machines",
    metadata,
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("machine_id", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("type", String(64), nullable=True),
    Column("location", String(200), nullable=True),
    Column("source", String(16), nullable=False, server_default="mtconnect"),
    Column("agent_url", String(500), nullable=True),
    Column("device", String(200), nullable=True),
    Column("poll_interval_ms", Integer, nullable=False, server_default="1000"),
    Column("ix40_base_url", String(500), nullable=True),
    Column("ix40_api_key", String(200), nullable=True),
    Column("ix40_machine_number", String(64), nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "machine_id"),
)

observations = Table(
    "observations",
    metadata,
    Column("tenant_id", Integer, nullable=False),
    Column("machine_id", String(200), nullable=False),
    Column("ts_us", BigInteger, nullable=False),
    Column("instance_id", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("item_id", String(200), nullable=False),
    Column("signal", String(64), nullable=True),
    Column("value", Text, nullable=True),
    Column("num", Float, nullable=True),
    Index("ix_observations_machine_ts", "tenant_id", "machine_id", "ts_us"),
)

state_intervals = Table(
    "state_intervals",
    metadata,
    Column("tenant_id", Integer, nullable=False),
    Column("machine_id", String(200), nullable=False),
    Column("start_us", BigInteger, nullable=False),
    Column("end_us", BigInteger, nullable=True),
    Column("state", String(32), nullable=False),
    Column("detail", String(64), nullable=True),
    PrimaryKeyConstraint("tenant_id", "machine_id", "start_us"),
    # Covers the OEE loaders: they sum intervals from the index alone.
    Index("ix_state_intervals_oee", "tenant_id", "machine_id", "start_us", "end_us", "state"),
)

part_events = Table(
    "part_events",
    metadata,
    Column("tenant_id", Integer, nullable=False),
    Column("machine_id", String(200), nullable=False),
    Column("ts_us", BigInteger, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("delta", Integer, nullable=False),
    Column("item_id", String(200), nullable=False),
    Column("instance_id", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    UniqueConstraint(
        "tenant_id", "machine_id", "item_id", "instance_id", "seq", name="uq_part_events_source"
    ),
    # By time; covers the OEE loaders, which sum deltas by kind from the index alone.
    Index("ix_part_events_machine_ts_kind", "tenant_id", "machine_id", "ts_us", "kind", "delta"),
)

alarms = Table(
    "alarms",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, nullable=False),
    Column("machine_id", String(200), nullable=False),
    Column("item_id", String(200), nullable=False),
    Column("native_code", String(64), nullable=False, server_default=""),
    Column("category", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("level", String(16), nullable=False),
    Column("text", Text, nullable=True),
    Column("onset_us", BigInteger, nullable=False),
    Column("clear_us", BigInteger, nullable=True),
    Column("ack_by", String(200), nullable=True),
    Column("ack_us", BigInteger, nullable=True),
    UniqueConstraint("tenant_id", "machine_id", "item_id", "native_code", "onset_us", name="uq_alarms_onset"),
    Index("ix_alarms_machine_onset", "tenant_id", "machine_id", "onset_us"),
)

data_gaps = Table(
    "data_gaps",
    metadata,
    Column("tenant_id", Integer, nullable=False),
    Column("machine_id", String(200), nullable=False),
    Column("start_us", BigInteger, nullable=False),
    Column("end_us", BigInteger, nullable=False),
    Column("reason", String(64), nullable=False),
    PrimaryKeyConstraint("tenant_id", "machine_id", "start_us"),
)

agent_cursors = Table(
    "agent_cursors",
    metadata,
    Column("tenant_id", Integer, nullable=False),
    Column("agent_url", String(500), nullable=False),
    Column("instance_id", BigInteger, nullable=False),
    Column("next_sequence", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "agent_url"),
)

machine_status = Table(
    "machine_status",
    metadata,
    Column("tenant_id", Integer, nullable=False),
    Column("machine_id", String(200), nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("state", String(32), nullable=False),
    Column("values_json", Text, nullable=False),
    PrimaryKeyConstraint("tenant_id", "machine_id"),
)

shift_schedules = Table(
    "shift_schedules",
    metadata,
    Column("tenant_id", Integer, primary_key=True, autoincrement=False),
    Column("day_start", String(5), nullable=False, server_default="00:00"),
    Column("break_policy", String(16), nullable=False, server_default="planned"),
    Column("updated_us", BigInteger, nullable=False),
)

shifts = Table(
    "shifts",
    metadata,
    Column("tenant_id", Integer, nullable=False),
    Column("name", String(100), nullable=False),
    Column("position", Integer, nullable=False),
    Column("start", String(5), nullable=False),
    Column("end", String(5), nullable=False),
    Column("break_minutes", Integer, nullable=False, server_default="0"),
    Column("breaks_json", Text, nullable=False, server_default="[]"),
    Column("days", String(40), nullable=False),
    PrimaryKeyConstraint("tenant_id", "name"),
)

calendar_exceptions = Table(
    "calendar_exceptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("start_local", String(19), nullable=False),
    Column("end_local", String(19), nullable=False),
    Column("name", String(100), nullable=False, server_default=""),
    Column("machine_id", String(200), nullable=True),
    Index("ix_calendar_exceptions_tenant", "tenant_id"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("machine_id", String(200), nullable=False),
    Column("job_number", String(100), nullable=False),
    Column("part_number", String(100), nullable=True),
    Column("program_name", String(100), nullable=True),
    Column("planned_quantity", Integer, nullable=True),
    Column("ideal_cycle_time_s", Float, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("started_us", BigInteger, nullable=False),
    Column("ended_us", BigInteger, nullable=True),
    Column("updated_us", BigInteger, nullable=False),
    Column("actual_quantity", Integer, nullable=True),
    Column("rejected_quantity", Integer, nullable=False, server_default="0"),
    Column("operator_notes", Text, nullable=True),
    Index("ix_runs_machine_start", "tenant_id", "machine_id", "started_us"),
)

run_phases = Table(
    "run_phases",
    metadata,
    Column("tenant_id", Integer, nullable=False),
    Column("run_id", String(40), nullable=False),
    Column("position", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_us", BigInteger, nullable=False),
    Column("end_us", BigInteger, nullable=True),
    PrimaryKeyConstraint("tenant_id", "run_id", "position"),
)

part_rejects = Table(
    "part_rejects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, nullable=False),
    Column("machine_id", String(200), nullable=False),
    Column("ts_us", BigInteger, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("run_id", String(40), nullable=True),
    Column("reason", Text, nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_part_rejects_machine_ts", "tenant_id", "machine_id", "ts_us"),
)
