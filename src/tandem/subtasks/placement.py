"""Where a subtask goes in its task's list: a rank between its neighbours (kit/rank.py), the
list respaced when keys grow too long, as a board's column is (tasks/placement.py)."""

from __future__ import annotations

from tandem.kit import rank
from tandem.kit.errors import Conflict
from tandem.subtasks.models import Subtask


def slot(
    others: list[Subtask], before_id: str | None, after_id: str | None
) -> tuple[str, list[Subtask]]:
    """The rank for a subtask going just before `before_id`, just after `after_id`, or (neither)
    to the end of `others` (the list in rank order, the moving subtask left out); and the
    subtasks whose ranks a respacing rewrote. 409 when the neighbour is not in the list."""
    if before_id is not None and after_id is not None:
        raise Conflict("give beforeSubtaskId or afterSubtaskId, not both")
    ids = [s.id for s in others]
    neighbour = before_id or after_id
    if neighbour is None:
        at = len(others)
    elif neighbour not in ids:
        raise Conflict(f"{neighbour} is no longer another subtask of this task")
    else:
        at = ids.index(neighbour) + (0 if before_id is not None else 1)
    low = others[at - 1].rank if at > 0 else None
    high = others[at].rank if at < len(others) else None
    if low is None or high is None or low < high:
        key = rank.between(low, high)
        if not rank.needs_rebalance(key):
            return key, []
    keys = rank.spread(len(others) + 1)
    mine = keys.pop(at)
    respaced = []
    for subtask, key in zip(others, keys, strict=True):
        if subtask.rank != key:
            subtask.rank = key
            respaced.append(subtask)
    return mine, respaced
