"""Snapshot + events = state (STYLE item 8, SPEC §5.4), after Zulip's `verify_action`.

For every durable phase-1 event: take the members snapshot with its cursor,
subscribe with `after: cursor`, perform the action, apply the events that
arrived to the old snapshot with the client's reducer rules, fetch a new
snapshot and require the two to be equal. An action that emits nothing fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tests.harness import Person, listening, quick_signup, quick_team, quiesce

PRESENCE_FIELDS = {"online", "lastActiveAt"}  # live state, not part of the durable events' contract
MEMBER_FIELDS = {"userId", "name", "email", "role", "status", "avatarUrl"}


def apply_member_event(state: dict[str, dict[str, Any]], envelope: dict[str, Any]) -> None:
    """The web client's members reducer (web/src/sdk/reducers/members.ts), rule for rule."""
    event, data = envelope["event"], envelope["data"]
    if event in ("org.member.joined", "org.member.updated"):
        member = data["member"]
        assert set(member) == MEMBER_FIELDS, member
        state[member["userId"]] = {
            "online": False,
            "lastActiveAt": None,
            **state.get(member["userId"], {}),
            **member,
        }
    elif event in ("org.member.left", "org.member.removed"):
        state.pop(data["userId"], None)
    else:
        raise AssertionError(f"no reducer rule for {event}")


def comparable(members: Any) -> dict[str, dict[str, Any]]:
    return {m["userId"]: {k: v for k, v in m.items() if k not in PRESENCE_FIELDS} for m in members}


async def members_snapshot(person: Person, org_id: str) -> dict[str, Any]:
    async with person.http() as http:
        r = await http.get(f"/api/orgs/{org_id}/members")
        assert r.status_code == 200, r.text
        return r.json()


async def verify_action(
    person: Person,
    org_id: str,
    action: Callable[[], Awaitable[Any]],
    *,
    before_subscribing: Callable[[], Awaitable[Any]] | None = None,
) -> list[dict[str, Any]]:
    """Snapshot, subscribe after its cursor, act, apply the events, compare with a fresh snapshot.

    `before_subscribing` runs between the snapshot and the subscribe: its events must come by replay.
    Returns the durable events applied.
    """
    server = person.server
    room = f"org:{org_id}"
    await server.settle()  # what is committed is in the log, so the snapshot's cursor covers it
    before = await members_snapshot(person, org_id)
    state = {m["userId"]: m for m in before["members"]}
    if before_subscribing is not None:
        await before_subscribing()
        await server.settle()
    async with listening(person) as listener:
        ack = await listener.subscribe(room, after=before["cursor"])
        assert ack["ok"] is True, ack
        await action()
        await quiesce(server, listener)
    events = [e for e in listener.events if e["room"] == room and "seq" in e]
    assert events, "the action emitted nothing"
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)) and seqs[0] > before["cursor"], seqs
    for envelope in events:
        assert envelope["data"]["organizationId"] == org_id, envelope
        apply_member_event(state, envelope)
    after = await members_snapshot(person, org_id)
    assert comparable(state.values()) == comparable(after["members"])
    assert after["cursor"] >= seqs[-1]
    return events


async def _ok(request: Awaitable[Any], status: int = 200) -> None:
    r = await request
    assert r.status_code == status, r.text


def invite_and_accept(
    org_id: str, inviter: Person, person: Person, role: str
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        async with inviter.http() as http:
            r = await http.post(
                f"/api/orgs/{org_id}/invites", json={"email": person.email, "role": role}
            )
            assert r.status_code == 201, r.text
            token = r.json()["invite"]["token"]
        async with person.http() as http:
            await _ok(http.post(f"/api/invites/{token}/accept"))

    return run


def set_role(org_id: str, actor: Person, user_id: str, role: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        async with actor.http() as http:
            await _ok(http.patch(f"/api/orgs/{org_id}/members/{user_id}", json={"role": role}))

    return run


def edit_profile(person: Person, **changes: Any) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        async with person.http() as http:
            await _ok(http.patch("/api/me", json=changes))

    return run


def leave(org_id: str, person: Person) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        async with person.http() as http:
            await _ok(http.post(f"/api/orgs/{org_id}/leave"), 204)

    return run


def remove(org_id: str, actor: Person, user_id: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        async with actor.http() as http:
            await _ok(http.delete(f"/api/orgs/{org_id}/members/{user_id}"), 204)

    return run


def events_named(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events]


async def test_joined(server):
    org_id, (owner, _) = await quick_team(server, ["Owner", "Member"])
    newcomer = await quick_signup(server)
    events = await verify_action(owner, org_id, invite_and_accept(org_id, owner, newcomer, "Guest"))
    assert events_named(events) == ["org.member.joined"]


async def test_updated_by_a_role_change(server):
    org_id, (owner, admin, member) = await quick_team(server, ["Owner", "Admin", "Member"])
    events = await verify_action(owner, org_id, set_role(org_id, admin, member.id, "Guest"))
    assert events_named(events) == ["org.member.updated"]
    events = await verify_action(member, org_id, set_role(org_id, owner, admin.id, "Owner"))
    assert events_named(events) == ["org.member.updated"]


async def test_updated_by_a_profile_change(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    await quick_team(
        server, ["Owner"], org_name="Elsewhere"
    )  # another org, so seqs are not all this org's
    events = await verify_action(
        owner,
        org_id,
        edit_profile(member, name="Grace Hopper", avatarUrl="https://img.example/grace.png"),
    )
    assert events_named(events) == ["org.member.updated"]
    events = await verify_action(owner, org_id, edit_profile(member, avatarUrl=None))
    assert events_named(events) == ["org.member.updated"]
    events = await verify_action(
        owner, org_id, edit_profile(owner, name="The Owner")
    )  # the viewer's own row
    assert events_named(events) == ["org.member.updated"]


async def test_left(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    events = await verify_action(owner, org_id, leave(org_id, member))
    assert events_named(events) == ["org.member.left"]


async def test_removed(server):
    org_id, (owner, admin, member) = await quick_team(server, ["Owner", "Admin", "Member"])
    events = await verify_action(owner, org_id, remove(org_id, admin, member.id))
    assert events_named(events) == ["org.member.removed"]


async def test_a_burst_of_changes_at_once(server):
    org_id, people = await quick_team(
        server, ["Owner", "Admin", "Member", "Member", "Member", "Guest", "Member"]
    )
    owner, admin, m1, m2, m3, guest, m4 = people
    newcomers = [await quick_signup(server) for _ in range(2)]

    async def burst() -> None:
        await asyncio.gather(
            set_role(org_id, owner, m1.id, "Admin")(),
            set_role(org_id, admin, guest.id, "Member")(),
            edit_profile(m2, name="Renamed Two")(),
            edit_profile(m4, avatarUrl="/avatars/m4.png")(),
            leave(org_id, m3)(),
            remove(org_id, owner, m4.id)(),
            invite_and_accept(org_id, admin, newcomers[0], "Member")(),
            invite_and_accept(org_id, owner, newcomers[1], "Guest")(),
        )

    events = await verify_action(owner, org_id, burst)
    subjects = [
        (
            e["event"],
            e["data"]["member"]["userId"] if "member" in e["data"] else e["data"]["userId"],
        )
        for e in events
    ]
    expected = [
        ("org.member.updated", m1.id),
        ("org.member.updated", guest.id),
        ("org.member.updated", m2.id),
        ("org.member.left", m3.id),
        ("org.member.removed", m4.id),
        ("org.member.joined", newcomers[0].id),
        ("org.member.joined", newcomers[1].id),
    ]
    # m4's profile edit races m4's removal: it reaches the org only if it committed first.
    if ("org.member.updated", m4.id) in subjects:
        expected.insert(0, ("org.member.updated", m4.id))
        assert subjects.index(("org.member.updated", m4.id)) < subjects.index(
            ("org.member.removed", m4.id)
        )
    assert sorted(subjects) == sorted(expected)


async def test_changes_between_the_snapshot_and_the_subscribe_arrive_by_replay(server):
    org_id, (owner, admin, member, other) = await quick_team(
        server, ["Owner", "Admin", "Member", "Member"]
    )
    newcomer = await quick_signup(server)

    async def meanwhile() -> None:
        await set_role(org_id, owner, member.id, "Admin")()
        await leave(org_id, other)()

    async def then() -> None:
        await invite_and_accept(org_id, admin, newcomer, "Member")()
        await edit_profile(member, name="Member Renamed")()

    events = await verify_action(owner, org_id, then, before_subscribing=meanwhile)
    assert events_named(events) == [
        "org.member.updated",
        "org.member.left",
        "org.member.joined",
        "org.member.updated",
    ]


async def test_an_action_that_emits_nothing_fails_the_check(sqlite_server):
    org_id, (owner, member) = await quick_team(sqlite_server, ["Owner", "Member"])
    with pytest.raises(AssertionError, match="emitted nothing"):
        await verify_action(
            owner, org_id, set_role(org_id, owner, member.id, "Member")
        )  # already a Member
    with pytest.raises(AssertionError, match="emitted nothing"):
        await verify_action(owner, org_id, edit_profile(member, name=member.name))  # same name


async def test_profile_edits_racing_removals_and_role_changes(server):
    """Each person edits their profile while a manager removes them or changes their role, all at once."""
    org_id, people = await quick_team(server, ["Owner"] + ["Member"] * 8)
    owner, members = people[0], people[1:]

    async def race() -> None:
        actions = []
        for i, member in enumerate(members):
            actions.append(edit_profile(member, name=f"Edited {i}")())
            if i % 2:
                actions.append(remove(org_id, owner, member.id)())
            else:
                actions.append(set_role(org_id, owner, member.id, "Admin")())
        await asyncio.gather(*actions)

    await verify_action(owner, org_id, race)


async def test_role_changes_racing_removals_of_the_same_person(server):
    """A role change that loses the race to a removal is a 404, never a 500, and emits nothing after the removal."""
    org_id, people = await quick_team(server, ["Owner", "Admin"] + ["Member"] * 4)
    owner, admin, members = people[0], people[1], people[2:]
    statuses: list[int] = []

    async def change_role(member: Person) -> None:
        async with admin.http() as http:
            r = await http.patch(f"/api/orgs/{org_id}/members/{member.id}", json={"role": "Guest"})
            statuses.append(r.status_code)
            assert r.status_code in (200, 404), r.text

    async def race() -> None:
        await asyncio.gather(
            *(step for m in members for step in (change_role(m), remove(org_id, owner, m.id)()))
        )

    events = await verify_action(owner, org_id, race)
    assert len(statuses) == len(members)
    assert events_named(events).count("org.member.removed") == len(members)
    assert events_named(events).count("org.member.updated") == statuses.count(200)
