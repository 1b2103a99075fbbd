"""dashboard tallies, emitter state and activity

Tasks already there (a demo database) are counted into the tallies here, so their metrics are
right from the start.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 16:50:51.486800
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

import tandem.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "activities",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=True),
        sa.Column("actor_id", sa.String(length=32), nullable=True),
        sa.Column("verb", sa.String(length=24), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("created_at", tandem.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_activities_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activities")),
    )
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index("ix_activities_feed", ["org_id", "created_at", "id"], unique=False)

    op.create_table(
        "dashboard_dirty",
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("mark", sa.Integer(), nullable=False),
        sa.Column("since_day", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_dashboard_dirty_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "project_id", name=op.f("pk_dashboard_dirty")),
    )
    op.create_table(
        "dashboard_emitted",
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("audience", sa.String(length=32), nullable=False),
        sa.Column("emitted_at", tandem.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_dashboard_emitted_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "audience", name=op.f("pk_dashboard_emitted")),
    )
    op.create_table(
        "dashboard_day_tally",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_dashboard_day_tally_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_dashboard_day_tally_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "day", name=op.f("pk_dashboard_day_tally")),
    )
    with op.batch_alter_table("dashboard_day_tally", schema=None) as batch_op:
        batch_op.create_index("ix_dashboard_day_tally_org_day", ["org_id", "day"], unique=False)

    op.create_table(
        "dashboard_due_tally",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_dashboard_due_tally_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_dashboard_due_tally_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "due_date", name=op.f("pk_dashboard_due_tally")),
    )
    with op.batch_alter_table("dashboard_due_tally", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dashboard_due_tally_org_due", ["org_id", "due_date"], unique=False
        )

    op.create_table(
        "dashboard_status_tally",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("assignee_id", sa.String(length=32), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_dashboard_status_tally_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_dashboard_status_tally_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "project_id", "status", "assignee_id", "done", name=op.f("pk_dashboard_status_tally")
        ),
    )
    with op.batch_alter_table("dashboard_status_tally", schema=None) as batch_op:
        batch_op.create_index("ix_dashboard_status_tally_org", ["org_id"], unique=False)

    _count_existing_tasks()


def _day(value: datetime) -> date:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).date()


def _count_existing_tasks() -> None:
    """The tallies of the tasks that exist, as dashboard/metrics.py's Deltas counts each one."""
    tasks = sa.table(
        "tasks",
        sa.column("org_id", sa.String),
        sa.column("project_id", sa.String),
        sa.column("status", sa.String),
        sa.column("assignee_id", sa.String),
        sa.column("due_date", sa.Date),
        sa.column("created_at", tandem.db.UTCDateTime(timezone=True)),
        sa.column("completed_at", tandem.db.UTCDateTime(timezone=True)),
    )
    status: dict[tuple, int] = defaultdict(int)
    days: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    due: dict[tuple, int] = defaultdict(int)
    org_of: dict[str, str] = {}
    rows = op.get_bind().execute(sa.select(tasks))
    for org, project, state, assignee, due_date, created_at, completed_at in rows:
        org_of[project] = org
        status[(project, state, assignee or "", completed_at is not None)] += 1
        created = _day(created_at)
        days[(project, created)][0] += 1
        if completed_at is not None:
            completed = _day(completed_at)
            days[(project, completed)][1] += 1
            days[(project, max(created, completed))][2] += 1
        elif due_date is not None:
            due[(project, due_date)] += 1
    if status:
        op.bulk_insert(
            sa.table(
                "dashboard_status_tally",
                *(sa.column(c) for c in ("project_id", "status", "assignee_id", "org_id")),
                sa.column("done", sa.Boolean),
                sa.column("count", sa.Integer),
            ),
            [
                {
                    "project_id": p,
                    "status": s,
                    "assignee_id": a,
                    "done": d,
                    "org_id": org_of[p],
                    "count": n,
                }
                for (p, s, a, d), n in status.items()
            ],
        )
    if days:
        op.bulk_insert(
            sa.table(
                "dashboard_day_tally",
                sa.column("project_id"),
                sa.column("day", sa.Date),
                sa.column("org_id"),
                *(sa.column(c, sa.Integer) for c in ("created", "completed", "closed")),
            ),
            [
                {
                    "project_id": p,
                    "day": d,
                    "org_id": org_of[p],
                    "created": c,
                    "completed": k,
                    "closed": x,
                }
                for (p, d), (c, k, x) in days.items()
            ],
        )
    if due:
        op.bulk_insert(
            sa.table(
                "dashboard_due_tally",
                sa.column("project_id"),
                sa.column("due_date", sa.Date),
                sa.column("org_id"),
                sa.column("count", sa.Integer),
            ),
            [
                {"project_id": p, "due_date": d, "org_id": org_of[p], "count": n}
                for (p, d), n in due.items()
            ],
        )


def downgrade() -> None:
    with op.batch_alter_table("dashboard_status_tally", schema=None) as batch_op:
        batch_op.drop_index("ix_dashboard_status_tally_org")

    op.drop_table("dashboard_status_tally")
    with op.batch_alter_table("dashboard_due_tally", schema=None) as batch_op:
        batch_op.drop_index("ix_dashboard_due_tally_org_due")

    op.drop_table("dashboard_due_tally")
    with op.batch_alter_table("dashboard_day_tally", schema=None) as batch_op:
        batch_op.drop_index("ix_dashboard_day_tally_org_day")

    op.drop_table("dashboard_day_tally")
    op.drop_table("dashboard_emitted")
    op.drop_table("dashboard_dirty")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index("ix_activities_feed")

    op.drop_table("activities")
