"""realtime sessions: one row per WebSocket session (retention, listing, enhancement)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "realtime_sessions",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=True),
        sa.Column("worker_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("audio_seconds", sa.Float(), nullable=True),
        sa.Column("speech_seconds", sa.Float(), nullable=True),
        sa.Column("language_code", sa.String(length=16), nullable=True),
        sa.Column("close_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("audio_key", sa.String(length=512), nullable=True),
        sa.Column("transcript_key", sa.String(length=512), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("enhance_job_id", sa.String(length=36), nullable=True),
    )
    op.create_index("ix_realtime_sessions_tenant_id", "realtime_sessions", ["tenant_id"])
    op.create_index("ix_realtime_sessions_status", "realtime_sessions", ["status"])
    op.create_index("ix_realtime_sessions_created_at", "realtime_sessions", ["created_at"])


def downgrade() -> None:
    op.drop_table("realtime_sessions")
