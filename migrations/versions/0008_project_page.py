"""project page: its recent activity, read by project

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 21:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_activities_project_feed", "activities", ["project_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_activities_project_feed", table_name="activities")
