"""Every table, imported once so Alembic and tests see the whole schema."""

from tandem.auth.models import LoginSession, User  # noqa: F401
from tandem.db import Base
from tandem.flags.models import Flag, FlagOverride  # noqa: F401
from tandem.kit.idempotency import IdempotencyKey  # noqa: F401
from tandem.orgs.models import Invite, Membership, Organization  # noqa: F401
from tandem.realtime.models import EventRecord, LogState, OutboxEntry, RoomFloor  # noqa: F401

metadata = Base.metadata
