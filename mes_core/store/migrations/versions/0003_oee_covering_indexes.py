"""Covering indexes for the OEE loaders: state intervals and part events are summed from the index alone.

The OEE of a machine over a month adds up tens of thousands of intervals and part events per range of the
shift calendar. With the columns it reads in the index, neither SQLite nor PostgreSQL (index-only scan) has
to visit the table rows. The part events' index replaces ``ix_part_events_machine_ts``, its prefix.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Written by hand, frozen: later changes to schema.py get a new revision, never an edit here.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the covering indexes; drop the part events' index they make redundant."""
    op.create_index(
        "ix_state_intervals_oee",
        "state_intervals",
        ["tenant_id", "machine_id", "start_us", "end_us", "state"],
    )
    op.create_index(
        "ix_part_events_machine_ts_kind", "part_events", ["tenant_id", "machine_id", "ts_us", "kind", "delta"]
    )
    op.drop_index("ix_part_events_machine_ts", table_name="part_events")


def downgrade() -> None:
    """Restore the indexes of revision 0002."""
    op.create_index("ix_part_events_machine_ts", "part_events", ["tenant_id", "machine_id", "ts_us"])
    op.drop_index("ix_part_events_machine_ts_kind", table_name="part_events")
    op.drop_index("ix_state_intervals_oee", table_name="state_intervals")
