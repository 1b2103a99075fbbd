"""The members phase's event contracts: who joined, changed, left or was removed, and presence."""

from __future__ import annotations

from typing import ClassVar, Literal

from tandem.realtime.envelope import EventData, Model

Role = Literal["Owner", "Admin", "Member", "Guest"]
MemberStatus = Literal["active", "invited"]


class OrgMember(Model):
    user_id: str
    name: str
    email: str
    role: Role
    status: MemberStatus
    avatar_url: str | None


class OrgMemberJoined(EventData):
    event_name: ClassVar[str] = "org.member.joined"
    event_phase: ClassVar[str | None] = "members"
    event_summary: ClassVar[str] = "Someone joined the organization (accepted an invite)."

    organization_id: str
    member: OrgMember


class OrgMemberUpdated(EventData):
    event_name: ClassVar[str] = "org.member.updated"
    event_phase: ClassVar[str | None] = "members"
    event_summary: ClassVar[str] = "A member's role or profile changed."

    organization_id: str
    member: OrgMember


class OrgMemberLeft(EventData):
    event_name: ClassVar[str] = "org.member.left"
    event_phase: ClassVar[str | None] = "members"
    event_summary: ClassVar[str] = "A member left the organization."

    organization_id: str
    user_id: str


class OrgMemberRemoved(EventData):
    event_name: ClassVar[str] = "org.member.removed"
    event_phase: ClassVar[str | None] = "members"
    event_summary: ClassVar[str] = (
        "A member was removed; also sent to the removed person's user room."
    )

    organization_id: str
    user_id: str
    removed_by: str


class OrgMemberPresence(EventData):
    event_name: ClassVar[str] = "org.member.presence"
    event_phase: ClassVar[str | None] = "members"
    event_durable: ClassVar[bool] = False
    event_supersedes: ClassVar[tuple[str, ...]] = ("organizationId", "userId")
    event_summary: ClassVar[str] = (
        "A member came online or went offline (ephemeral: no seq, never replayed)."
    )

    organization_id: str
    user_id: str
    online: bool
    last_active_at: str | None
