"""stage rows keep their stage's output (a chunk's transcript)

A per-chunk stage's result (transcribe's chunk transcript, align's re-timed chunk, the
whole-file engine's transcript) is written on its stage row by the statement that marks it
done, instead of as an object in storage: no storage round trip per chunk, merge reads every
chunk in one query, and "done" and "its output exists" are one fact.

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-01 20:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stage_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("output", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stage_runs", schema=None) as batch_op:
        batch_op.drop_column("output")
