"""The description's three-way merge: two people edited the same text from the same start.

Each side's edits are read as diffs against the text both started from (diff-match-patch, tidied
to whole words where it can), as ranges of that text and what replaces them. When no range of
one side touches a range of the other, both apply and the result keeps every edit; when one
does, there is no safe merge and the caller shows both versions instead. The same edit made on
both sides counts once. Nothing is ever dropped silently.
"""

from __future__ import annotations

from typing import Any

from diff_match_patch import diff_match_patch

from tandem.tasks import placement
from tandem.tasks.models import Task

Edit = tuple[int, int, str]  # [start, end) of the base text, and what replaces it

_DMP = diff_match_patch()
# Seconds per diff: past it a diff is coarser (more edits count as touching), never wrong. Two
# diffs run while the task is locked, on the event loop: 0.2 s at worst (10,000 characters each).
_DMP.Diff_Timeout = 0.1


def edits(base: str, other: str) -> list[Edit]:
    """What turns `base` into `other`, as replaced ranges of `base`."""
    diffs = _DMP.diff_main(base, other)
    _DMP.diff_cleanupSemantic(diffs)
    found: list[Edit] = []
    at = 0
    start: int | None = None
    inserted = ""
    for op, text in diffs:
        if op == 0:
            if start is not None:
                found.append((start, at, inserted))
                start, inserted = None, ""
            at += len(text)
            continue
        if start is None:
            start = at
        if op < 0:
            at += len(text)
        else:
            inserted += text
    if start is not None:
        found.append((start, at, inserted))
    return found


def three_way(base: str, mine: str, theirs: str) -> str | None:
    """`theirs` with `mine`'s edits of `base` applied; None when the two touch the same place.

    Ranges that merely meet (an insertion at the end of the other's change) count as touching:
    which goes first would be a guess."""
    their_edits = edits(base, theirs)
    my_edits = [e for e in edits(base, mine) if e not in their_edits]
    for start, end, _ in my_edits:
        for their_start, their_end, _ in their_edits:
            if start <= their_end and their_start <= end:
                return None
    merged = []
    at = 0
    for start, end, text in sorted(my_edits + their_edits):
        merged.append(base[at:start])
        merged.append(text)
        at = end
    merged.append(base[at:])
    return "".join(merged)


def description(
    task: Task, changes: dict[str, Any], base: str | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The changes to apply, the description merged with what was stored since `base` (or left
    out when the two edits touch the same place), and what the answer says of it (None: the
    description was not edited from an older text)."""
    sent = changes.get("description")
    if sent is None or base is None or task.description == base:
        return changes, None
    merged = three_way(base, sent, task.description)
    if merged is None:
        kept = {f: v for f, v in changes.items() if f != "description"}
        return kept, {"merged": False, "theirs": task.description, "mine": sent}
    return {**changes, "description": merged}, {"merged": True}


def answer_conflict(
    task: Task, conflict: dict[str, Any] | None, merging: dict[str, Any], base_rev: int | None
) -> dict[str, Any]:
    """The answer's conflict when the description was edited from an older text: it names the
    description and who last changed it, and says whether both edits were kept. Read before the
    write."""
    _rev, user_id = placement.writer(task, "description")
    found = conflict or {
        "fields": [],
        "baseRev": base_rev if base_rev is not None else task.rev,
        "rev": task.rev,
        "with": [],
    }
    return {
        **found,
        "fields": [*found["fields"], "description"],
        "with": [*found["with"], {"field": "description", "userId": user_id}],
        **merging,
    }
