"""The description's three-way merge: edits made from the same text both survive when they touch
different places; when they touch the same place the stored text is left alone and the second
writer gets both versions back. Over REST, and the merge itself on small texts."""

from __future__ import annotations

from typing import Any

import pytest

from tandem.tasks.merge import three_way
from tests.harness import Person, assert_error, listening, quick_team
from tests.projects.factories import make_project, make_task

BASE = "Steps:\n1. write the draft\n2. review it\n3. ship it\n"


async def patch(person: Person, task_id: str, body: dict[str, Any]) -> dict[str, Any]:
    async with person.http() as http:
        r = await http.patch(f"/api/tasks/{task_id}", json=body)
        assert r.status_code == 200, r.text
        return r.json()


async def stored(person: Person, task_id: str) -> dict[str, Any]:
    async with person.http() as http:
        return (await http.get(f"/api/tasks/{task_id}")).json()["task"]


@pytest.fixture
async def pair(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"], description=BASE)
    return owner, member, task


async def test_edits_in_different_places_both_survive(pair):
    owner, member, task = pair
    tid = task["id"]
    theirs = BASE.replace("write the draft", "write the first draft")
    mine = BASE.replace("ship it", "ship it on Friday")
    first = await patch(
        owner,
        tid,
        {"changes": {"description": theirs}, "descriptionBase": BASE, "baseRev": task["rev"]},
    )
    assert first["conflict"] is None  # nothing changed since its base: simply applied
    async with listening(owner, f"task:{tid}") as page:
        second = await patch(
            member,
            tid,
            {"changes": {"description": mine}, "descriptionBase": BASE, "baseRev": task["rev"]},
        )
        both = "Steps:\n1. write the first draft\n2. review it\n3. ship it on Friday\n"
        assert second["task"]["description"] == both
        assert second["conflict"] == {
            "fields": ["description"],
            "baseRev": task["rev"],
            "rev": task["rev"] + 1,
            "with": [{"field": "description", "userId": owner.id}],
            "merged": True,
            "theirs": None,
            "mine": None,
        }
        updated = await page.wait_event("task.updated", updatedBy=member.id)
        # The room learns the merged text; nobody was overridden, so its event names no conflict.
        assert updated["data"]["changes"] == {"description": both}
        assert updated["data"]["conflict"] is None
    assert (await stored(owner, tid))["description"] == both


async def test_edits_in_the_same_place_come_back_with_both_versions(pair):
    owner, member, task = pair
    tid = task["id"]
    theirs = BASE.replace("review it", "test it")
    mine = BASE.replace("review it", "proofread it")
    await patch(owner, tid, {"changes": {"description": theirs}, "descriptionBase": BASE})
    before = await stored(owner, tid)
    answer = await patch(
        member,
        tid,
        {"changes": {"description": mine, "priority": "High"}, "descriptionBase": BASE},
    )
    conflict = answer["conflict"]
    assert (conflict["fields"], conflict["merged"]) == (["description"], False)
    assert (conflict["theirs"], conflict["mine"]) == (theirs, mine)
    assert conflict["with"] == [{"field": "description", "userId": owner.id}]
    # The stored text is untouched; the other field of the same write still applies.
    after = await stored(owner, tid)
    assert after["description"] == theirs
    assert (after["priority"], after["rev"]) == ("High", before["rev"] + 1)
    # Only the description, unmergeable: nothing is written at all.
    again = await patch(member, tid, {"changes": {"description": mine}, "descriptionBase": BASE})
    assert again["conflict"]["merged"] is False
    assert (await stored(owner, tid))["rev"] == after["rev"]
    # Saving the combined text against what they were shown is a plain edit.
    combined = BASE.replace("review it", "test and proofread it")
    final = await patch(
        member, tid, {"changes": {"description": combined}, "descriptionBase": theirs}
    )
    assert final["conflict"] is None and final["task"]["description"] == combined


async def test_without_a_base_the_last_write_wins(pair):
    owner, member, task = pair
    tid = task["id"]
    await patch(owner, tid, {"changes": {"description": "theirs"}})
    answer = await patch(member, tid, {"changes": {"description": "mine"}})
    assert answer["conflict"] is None and answer["task"]["description"] == "mine"
    # A base with no description sent changes nothing.
    answer = await patch(member, tid, {"changes": {"title": "T"}, "descriptionBase": "x"})
    assert answer["conflict"] is None and answer["task"]["description"] == "mine"


async def test_a_bad_base_is_refused(pair):
    owner, _member, task = pair
    async with owner.http() as http:
        for base in ("x" * 10_001, 5, ["a"]):
            r = await http.patch(
                f"/api/tasks/{task['id']}",
                json={"changes": {"description": "d"}, "descriptionBase": base},
            )
            assert_error(r, 422)
    assert (await stored(owner, task["id"]))["description"] == BASE


@pytest.mark.parametrize(
    ("base", "mine", "theirs", "merged"),
    [
        ("a b c", "A b c", "a b C", "A b C"),
        ("review it", "review it twice", "have Sam review it", "have Sam review it twice"),
        ("", "mine", "", "mine"),
        ("same", "same fix", "same fix", "same fix"),  # the same edit on both sides: once
        ("line one\nline two\n", "line one\n", "line one\nline two\nline three\n", None),
        ("cat", "dog", "bird", None),
        ("x", "ax", "bx", None),  # both insert at the same place: which first is a guess
        ("<b>hi</b>", "<script>x</script><b>hi</b>", "<b>hi</b>!", "<script>x</script><b>hi</b>!"),
    ],
)
def test_three_way(base, mine, theirs, merged):
    assert three_way(base, mine, theirs) == merged
