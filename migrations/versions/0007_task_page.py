"""task page: subtasks, comments, the task's history, and the counts a card shows

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 17:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tandem.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _task_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["task_id"], ["tasks.id"], name=op.f(f"fk_{table}_task_id_tasks"), ondelete="CASCADE"
    )


def _user_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.id"], name=op.f(f"fk_{table}_{column}_users"), ondelete="SET NULL"
    )


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        for column in ("subtasks_done", "subtasks_total", "attachment_count"):
            batch_op.add_column(sa.Column(column, sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "subtasks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column(
            "rank",
            sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", tandem.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tandem.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        _task_fk("subtasks"),
        _user_fk("subtasks", "created_by"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subtasks")),
    )
    with op.batch_alter_table("subtasks", schema=None) as batch_op:
        batch_op.create_index("ix_subtasks_task", ["task_id", "rank"], unique=False)
        batch_op.create_index(
            "ix_subtasks_client", ["task_id", "created_by", "client_id"], unique=True
        )
    op.create_table(
        "comments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("author_id", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", tandem.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("edited_at", tandem.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        _task_fk("comments"),
        _user_fk("comments", "author_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.create_index("ix_comments_task", ["task_id", "created_at"], unique=False)
        batch_op.create_index(
            "ix_comments_client", ["task_id", "author_id", "client_id"], unique=True
        )
    op.create_table(
        "task_activity",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=32), nullable=True),
        sa.Column("verb", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("created_at", tandem.db.UTCDateTime(timezone=True), nullable=False),
        _task_fk("task_activity"),
        _user_fk("task_activity", "actor_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_activity")),
    )
    with op.batch_alter_table("task_activity", schema=None) as batch_op:
        batch_op.create_index("ix_task_activity_task", ["task_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("task_activity")
    op.drop_table("comments")
    op.drop_table("subtasks")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        for column in ("attachment_count", "subtasks_total", "subtasks_done"):
            batch_op.drop_column(column)
