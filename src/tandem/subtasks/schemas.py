from __future__ import annotations

from typing import Annotated

from pydantic import StrictBool, StringConstraints

from tandem.kit.clock import iso
from tandem.realtime.envelope import Model
from tandem.subtasks.events import SubtaskOut
from tandem.subtasks.models import Subtask
from tandem.tasks.schemas import ClientId, Title

SubtaskRef = Annotated[str, StringConstraints(min_length=1, max_length=32)]


def subtask_out(subtask: Subtask) -> SubtaskOut:
    return SubtaskOut(
        id=subtask.id,
        task_id=subtask.task_id,
        title=subtask.title,
        done=subtask.done,
        rank=subtask.rank,
        created_by=subtask.created_by,
        created_at=iso(subtask.created_at),  # type: ignore[arg-type]
        updated_at=iso(subtask.updated_at),  # type: ignore[arg-type]
    )


class SubtaskIn(Model):
    """A new subtask: at the end of the list, or just after `afterSubtaskId`. With `clientId`,
    sending it again returns the first one."""

    title: Title
    after_subtask_id: SubtaskRef | None = None
    client_id: ClientId | None = None


class SubtaskPatch(Model):
    """The fields to change; a neighbour's id (one at most) moves it next to that subtask."""

    title: Title | None = None
    done: StrictBool | None = None
    after_subtask_id: SubtaskRef | None = None  # the subtask that will precede it
    before_subtask_id: SubtaskRef | None = None  # the subtask that will follow it


class SubtaskEnvelope(Model):
    subtask: SubtaskOut
