"""job_events.reason_code/reason_params (rendered in the reader's language) and printer_events

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason_code", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=True))
        batch_op.add_column(sa.Column("reason_params", sa.JSON(), nullable=True))
    op.create_table(
        "printer_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("printer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("reason_code", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=True),
        sa.Column("reason_params", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.ForeignKeyConstraint(["printer_id"], ["printers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("printer_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_printer_events_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_printer_events_job_id"), ["job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_printer_events_printer_id"), ["printer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("printer_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_printer_events_printer_id"))
        batch_op.drop_index(batch_op.f("ix_printer_events_job_id"))
        batch_op.drop_index(batch_op.f("ix_printer_events_at"))
    op.drop_table("printer_events")
    with op.batch_alter_table("job_events", schema=None) as batch_op:
        batch_op.drop_column("reason_params")
        batch_op.drop_column("reason_code")
