from __future__ import annotations

from typing import Literal

from tandem.auth.schemas import Email, Name
from tandem.orgs.events import OrgMember, Role
from tandem.realtime.envelope import Model

OrgName = Name


class OrgIn(Model):
    name: OrgName


class OrganizationOut(Model):
    id: str
    name: str


class OrganizationEnvelope(Model):
    organization: OrganizationOut


class MemberOut(OrgMember):
    online: bool
    last_active_at: str | None


class MembersOut(Model):
    members: list[MemberOut]
    cursor: int


class MemberEnvelope(Model):
    member: OrgMember


class InviteIn(Model):
    email: Email
    role: Role = "Member"


class InviteOut(Model):
    token: str
    email: str
    role: Role
    created_at: str | None = None


class InviteEnvelope(Model):
    invite: InviteOut


class InvitesOut(Model):
    invites: list[InviteOut]


class InviteInfo(Model):
    org_id: str
    org_name: str
    email: str
    role: Role


class InviteInfoEnvelope(Model):
    invite: InviteInfo


class RoleIn(Model):
    role: Role


class MembershipOut(Model):
    org_id: str
    org_name: str
    role: Role
    status: Literal["active", "invited"] = "active"


class MembershipEnvelope(Model):
    membership: MembershipOut
