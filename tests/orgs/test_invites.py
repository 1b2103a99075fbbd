"""Invites: who may send them, what the link shows, and accepting them (SPEC §2, §3)."""

import asyncio

from tests.harness import assert_error, listening, signup, team


async def invite(person, org_id, email, role="Member"):
    async with person.http() as http:
        return await http.post(f"/api/orgs/{org_id}/invites", json={"email": email, "role": role})


async def test_owner_and_admin_invite_within_their_rights(sqlite_server):
    org_id, (owner, admin, member, guest) = await team(
        sqlite_server, ["Owner", "Admin", "Member", "Guest"]
    )
    outsider = await signup(sqlite_server)

    r = await invite(owner, org_id, "New.Person@Example.COM", "Admin")
    assert r.status_code == 201, r.text
    sent = r.json()["invite"]
    assert {"token", "email", "role"} <= set(sent)
    assert (sent["email"], sent["role"]) == ("new.person@example.com", "Admin")
    assert len(sent["token"]) >= 20

    assert (await invite(owner, org_id, "co-owner@example.com", "Owner")).status_code == 201
    assert (await invite(admin, org_id, "helper@example.com", "Member")).status_code == 201
    assert (await invite(admin, org_id, "visitor@example.com", "Guest")).status_code == 201
    assert (await invite(admin, org_id, "peer@example.com", "Admin")).status_code == 201
    assert_error(await invite(admin, org_id, "boss@example.com", "Owner"), 403, "forbidden")
    for who in (member, guest):
        assert_error(await invite(who, org_id, "friend@example.com", "Member"), 403, "forbidden")
        assert_error(await invite(who, org_id, "friend@example.com", "Guest"), 403, "forbidden")
    assert_error(await invite(outsider, org_id, "friend@example.com"), 404, "not_found")

    # An existing member, in any case, cannot be invited again.
    assert_error(await invite(owner, org_id, member.email.upper(), "Admin"), 409, "conflict")
    assert_error(await invite(admin, org_id, owner.email, "Member"), 409, "conflict")

    async with owner.http() as http:
        for body in (
            {},
            {"role": "Member"},
            {"email": "not-an-email"},
            {"email": "x@example.com", "role": "King"},
            {"email": "x@example.com", "role": "owner"},
            {"email": 3, "role": "Member"},
            {"email": "a" * 250 + "@example.com"},
            {"email": "x@example.com", "role": None},
        ):
            assert_error(
                await http.post(f"/api/orgs/{org_id}/invites", json=body), 422, "validation"
            )
        # Without a role, the invite is for a Member.
        r = await http.post(f"/api/orgs/{org_id}/invites", json={"email": "plain@example.com"})
        assert r.status_code == 201 and r.json()["invite"]["role"] == "Member"

        listed = await http.get(f"/api/orgs/{org_id}/invites")
        assert listed.status_code == 200
        emails = {i["email"]: i["role"] for i in listed.json()["invites"]}
    assert emails == {
        "new.person@example.com": "Admin",
        "co-owner@example.com": "Owner",
        "helper@example.com": "Member",
        "visitor@example.com": "Guest",
        "peer@example.com": "Admin",
        "plain@example.com": "Member",
    }

    async with admin.http() as http:
        assert (await http.get(f"/api/orgs/{org_id}/invites")).status_code == 200
    for who in (member, guest):
        async with who.http() as http:
            assert_error(await http.get(f"/api/orgs/{org_id}/invites"), 403, "forbidden")
    async with outsider.http() as http:
        assert_error(await http.get(f"/api/orgs/{org_id}/invites"), 404, "not_found")


async def test_accepting_an_invite(server):
    org_id, (owner, member) = await team(server, ["Owner", "Member"])
    newcomer = await signup(server, name="Newcomer")
    stranger = await signup(server)

    r = await invite(owner, org_id, newcomer.email.upper(), "Admin")
    assert r.status_code == 201
    token = r.json()["invite"]["token"]
    async with owner.http() as http:
        assert [
            i["token"] for i in (await http.get(f"/api/orgs/{org_id}/invites")).json()["invites"]
        ] == [token]

    async with (
        server.client() as anonymous
    ):  # the invite page can show what is offered before signing in
        info = await anonymous.get(f"/api/invites/{token}")
        assert info.status_code == 200, info.text
        assert info.json() == {
            "invite": {"orgId": org_id, "orgName": "Acme", "email": newcomer.email, "role": "Admin"}
        }
        assert_error(await anonymous.get("/api/invites/no-such-invite"), 404, "not_found")
        assert_error(await anonymous.post(f"/api/invites/{token}/accept"), 401, "unauthenticated")

    async with stranger.http() as http:  # someone else holding the link
        assert_error(await http.post(f"/api/invites/{token}/accept"), 403, "forbidden")
        assert_error(await http.get(f"/api/orgs/{org_id}/members"), 404, "not_found")

    async with listening(member, f"org:{org_id}") as listener, newcomer.http() as http:
        r = await http.post(f"/api/invites/{token}/accept")
        assert r.status_code == 200, r.text
        assert r.json()["membership"] == {
            "orgId": org_id,
            "orgName": "Acme",
            "role": "Admin",
            "status": "active",
        }
        joined = await listener.wait_event("org.member.joined")
        assert joined["data"]["member"]["userId"] == newcomer.id
        assert joined["data"]["member"]["role"] == "Admin"

        me = (await http.get("/api/me")).json()
        assert {"orgId": org_id, "orgName": "Acme", "role": "Admin"} in me["memberships"]
        members = (await http.get(f"/api/orgs/{org_id}/members")).json()["members"]
        assert {m["userId"]: m["role"] for m in members}[newcomer.id] == "Admin"

        # A used invite is gone: not shown, not accepted again, no longer pending.
        assert_error(await http.post(f"/api/invites/{token}/accept"), 404, "not_found")
        assert_error(await http.get(f"/api/invites/{token}"), 404, "not_found")
        assert_error(await http.post("/api/invites/no-such-invite/accept"), 404, "not_found")
    async with owner.http() as http:
        assert (await http.get(f"/api/orgs/{org_id}/invites")).json()["invites"] == []


async def test_a_newer_invite_to_the_same_address_replaces_the_older(sqlite_server):
    org_id, (owner,) = await team(sqlite_server, ["Owner"])
    person = await signup(sqlite_server)
    old = (await invite(owner, org_id, person.email, "Guest")).json()["invite"]["token"]
    new = (await invite(owner, org_id, person.email, "Member")).json()["invite"]["token"]
    async with person.http() as http:
        assert_error(await http.post(f"/api/invites/{old}/accept"), 404, "not_found")
        r = await http.post(f"/api/invites/{new}/accept")
        assert r.status_code == 200 and r.json()["membership"]["role"] == "Member"


async def test_accepting_twice_at_once_joins_once(server):
    """Two tabs accept the same link at the same moment: one membership, the other told it is taken."""
    org_id, (owner,) = await team(server, ["Owner"])
    person = await signup(server)
    token = (await invite(owner, org_id, person.email)).json()["invite"]["token"]
    async with person.http() as http:
        answers = await asyncio.gather(
            *(http.post(f"/api/invites/{token}/accept") for _ in range(4))
        )
    codes = sorted(a.status_code for a in answers)
    assert codes.count(200) == 1, [a.text for a in answers]
    for a in answers:
        if a.status_code != 200:
            assert_error(a, a.status_code)
            assert a.status_code in (404, 409), a.text
    async with owner.http() as http:
        members = (await http.get(f"/api/orgs/{org_id}/members")).json()["members"]
    assert [m["userId"] for m in members].count(person.id) == 1
