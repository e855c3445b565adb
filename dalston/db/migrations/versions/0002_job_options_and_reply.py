"""typed job options apart from how the API family answers

The untyped ``params`` column becomes ``options`` (the serialised ``JobOptions``); what an
API family needs to answer moves to ``reply``, and ``notify_task`` names the task that
hears of the job's end.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.alter_column("params", new_column_name="options")
        batch_op.add_column(sa.Column("reply", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("notify_task", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("notify_task")
        batch_op.drop_column("reply")
        batch_op.alter_column("options", new_column_name="params")
