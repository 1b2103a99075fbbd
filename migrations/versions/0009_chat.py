"""chat: conversations, their members and receipt cursors, messages

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tandem.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=True),
        sa.Column("direct_key", sa.String(length=80), nullable=True),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", tandem.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", tandem.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_n", sa.Integer(), nullable=False),
        _fk("conversations", "org_id", "organizations", "CASCADE"),
        _fk("conversations", "created_by", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversations_org_activity", ["org_id", "last_activity_at"], unique=False
        )
        batch_op.create_index("ix_conversations_direct", ["org_id", "direct_key"], unique=True)
    op.create_table(
        "conversation_members",
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("joined_at", tandem.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_n", sa.Integer(), nullable=False),
        sa.Column("read_n", sa.Integer(), nullable=False),
        sa.Column("delivered_at", tandem.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("read_at", tandem.db.UTCDateTime(timezone=True), nullable=True),
        _fk("conversation_members", "conversation_id", "conversations", "CASCADE"),
        _fk("conversation_members", "user_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("conversation_id", "user_id", name=op.f("pk_conversation_members")),
    )
    with op.batch_alter_table("conversation_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_members_user_id"), ["user_id"], unique=False
        )
    op.create_table(
        "messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("sent_at", tandem.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("edited_at", tandem.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", tandem.db.UTCDateTime(timezone=True), nullable=True),
        _fk("messages", "conversation_id", "conversations", "CASCADE"),
        _fk("messages", "author_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_conversation_n", ["conversation_id", "n"], unique=True)
        batch_op.create_index(
            "ix_messages_client", ["conversation_id", "author_id", "client_id"], unique=True
        )


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_table("conversation_members")
    op.drop_table("conversations")
