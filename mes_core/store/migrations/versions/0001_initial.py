"""The first MES tables: tenants, machines, observations, state intervals, part events, alarms, data gaps,
agent cursors and machine status (as ``mes_core/store/schema.py`` defines them).

Revision ID: 0001
Revises:
Create Date: 2026-03-02

Written by hand, frozen: later changes to schema.py get a new revision, never an edit here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the tables and their indexes."""
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "machines",
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("machine_id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(64), nullable=True),
        sa.Column("location", sa.String(200), nullable=True),
        sa.Column("source", sa.String(16), nullable=False, server_default="mtconnect"),
        sa.Column("agent_url", sa.String(500), nullable=True),
        sa.Column("device", sa.String(200), nullable=True),
        sa.Column("poll_interval_ms", sa.Integer(), nullable=False, server_default="1000"),
        sa.Column("ix40_base_url", sa.String(500), nullable=True),
        sa.Column("ix40_api_key", sa.String(200), nullable=True),
        sa.Column("ix40_machine_number", sa.String(64), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "machine_id"),
    )
    op.create_table(
        "observations",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.String(200), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("instance_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("signal", sa.String(64), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("num", sa.Float(), nullable=True),
    )
    op.create_index("ix_observations_machine_ts", "observations", ["tenant_id", "machine_id", "ts_us"])
    op.create_table(
        "state_intervals",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.String(200), nullable=False),
        sa.Column("start_us", sa.BigInteger(), nullable=False),
        sa.Column("end_us", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "machine_id", "start_us"),
    )
    op.create_table(
        "part_events",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.String(200), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("instance_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint(
            "tenant_id", "machine_id", "item_id", "instance_id", "seq", name="uq_part_events_source"
        ),
    )
    op.create_index("ix_part_events_machine_ts", "part_events", ["tenant_id", "machine_id", "ts_us"])
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.String(200), nullable=False),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("native_code", sa.String(64), nullable=False, server_default=""),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("onset_us", sa.BigInteger(), nullable=False),
        sa.Column("clear_us", sa.BigInteger(), nullable=True),
        sa.Column("ack_by", sa.String(200), nullable=True),
        sa.Column("ack_us", sa.BigInteger(), nullable=True),
        sa.UniqueConstraint(
            "tenant_id", "machine_id", "item_id", "native_code", "onset_us", name="uq_alarms_onset"
        ),
    )
    op.create_index("ix_alarms_machine_onset", "alarms", ["tenant_id", "machine_id", "onset_us"])
    op.create_table(
        "data_gaps",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.String(200), nullable=False),
        sa.Column("start_us", sa.BigInteger(), nullable=False),
        sa.Column("end_us", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "machine_id", "start_us"),
    )
    op.create_table(
        "agent_cursors",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("agent_url", sa.String(500), nullable=False),
        sa.Column("instance_id", sa.BigInteger(), nullable=False),
        sa.Column("next_sequence", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "agent_url"),
    )
    op.create_table(
        "machine_status",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.String(200), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("values_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "machine_id"),
    )


def downgrade() -> None:
    """Drop every table (and with them their indexes and data)."""
    for table in (
        "machine_status",
        "agent_cursors",
        "data_gaps",
        "alarms",
        "part_events",
        "state_intervals",
        "observations",
        "machines",
        "tenants",
    ):
        op.drop_table(table)
