from __future__ import annotations

from fastapi import APIRouter, Response

from tandem.deps import CallerDep, Idempotent, ReadingCallerDep, ReadSession, RuntimeDep, Session
from tandem.kit.ids import id_in_path
from tandem.orgs.policy import OrgId
from tandem.projects import columns, policy, service
from tandem.projects.policy import ProjectId
from tandem.projects.schemas import (
    BoardOut,
    ColumnsIn,
    ProjectEnvelope,
    ProjectIn,
    ProjectMemberEnvelope,
    ProjectMemberIn,
    ProjectPage,
    ProjectPatch,
    ProjectRoleIn,
    ProjectsOut,
)
from tandem.tasks import hints as board_hints

router = APIRouter(tags=["projects"])

UserId = id_in_path()


@router.post("/orgs/{org_id}/projects", status_code=201, response_model=ProjectEnvelope)
async def create_project(
    body: ProjectIn, caller: CallerDep, session: Session, once: Idempotent, org_id: str = OrgId
) -> ProjectEnvelope | Response:
    """Start a project in the organization; you become its Lead."""
    if once.replay is not None:
        return once.replay
    project = await service.create_project(
        session,
        org_id,
        caller.user,
        name=body.name,
        description=body.description,
        columns=body.columns,
        start_date=body.start_date,
        due_date=body.due_date,
    )
    return await once.respond(201, ProjectEnvelope(project=service.project_out(project)))


@router.get("/orgs/{org_id}/projects", response_model=ProjectsOut)
async def list_projects(
    caller: ReadingCallerDep, session: ReadSession, org_id: str = OrgId
) -> ProjectsOut:
    """The organization's projects you may see, with the event cursor."""
    projects, metrics, cursor = await service.list_projects(session, org_id, caller.id)
    return ProjectsOut(projects=projects, metrics=metrics, cursor=cursor)


@router.get("/projects/{project_id}", response_model=ProjectPage)
async def project_page(viewer: policy.ReadingViewer, session: ReadSession) -> ProjectPage:
    """The project page's snapshot: the project, its members, its counters."""
    return ProjectPage.model_validate(await service.project_page(session, viewer.access))


@router.patch("/projects/{project_id}", response_model=ProjectEnvelope)
async def update_project(
    body: ProjectPatch, caller: CallerDep, session: Session, project_id: str = ProjectId
) -> ProjectEnvelope:
    """Change the project's fields (its Leads, the org's Owners and Admins)."""
    changes = body.model_dump(exclude_unset=True)
    project = await service.update_project(session, project_id, caller.user, changes)
    return ProjectEnvelope(project=service.project_out(project))


@router.put("/projects/{project_id}/columns", response_model=ProjectEnvelope)
async def set_columns(
    body: ColumnsIn, caller: CallerDep, session: Session, project_id: str = ProjectId
) -> ProjectEnvelope:
    """Add, rename, reorder and remove the board's columns: the whole new list at once."""
    project = await columns.set_columns(
        session, project_id, caller.user, body.columns, body.renames, body.move_tasks
    )
    return ProjectEnvelope(project=service.project_out(project))


@router.get("/projects/{project_id}/board", response_model=BoardOut)
async def board(
    viewer: policy.ReadingViewer, session: ReadSession, runtime: RuntimeDep
) -> BoardOut:
    """The Kanban board's snapshot: each column with its count and its tasks in rank order, and
    the drag and edit hints alive now."""
    hints = await board_hints.snapshot(runtime.gateway.inbound, viewer.access.project_id)
    return BoardOut.model_validate(await service.board(session, viewer.access, hints))


@router.post(
    "/projects/{project_id}/members", status_code=201, response_model=ProjectMemberEnvelope
)
async def add_member(
    body: ProjectMemberIn, caller: CallerDep, session: Session, project_id: str = ProjectId
) -> ProjectMemberEnvelope:
    """Add one of the organization's people to the project."""
    member = await service.add_member(session, project_id, caller.user, body.user_id, body.role)
    return ProjectMemberEnvelope(member=member)


@router.patch("/projects/{project_id}/members/{user_id}", response_model=ProjectMemberEnvelope)
async def change_member_role(
    body: ProjectRoleIn,
    caller: CallerDep,
    session: Session,
    project_id: str = ProjectId,
    user_id: str = UserId,
) -> ProjectMemberEnvelope:
    """Change a project member's role."""
    member = await service.change_member_role(session, project_id, caller.user, user_id, body.role)
    return ProjectMemberEnvelope(member=member)


@router.delete("/projects/{project_id}/members/{user_id}", status_code=204)
async def remove_member(
    caller: CallerDep, session: Session, project_id: str = ProjectId, user_id: str = UserId
) -> Response:
    """Take someone off the project."""
    await service.remove_member(session, project_id, caller.user, user_id)
    return Response(status_code=204)
