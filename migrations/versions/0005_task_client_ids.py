"""tasks: the creating client's id and digest, for creates sent twice

`field_revs` keeps its column: its values now also name who wrote each field ([rev, userId]);
rows written before hold a bare rev, which the code reads as "writer unknown".

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 16:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("client_digest", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_tasks_client", ["project_id", "created_by", "client_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_client")
        batch_op.drop_column("client_digest")
        batch_op.drop_column("client_id")
