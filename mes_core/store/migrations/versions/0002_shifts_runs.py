"""Shift schedules, calendar exceptions, production runs with their phases, and rejected parts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Written by hand, frozen: later changes to schema.py get a new revision, never an edit here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the tables and their indexes."""
    op.create_table(
        "shift_schedules",
        sa.Column("tenant_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("day_start", sa.String(5), nullable=False, server_default="00:00"),
        sa.Column("break_policy", sa.String(16), nullable=False, server_default="planned"),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "shifts",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("start", sa.String(5), nullable=False),
        sa.Column("end", sa.String(5), nullable=False),
        sa.Column("break_minutes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("breaks_json", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("days", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "name"),
    )
    op.create_table(
        "calendar_exceptions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("start_local", sa.String(19), nullable=False),
        sa.Column("end_local", sa.String(19), nullable=False),
        sa.Column("name", sa.String(100), nullable=False, server_default=""),
        sa.Column("machine_id", sa.String(200), nullable=True),
    )
    op.create_index("ix_calendar_exceptions_tenant", "calendar_exceptions", ["tenant_id"])
    op.create_table(
        "runs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.String(200), nullable=False),
        sa.Column("job_number", sa.String(100), nullable=False),
        sa.Column("part_number", sa.String(100), nullable=True),
        sa.Column("program_name", sa.String(100), nullable=True),
        sa.Column("planned_quantity", sa.Integer(), nullable=True),
        sa.Column("ideal_cycle_time_s", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("started_us", sa.BigInteger(), nullable=False),
        sa.Column("ended_us", sa.BigInteger(), nullable=True),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.Column("actual_quantity", sa.Integer(), nullable=True),
        sa.Column("rejected_quantity", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("operator_notes", sa.Text(), nullable=True),
    )
    op.create_index("ix_runs_machine_start", "runs", ["tenant_id", "machine_id", "started_us"])
    op.create_table(
        "run_phases",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_us", sa.BigInteger(), nullable=False),
        sa.Column("end_us", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "run_id", "position"),
    )
    op.create_table(
        "part_rejects",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.String(200), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(40), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_part_rejects_machine_ts", "part_rejects", ["tenant_id", "machine_id", "ts_us"])


def downgrade() -> None:
    """Drop what ``upgrade`` made."""
    op.drop_index("ix_part_rejects_machine_ts", table_name="part_rejects")
    op.drop_table("part_rejects")
    op.drop_table("run_phases")
    op.drop_index("ix_runs_machine_start", table_name="runs")
    op.drop_table("runs")
    op.drop_index("ix_calendar_exceptions_tenant", table_name="calendar_exceptions")
    op.drop_table("calendar_exceptions")
    op.drop_table("shifts")
    op.drop_table("shift_schedules")
