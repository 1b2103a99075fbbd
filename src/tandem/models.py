"""Every table, imported once so Alembic and tests see the whole schema."""

from tandem.attachments.models import Attachment  # noqa: F401
from tandem.auth.models import LoginSession, User  # noqa: F401
from tandem.chat.models import Conversation, ConversationMember, Message  # noqa: F401
from tandem.comments.models import Comment  # noqa: F401
from tandem.dashboard.models import (  # noqa: F401
    Activity,
    DashboardDirty,
    DashboardEmitted,
    DayTally,
    DueTally,
    StatusTally,
)
from tandem.db import Base
from tandem.flags.models import Flag, FlagOverride  # noqa: F401
from tandem.kit.idempotency import IdempotencyKey  # noqa: F401
from tandem.orgs.models import Invite, Membership, Organization  # noqa: F401
from tandem.projects.models import Project, ProjectMember  # noqa: F401
from tandem.realtime.models import EventRecord, LogState, OutboxEntry, RoomFloor  # noqa: F401
from tandem.subtasks.models import Subtask  # noqa: F401
from tandem.tasks.models import Task, TaskActivity  # noqa: F401

metadata = Base.metadata
