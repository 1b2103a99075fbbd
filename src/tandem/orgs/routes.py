from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Response

from tandem.deps import CallerDep, Idempotent, ReadSession, RuntimeDep, Session
from tandem.kit.clock import iso
from tandem.kit.ids import id_in_path
from tandem.orgs import policy, service
from tandem.orgs.models import Invite
from tandem.orgs.policy import OrgId
from tandem.orgs.schemas import (
    InviteEnvelope,
    InviteIn,
    InviteInfo,
    InviteInfoEnvelope,
    InviteOut,
    InvitesOut,
    MemberEnvelope,
    MembershipEnvelope,
    MembershipOut,
    MembersOut,
    OrganizationEnvelope,
    OrganizationOut,
    OrgIn,
    RoleIn,
)
from tandem.realtime.limits import enforce

router = APIRouter(tags=["organizations"])

UserId = id_in_path()


def _invite_out(invite: Invite) -> InviteOut:
    return InviteOut(
        token=invite.token,
        email=invite.email,
        role=invite.role,  # type: ignore[arg-type]
        created_at=iso(invite.created_at),
    )


async def org_create_budget(caller: CallerDep, runtime: RuntimeDep, once: Idempotent) -> None:
    """Refuse an account's organization creates past its hourly allowance (a replay is not one)."""
    if once.replay is None:
        await enforce(
            runtime.limiter,
            "org-create",
            caller.id,
            runtime.settings.org_create_limit_per_hour,
            3600,
        )


@router.post(
    "/orgs",
    status_code=201,
    response_model=OrganizationEnvelope,
    dependencies=[Depends(org_create_budget)],
)
async def create_org(
    body: OrgIn, caller: CallerDep, session: Session, runtime: RuntimeDep, once: Idempotent
) -> OrganizationEnvelope | Response:
    """Create an organization; you become its Owner."""
    if once.replay is not None:
        return once.replay
    org = await service.create_org(
        session, caller.user, body.name, max_owned=runtime.settings.max_orgs_per_user
    )
    return await once.respond(
        201, OrganizationEnvelope(organization=OrganizationOut(id=org.id, name=org.name))
    )


@router.get("/orgs/{org_id}/members", response_model=MembersOut)
async def members(
    member: policy.ReadingMember, session: ReadSession, runtime: RuntimeDep
) -> MembersOut:
    """The members table's snapshot, with presence and the event cursor."""
    rows, cursor = await service.list_members(session, runtime.presence, member.org_id)
    return MembersOut.model_validate({"members": rows, "cursor": cursor})


@router.post("/orgs/{org_id}/invites", status_code=201, response_model=InviteEnvelope)
async def invite(
    body: InviteIn, caller: CallerDep, session: Session, once: Idempotent, org_id: str = OrgId
) -> InviteEnvelope | Response:
    """Invite someone by email (Owners and Admins)."""
    if once.replay is not None:
        return once.replay
    created = await service.create_invite(session, org_id, caller.user, body.email, body.role)
    return await once.respond(201, InviteEnvelope(invite=_invite_out(created)))


@router.get("/orgs/{org_id}/invites", response_model=InvitesOut)
async def invites(manager: policy.ReadingManager, session: ReadSession) -> InvitesOut:
    """Pending invites (Owners and Admins)."""
    return InvitesOut(
        invites=[_invite_out(i) for i in await service.list_invites(session, manager.org_id)]
    )


@router.get("/invites/{token}", response_model=InviteInfoEnvelope)
async def invite_info(session: ReadSession, token: str = Path(max_length=64)) -> InviteInfoEnvelope:
    """What an invite link offers: the organization and the role."""
    found, org = await service.open_invite(session, token)
    return InviteInfoEnvelope(
        invite=InviteInfo(org_id=org.id, org_name=org.name, email=found.email, role=found.role)
    )  # type: ignore[arg-type]


@router.post("/invites/{token}/accept", response_model=MembershipEnvelope)
async def accept(
    caller: CallerDep, session: Session, once: Idempotent, token: str = Path(max_length=64)
) -> MembershipEnvelope | Response:
    """Join the organization of an invite sent to your email."""
    if once.replay is not None:
        return once.replay
    membership, org = await service.accept_invite(session, token, caller.user)
    return await once.respond(
        200,
        MembershipEnvelope(
            membership=MembershipOut(org_id=org.id, org_name=org.name, role=membership.role)  # type: ignore[arg-type]
        ),
    )


@router.patch("/orgs/{org_id}/members/{user_id}", response_model=MemberEnvelope)
async def change_role(
    body: RoleIn, caller: CallerDep, session: Session, org_id: str = OrgId, user_id: str = UserId
) -> MemberEnvelope:
    """Change a member's role."""
    member = await service.change_role(session, org_id, caller.user, user_id, body.role)
    return MemberEnvelope(member=member)


@router.delete("/orgs/{org_id}/members/{user_id}", status_code=204)
async def remove(
    caller: CallerDep, session: Session, org_id: str = OrgId, user_id: str = UserId
) -> Response:
    """Remove a member from the organization."""
    await service.remove_member(session, org_id, caller.user, user_id)
    return Response(status_code=204)


@router.post("/orgs/{org_id}/leave", status_code=204)
async def leave(caller: CallerDep, session: Session, org_id: str = OrgId) -> Response:
    """Leave the organization."""
    await service.leave(session, org_id, caller.user)
    return Response(status_code=204)
