"""rollout: soak per org, the flag audit trail, per-org real-time health figures

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tandem.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HISTOGRAM = ("le_50", "le_100", "le_250", "le_500", "le_1000", "le_2500", "le_5000", "le_inf")


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("flag_overrides", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("soak", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "flag_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", tandem.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=True),
        sa.Column("actor_id", sa.String(length=32), nullable=True),
        sa.Column("before", sa.String(length=200), nullable=False),
        sa.Column("after", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_flag_changes_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag_changes")),
    )
    with op.batch_alter_table("flag_changes", schema=None) as batch_op:
        batch_op.create_index("ix_flag_changes_org", ["org_id", "id"], unique=False)
    op.create_table(
        "realtime_health",
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        _count("samples"),
        _count("over"),
        *(_count(name) for name in HISTOGRAM),
        _count("drift"),
        _count("calls"),
        _count("errors"),
        sa.PrimaryKeyConstraint("org_id", "phase", "minute", name=op.f("pk_realtime_health")),
    )


def downgrade() -> None:
    op.drop_table("realtime_health")
    with op.batch_alter_table("flag_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_flag_changes_org")
    op.drop_table("flag_changes")
    with op.batch_alter_table("flag_overrides", schema=None) as batch_op:
        batch_op.drop_column("soak")
