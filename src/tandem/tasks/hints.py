"""The board's hints over the socket: `kanban.lock` (dragging a card) and `kanban.typing` (editing
one), from a client to everyone in `project:{id}` (docs/kanban.md).

Each is answered with the SPEC's ack. The sender must be in the project's room and name a task of
that project (else `forbidden`, the same answer as for ids that do not exist); a lock also needs
the right to edit the project's tasks. Each socket may send about 10 a second of each, in bursts
of 20 (realtime/hint_events.py). The hints' life (expiry, withdrawal, disconnects, deleted tasks)
is realtime/hints.py's.
"""

from __future__ import annotations

from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.flags import service as flags
from tandem.projects import policy as projects_policy
from tandem.projects import repository as projects
from tandem.realtime.envelope import EventData
from tandem.realtime.hint_events import HintEvents
from tandem.realtime.hints import Hint, HintBoard
from tandem.realtime.inbound import Handler, InboundGate, extend, failure
from tandem.realtime.rooms import project_room
from tandem.tasks import repository
from tandem.tasks.events import KanbanLock, KanbanTyping, TypingField

GONE = "tandem_tasks_gone"  # session.info: (project id, task id) of tasks deleted in it
TASK_GONE = "tandem_task_pages_gone"  # the same tasks' ids, for their pages' hints (page_hints.py)
Ref = Field(min_length=1, max_length=32)


class _Payload(BaseModel):
    # Strict: `locked: "yes"` is a client bug, not a yes.
    model_config = ConfigDict(
        extra="forbid", strict=True, alias_generator=to_camel, populate_by_name=False
    )
    project_id: str = Ref
    task_id: str = Ref


class LockIn(_Payload):
    locked: bool


class TypingIn(_Payload):
    typing: bool
    field: TypingField | None = None


def task_gone(session: AsyncSession, project_id: str, task_id: str) -> None:
    """After this transaction commits, end every hint about the task (tasks/service.py's delete)."""
    session.info.setdefault(GONE, []).append((project_id, task_id))
    session.info.setdefault(TASK_GONE, []).append(task_id)


def board_of(gate: InboundGate | None) -> HintBoard | None:
    return gate.extensions.get("kanban") if gate is not None else None


async def snapshot(gate: InboundGate | None, project_id: str) -> dict[str, list[dict[str, Any]]]:
    """The board snapshot's `hints`: those alive now, on every instance."""
    locks: dict[tuple[str, str], dict[str, Any]] = {}
    typing: dict[tuple[str, str], dict[str, Any]] = {}
    board = board_of(gate)
    for hint, left in await board.alive(project_room(project_id)) if board else []:
        # A person with two tabs on one card shows once, for the longer of the two.
        if hint.kind == "lock":
            key = (hint.subject, hint.user_id)
            item = {"taskId": hint.subject, "userId": hint.user_id, "expiresInMs": left}
            target = locks
        else:
            key = (hint.subject, hint.user_id)
            item = {
                "taskId": hint.subject,
                "userId": hint.user_id,
                "field": hint.detail,
                "expiresInMs": left,
            }
            target = typing
        if key not in target or target[key]["expiresInMs"] < left:
            target[key] = item
    return {"locks": list(locks.values()), "typing": list(typing.values())}


class BoardHints(HintEvents):
    """The board's two socket events on one gateway, and the board of its sockets' hints."""

    board_name = "kanban"

    def handlers(self) -> dict[str, Handler]:
        return {"kanban.lock": self.on_lock, "kanban.typing": self.on_typing}

    def committed(self, session: AsyncSession) -> None:
        for project_id, task_id in session.info.pop(GONE, []):
            self.board.later(self.board.forget(project_room(project_id), task_id))

    async def announce(self, hint: Hint, alive: bool, expires_in_ms: int) -> None:
        project_id = hint.room.partition(":")[2]
        data: EventData
        if hint.kind == "lock":
            data = KanbanLock(
                project_id=project_id,
                task_id=hint.subject,
                user_id=hint.user_id,
                locked=alive,
                expires_in_ms=expires_in_ms,
            )
        else:
            data = KanbanTyping(
                project_id=project_id,
                task_id=hint.subject,
                user_id=hint.user_id,
                typing=alive,
                field=hint.detail,  # type: ignore[arg-type]
                expires_in_ms=expires_in_ms,
            )
        await self.publish(data, hint)

    async def on_lock(self, sid: str, data: Any, extra: tuple[Any, ...]) -> dict[str, Any]:
        return await self._hint(sid, "lock", LockIn, data, extra)

    async def on_typing(self, sid: str, data: Any, extra: tuple[Any, ...]) -> dict[str, Any]:
        return await self._hint(sid, "typing", TypingIn, data, extra)

    async def _hint(
        self, sid: str, kind: str, model: type[_Payload], data: Any, extra: tuple[Any, ...]
    ) -> dict[str, Any]:
        admitted = await self.admit(f"kanban.{kind}", sid, data, extra, model)
        if isinstance(admitted, dict):
            return admitted
        info, request = admitted
        room = project_room(request.project_id)
        org_id = info.rooms.get(room)
        if room not in info.rooms or not await self._allowed(
            info.user_id, org_id, request, kind == "lock"
        ):
            return failure("forbidden", "you cannot send hints about this task")
        if isinstance(request, TypingIn):
            on, detail = request.typing, request.field
        else:
            on, detail = cast(LockIn, request).locked, None
        if on:
            hint = Hint(kind, room, request.task_id, info.user_id, detail)
            await self.board.put(sid, hint)
        else:
            await self.board.withdraw(sid, kind, request.task_id)
        return {"ok": True}

    async def _allowed(
        self, user_id: str, org_id: str | None, request: _Payload, editing: bool
    ) -> bool:
        async with self.gateway.runtime.db.read() as session:
            if await repository.project_of(session, request.task_id) != request.project_id:
                return False
            if not await flags.is_enabled(session, "kanban", org_id):
                return False
            if not editing:
                return True
            found = await projects.access(session, request.project_id, user_id)
            return found is not None and projects_policy.can_edit(found)


@extend
def _set_up(gate: InboundGate, gateway: Any) -> None:
    if gateway is not None and hasattr(gateway, "runtime"):
        BoardHints(gate, gateway)
