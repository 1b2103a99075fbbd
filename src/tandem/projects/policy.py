"""Who may see and change what in a project: the one place its rules are written.

SPEC §2: an org's Owners, Admins and Members see every project of the org and edit its tasks;
Guests see only the projects they are members of; a project's Viewers (Guests or not) change
nothing; the project's Leads and the org's Owners and Admins manage its fields, columns and
members. An archived project's tasks are read-only for everyone until it is reopened. A project of another org, or one a Guest may not see, answers "not found" exactly like
a project that does not exist. The HTTP dependencies, the services' checks under lock and the
socket room `project:{id}` all ask these functions; tasks/policy.py asks them about a task's
project.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.deps import Caller, ReadingCallerDep, ReadSession
from tandem.kit.errors import Conflict, Forbidden, NotFound
from tandem.kit.ids import id_in_path
from tandem.projects import repository
from tandem.projects.repository import Access
from tandem.realtime import rooms

STAFF = ("Owner", "Admin", "Member")  # org roles that see every project of the org
ORG_MANAGERS = ("Owner", "Admin")
EDITORS = ("Lead", "Contributor")


def not_found() -> NotFound:
    return NotFound("project not found")


def can_see(access: Access) -> bool:
    return access.org_role in STAFF or access.project_role is not None


def can_edit(access: Access) -> bool:
    """Change tasks now: the role allows it and the project is not archived."""
    return _role_edits(access) and access.status != "archived"


def _role_edits(access: Access) -> bool:
    """A Viewer may not, whatever their org role but Owner or Admin."""
    if access.org_role in ORG_MANAGERS or access.project_role in EDITORS:
        return True
    return access.org_role == "Member" and access.project_role is None


def can_manage(access: Access) -> bool:
    return access.org_role in ORG_MANAGERS or access.project_role == "Lead"


def require_visible(access: Access | None) -> Access:
    if access is None or not can_see(access):
        raise not_found()
    return access


def require_editor(access: Access | None) -> Access:
    access = require_visible(access)
    if not _role_edits(access):
        raise Forbidden("this project's Viewers cannot change its tasks")
    if access.status == "archived":
        raise Conflict("this project is archived: its tasks are read-only until it is reopened")
    return access


def require_manager(access: Access | None) -> Access:
    access = require_visible(access)
    if not can_manage(access):
        raise Forbidden("only the project's Leads and the org's Owners and Admins manage it")
    return access


def require_creator(org_role: str | None) -> None:
    """Who may start a project in an org: its Owners, Admins and Members."""
    if org_role is None:
        raise NotFound("organization not found")
    if org_role not in STAFF:
        raise Forbidden("Guests cannot create projects")


def may_belong(org_role: str | None) -> bool:
    """Whether a person can be made a project member: an active member of the project's org."""
    return org_role is not None


@rooms.room_policy("project")
async def project_room(session: AsyncSession, user_id: str, project_id: str) -> rooms.Grant | None:
    """Whoever may see the project may enter `project:{id}`; its board events are the Kanban phase's."""
    access = await repository.access(session, project_id, user_id)
    if access is None or not can_see(access):
        return None
    return rooms.Grant(rooms.project_room(project_id), access.org_id, "kanban")


# -- HTTP dependencies: the caller, checked against the project in the path -----------------

ProjectId = id_in_path()


@dataclass(frozen=True)
class ProjectCaller:
    """The signed-in caller and their standing towards the project named in the path."""

    caller: Caller
    access: Access

    @property
    def id(self) -> str:
        return self.caller.id

    @property
    def project_id(self) -> str:
        return self.access.project_id


async def reading_viewer(
    caller: ReadingCallerDep, session: ReadSession, project_id: str = ProjectId
) -> ProjectCaller:
    return ProjectCaller(
        caller, require_visible(await repository.access(session, project_id, caller.id))
    )


ReadingViewer = Annotated[ProjectCaller, Depends(reading_viewer)]
