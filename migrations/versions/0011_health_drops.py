"""health drops: ephemeral events dropped for slow sockets, per org, phase and minute

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 01:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("realtime_health", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("drops", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("realtime_health", schema=None) as batch_op:
        batch_op.drop_column("drops")
