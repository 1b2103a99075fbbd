"""Room names and who may enter each: the one policy for sockets and long-polling.

A room that does not exist and a room the user may not enter get the same
answer (None), so ids never leak.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.orgs.models import Membership

ROOM_KINDS = ("org", "project", "task", "chat", "user")
MAX_ROOM_LENGTH = 80


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


@dataclass(frozen=True)
class Grant:
    room: str
    org_id: str | None  # the org whose membership the grant rests on (None: the user's own room)
    phase: str | None  # the feature flag of the room's events


def parse_room(room: str) -> tuple[str, str] | None:
    if not isinstance(room, str) or len(room) > MAX_ROOM_LENGTH or ":" not in room:
        return None
    kind, _, ident = room.partition(":")
    if kind not in ROOM_KINDS or not ident:
        return None
    return kind, ident


async def authorize(session: AsyncSession, user_id: str, room: str) -> Grant | None:
    parsed = parse_room(room)
    if parsed is None:
        return None
    kind, ident = parsed
    if kind == "user":
        return Grant(room, None, None) if ident == user_id else None
    if kind == "org":
        role = await session.scalar(
            select(Membership.role).where(
                Membership.org_id == ident, Membership.user_id == user_id, Membership.status == "active"
            )
        )
        return Grant(room, ident, "members") if role else None
    # project, task and chat rooms arrive with their phases.
    return None
