"""Room names, and who may enter each: the one question sockets and long-polling ask.

Each domain registers the policy of its room kind (`@room_policy("org")` in `orgs/policy.py`),
so this module knows no domain. A room that does not exist and a room the user may not enter
get the same answer (None), so ids never leak.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

ROOM_KINDS = ("org", "project", "task", "chat", "user", "dashboard")
MAX_ROOM_LENGTH = 80
_ID = re.compile(r"[A-Za-z0-9_-]+")


def org_room(org_id: str) -> str:
    return f"org:{org_id}"


def user_room(user_id: str) -> str:
    return f"user:{user_id}"


def project_room(project_id: str) -> str:
    return f"project:{project_id}"


def task_room(task_id: str) -> str:
    return f"task:{task_id}"


def chat_room(conversation_id: str) -> str:
    return f"chat:{conversation_id}"


def dashboard_room(org_id: str) -> str:
    return f"dashboard:{org_id}"


@dataclass(frozen=True)
class Grant:
    room: str
    org_id: str | None  # the org whose membership the grant rests on (None: the user's own room)
    phase: str | None  # the feature flag of the room's events


def parse_room(room: str) -> tuple[str, str] | None:
    if not isinstance(room, str) or len(room) > MAX_ROOM_LENGTH or ":" not in room:
        return None
    kind, _, ident = room.partition(":")
    # Ids are letters, digits, `_` and `-` (kit/ids.py); anything else names no room, and never
    # reaches a query (PostgreSQL refuses a NUL in text with an error, not a miss).
    if kind not in ROOM_KINDS or not _ID.fullmatch(ident):
        return None
    return kind, ident


RoomPolicy = Callable[[AsyncSession, str, str], Awaitable[Grant | None]]
_policies: dict[str, RoomPolicy] = {}


def room_policy(kind: str) -> Callable[[RoomPolicy], RoomPolicy]:
    """Register who may enter rooms of this kind: policy(session, user_id, room_id) -> Grant | None."""
    if kind not in ROOM_KINDS or kind == "user":
        raise ValueError(f"unknown room kind {kind!r}")

    def register(policy: RoomPolicy) -> RoomPolicy:
        _policies[kind] = policy
        return policy

    return register


async def authorize(session: AsyncSession, user_id: str, room: str) -> Grant | None:
    parsed = parse_room(room)
    if parsed is None:
        return None
    kind, ident = parsed
    if kind == "user":
        return Grant(room, None, None) if ident == user_id else None
    policy = _policies.get(kind)
    return await policy(session, user_id, ident) if policy is not None else None
