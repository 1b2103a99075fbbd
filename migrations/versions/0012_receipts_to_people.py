"""receipts to people: where each member joined, and messages by author

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 01:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversation_members", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("joined_n", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_author_n", ["conversation_id", "author_id", "n"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_author_n")
    with op.batch_alter_table("conversation_members", schema=None) as batch_op:
        batch_op.drop_column("joined_n")
