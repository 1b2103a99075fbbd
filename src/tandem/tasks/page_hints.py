"""The task page's hint over the socket: `task.typing` (writing a comment or the description),
from a client to everyone in `task:{id}` (docs/tasks.md).

Answered with the SPEC's ack. The sender must be in the task's room (else `forbidden`, the same
answer as for a task that does not exist); each socket may send about 10 a second, in bursts of
20, as every page's hints (realtime/hint_events.py). One hint per socket and task: saying another
field replaces it. Its life (expiry, withdrawal, disconnects, leaving the room, the task deleted)
is realtime/hints.py's, on a board of its own so the board's hints and these never collide.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.flags import service as flags
from tandem.realtime.hint_events import HintEvents
from tandem.realtime.hints import Hint, HintBoard
from tandem.realtime.inbound import Handler, InboundGate, extend, failure
from tandem.realtime.rooms import task_room
from tandem.tasks import repository
from tandem.tasks.events import PageTypingField, TaskTyping
from tandem.tasks.hints import TASK_GONE

KIND = "typing"


class TypingIn(BaseModel):
    # Strict: `typing: "yes"` is a client bug, not a yes.
    model_config = ConfigDict(
        extra="forbid", strict=True, alias_generator=to_camel, populate_by_name=False
    )
    task_id: str = Field(min_length=1, max_length=32)
    typing: bool
    field: PageTypingField | None = None  # needed to start; an end may leave it out

    @model_validator(mode="after")
    def _field_to_start(self) -> TypingIn:
        if self.typing and self.field is None:
            raise ValueError("field: say which field is being written")
        return self


def board_of(gate: InboundGate | None) -> HintBoard | None:
    return gate.extensions.get("task") if gate is not None else None


async def snapshot(gate: InboundGate | None, task_id: str) -> dict[str, list[dict[str, Any]]]:
    """The task page snapshot's `hints`: who is typing there now, on every instance."""
    typing: dict[str, dict[str, Any]] = {}
    board = board_of(gate)
    for hint, left in await board.alive(task_room(task_id)) if board else []:
        # A person with two tabs on the page shows once, for the longer of the two.
        if hint.user_id not in typing or typing[hint.user_id]["expiresInMs"] < left:
            typing[hint.user_id] = {
                "userId": hint.user_id,
                "field": hint.detail,
                "expiresInMs": left,
            }
    return {"typing": list(typing.values())}


class PageHints(HintEvents):
    """The task page's socket event on one gateway, and the board of its sockets' hints."""

    board_name = "task"

    def handlers(self) -> dict[str, Handler]:
        return {"task.typing": self.on_typing}

    def committed(self, session: AsyncSession) -> None:
        for task_id in session.info.pop(TASK_GONE, []):
            self.board.later(self.board.forget(task_room(task_id), task_id))

    async def announce(self, hint: Hint, alive: bool, expires_in_ms: int) -> None:
        data = TaskTyping(
            task_id=hint.subject,
            user_id=hint.user_id,
            typing=alive,
            field=hint.detail,  # type: ignore[arg-type]
            expires_in_ms=expires_in_ms,
        )
        await self.publish(data, hint)

    async def on_typing(self, sid: str, data: Any, extra: tuple[Any, ...]) -> dict[str, Any]:
        admitted = await self.admit("task.typing", sid, data, extra, TypingIn)
        if isinstance(admitted, dict):
            return admitted
        info, request = admitted
        room = task_room(request.task_id)
        if room not in info.rooms or not await self._allowed(request.task_id, info.rooms[room]):
            return failure("forbidden", "you cannot send hints about this task")
        if request.typing:
            hint = Hint(KIND, room, request.task_id, info.user_id, request.field)
            await self.board.put(sid, hint)
        else:
            await self.board.withdraw(sid, KIND, request.task_id)
        return {"ok": True}

    async def _allowed(self, task_id: str, org_id: str | None) -> bool:
        """The task still exists and its org has the task phase on."""
        async with self.gateway.runtime.db.read() as session:
            if await repository.project_of(session, task_id) is None:
                return False
            return await flags.is_enabled(session, "task", org_id)


@extend
def _set_up(gate: InboundGate, gateway: Any) -> None:
    if gateway is not None and hasattr(gateway, "runtime"):
        PageHints(gate, gateway)
