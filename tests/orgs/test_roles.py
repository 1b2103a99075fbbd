"""Change role, remove, leave: SPEC §2's rules (an org always keeps an Owner; a Member promotes no one)."""

from tests.harness import assert_error, join, signup, team

MEMBER_KEYS = {"userId", "name", "email", "role", "status", "avatarUrl"}


async def set_role(actor, org_id, user_id, role):
    async with actor.http() as http:
        return await http.patch(f"/api/orgs/{org_id}/members/{user_id}", json={"role": role})


async def remove(actor, org_id, user_id):
    async with actor.http() as http:
        return await http.delete(f"/api/orgs/{org_id}/members/{user_id}")


async def leave(actor, org_id):
    async with actor.http() as http:
        return await http.post(f"/api/orgs/{org_id}/leave")


async def roles(person, org_id):
    async with person.http() as http:
        r = await http.get(f"/api/orgs/{org_id}/members")
        assert r.status_code == 200, r.text
        return {m["userId"]: m["role"] for m in r.json()["members"]}


async def test_change_role_rules(server):
    org_id, (owner, admin, member, guest) = await team(
        server, ["Owner", "Admin", "Member", "Guest"]
    )
    outsider = await signup(server)

    # The sole Owner cannot step down.
    assert_error(await set_role(owner, org_id, owner.id, "Admin"), 409, "conflict")

    # A Member promotes no one, not even themselves; a Guest neither.
    for actor in (member, guest):
        for target, role in (
            (guest, "Member"),
            (actor, "Admin"),
            (actor, "Owner"),
            (admin, "Member"),
        ):
            assert_error(await set_role(actor, org_id, target.id, role), 403, "forbidden")

    # An Admin manages Members and Guests, but neither makes nor touches an Owner.
    r = await set_role(admin, org_id, guest.id, "Member")
    assert r.status_code == 200, r.text
    body = r.json()["member"]
    assert set(body) == MEMBER_KEYS
    assert (body["userId"], body["role"], body["email"], body["status"]) == (
        guest.id,
        "Member",
        guest.email,
        "active",
    )
    assert (await set_role(admin, org_id, guest.id, "Guest")).status_code == 200
    assert_error(await set_role(admin, org_id, member.id, "Owner"), 403, "forbidden")
    assert_error(await set_role(admin, org_id, admin.id, "Owner"), 403, "forbidden")
    assert_error(await set_role(admin, org_id, owner.id, "Admin"), 403, "forbidden")
    assert_error(await set_role(admin, org_id, owner.id, "Owner"), 403, "forbidden")

    # The Owner may do anything that leaves the org an Owner.
    assert (await set_role(owner, org_id, member.id, "Owner")).json()["member"]["role"] == "Owner"
    assert (await set_role(owner, org_id, owner.id, "Member")).json()["member"]["role"] == "Member"
    assert_error(
        await set_role(member, org_id, member.id, "Admin"), 409, "conflict"
    )  # the new sole Owner
    assert (await set_role(member, org_id, owner.id, "Owner")).status_code == 200
    assert (await set_role(owner, org_id, member.id, "Member")).status_code == 200

    # Unknown people, people from elsewhere and bad roles.
    assert_error(await set_role(owner, org_id, "u_nobody", "Admin"), 404, "not_found")
    assert_error(await set_role(owner, org_id, outsider.id, "Admin"), 404, "not_found")
    async with owner.http() as http:
        for body in (
            {},
            {"role": "King"},
            {"role": "admin"},
            {"role": None},
            {"role": 1},
            {"role": ["Admin"]},
            {"role": "Admin", "userId": guest.id},
        ):
            r = await http.patch(f"/api/orgs/{org_id}/members/{member.id}", json=body)
            assert_error(r, 422, "validation")
    assert_error(await set_role(outsider, org_id, member.id, "Admin"), 404, "not_found")

    assert await roles(owner, org_id) == {
        owner.id: "Owner",
        admin.id: "Admin",
        member.id: "Member",
        guest.id: "Guest",
    }


async def test_remove_rules(server):
    org_id, (owner, admin, member, guest, member2) = await team(
        server, ["Owner", "Admin", "Member", "Guest", "Member"]
    )
    outsider = await signup(server)

    for actor in (member, guest):
        assert_error(await remove(actor, org_id, member2.id), 403, "forbidden")
        assert_error(await remove(actor, org_id, owner.id), 403, "forbidden")
    assert_error(await remove(admin, org_id, owner.id), 403, "forbidden")
    assert_error(await remove(owner, org_id, owner.id), 409, "conflict")  # the last Owner
    assert_error(await remove(owner, org_id, "u_nobody"), 404, "not_found")
    assert_error(await remove(owner, org_id, outsider.id), 404, "not_found")
    assert_error(await remove(outsider, org_id, member.id), 404, "not_found")

    r = await remove(admin, org_id, guest.id)
    assert r.status_code == 204 and r.content == b""
    r = await remove(owner, org_id, member2.id)
    assert r.status_code == 204
    assert_error(await remove(owner, org_id, member2.id), 404, "not_found")  # already gone

    # The removed lose access at once, exactly as if the org did not exist.
    for gone in (guest, member2):
        async with gone.http() as http:
            assert_error(await http.get(f"/api/orgs/{org_id}/members"), 404, "not_found")
            assert org_id not in {
                m["orgId"] for m in (await http.get("/api/me")).json()["memberships"]
            }
    assert await roles(owner, org_id) == {owner.id: "Owner", admin.id: "Admin", member.id: "Member"}

    # With a second Owner, one Owner may remove the other.
    assert (await set_role(owner, org_id, member.id, "Owner")).status_code == 200
    assert_error(await remove(admin, org_id, member.id), 403, "forbidden")
    assert (await remove(member, org_id, owner.id)).status_code == 204
    assert await roles(member, org_id) == {member.id: "Owner", admin.id: "Admin"}
    # Someone removed can come back through a new invite.
    await join(org_id, member, guest, "Member")
    assert (await roles(guest, org_id))[guest.id] == "Member"


async def test_leave_rules(sqlite_server):
    org_id, (owner, admin, member) = await team(sqlite_server, ["Owner", "Admin", "Member"])
    outsider = await signup(sqlite_server)

    assert_error(await leave(owner, org_id), 409, "conflict")
    assert_error(await leave(outsider, org_id), 404, "not_found")
    for person in (member, admin):
        r = await leave(person, org_id)
        assert r.status_code == 204 and r.content == b""
        async with person.http() as http:
            assert_error(await http.get(f"/api/orgs/{org_id}/members"), 404, "not_found")
            assert (await http.get("/api/me")).json()["memberships"] == []
        assert_error(await leave(person, org_id), 404, "not_found")
    assert await roles(owner, org_id) == {owner.id: "Owner"}

    # Once someone else is Owner, the founder may leave.
    await join(org_id, owner, member, "Owner")
    assert (await leave(owner, org_id)).status_code == 204
    assert await roles(member, org_id) == {member.id: "Owner"}
    assert_error(await leave(member, org_id), 409, "conflict")


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(server):
    import asyncio

    org_id, (first, second) = await team(server, ["Owner", "Owner"])
    for _ in range(3):

        async def demote(actor, target):
            async with actor.http() as http:
                return await http.patch(
                    f"/api/orgs/{org_id}/members/{target.id}", json={"role": "Admin"}
                )

        results = await asyncio.gather(demote(first, second), demote(second, first))
        statuses = sorted(r.status_code for r in results)
        async with first.http() as http:
            members = (await http.get(f"/api/orgs/{org_id}/members")).json()["members"]
        owners = [m for m in members if m["role"] == "Owner"]
        assert len(owners) == 1, (statuses, members)
        assert statuses in ([200, 409], [200, 404], [200, 403]), statuses
        # Put both back as Owners for the next round.
        owner = first if owners[0]["userId"] == first.id else second
        other = second if owner is first else first
        async with owner.http() as http:
            r = await http.patch(f"/api/orgs/{org_id}/members/{other.id}", json={"role": "Owner"})
            assert r.status_code == 200, r.text
