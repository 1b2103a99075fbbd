"""Create an organization, list its members, and keep outsiders from learning it exists (SPEC §2, §3)."""

import asyncio
import re

from tests.harness import assert_error, listening, make_org, signup, team

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
MEMBER_KEYS = {"userId", "name", "email", "role", "status", "avatarUrl", "online", "lastActiveAt"}


async def test_create_org_makes_the_caller_its_owner(sqlite_server):
    person = await signup(sqlite_server, name="Founder")
    async with person.http() as http:
        r = await http.post("/api/orgs", json={"name": "  Initech  "})
        assert r.status_code == 201, r.text
        org = r.json()["organization"]
        assert set(org) == {"id", "name"}
        assert org["id"].startswith("org_") and org["name"] == "Initech"
        me = (await http.get("/api/me")).json()
        assert me["memberships"] == [{"orgId": org["id"], "orgName": "Initech", "role": "Owner"}]

        for body in (
            {},
            {"name": ""},
            {"name": "   "},
            {"name": "n" * 101},
            {"name": 5},
            {"name": None},
            {"name": "ok", "id": "org_mine"},
        ):
            assert_error(await http.post("/api/orgs", json=body), 422, "validation")
        r = await http.post("/api/orgs", json={"name": "n" * 100})
        assert r.status_code == 201
        assert len((await http.get("/api/me")).json()["memberships"]) == 2
    async with sqlite_server.client() as anonymous:
        assert_error(await anonymous.post("/api/orgs", json={"name": "x"}), 401, "unauthenticated")


async def test_members_list_shape_presence_and_cursor(server):
    org_id, (owner, admin, member, guest) = await team(
        server, ["Owner", "Admin", "Member", "Guest"]
    )
    async with owner.http() as http:
        r = await http.get(f"/api/orgs/{org_id}/members")
        assert r.status_code == 200, r.text
        body = r.json()
    assert set(body) == {"members", "cursor"}
    assert isinstance(body["cursor"], int) and body["cursor"] >= 0
    rows = {m["userId"]: m for m in body["members"]}
    assert set(rows) == {owner.id, admin.id, member.id, guest.id}
    for person, role in ((owner, "Owner"), (admin, "Admin"), (member, "Member"), (guest, "Guest")):
        row = rows[person.id]
        assert set(row) == MEMBER_KEYS, row
        assert (row["name"], row["email"], row["role"], row["status"]) == (
            person.name,
            person.email,
            role,
            "active",
        )
        assert row["avatarUrl"] is None
        assert row["online"] is False
        assert row["lastActiveAt"] is None or ISO.match(row["lastActiveAt"])

    # Every member, Guests included, may read the table.
    for person in (admin, member, guest):
        async with person.http() as http:
            r = await http.get(f"/api/orgs/{org_id}/members")
            assert r.status_code == 200
            assert {m["userId"] for m in r.json()["members"]} == set(rows)

    # Someone with an open socket shows as online (SPEC §5.6: within 2 s), with a lastActiveAt.
    async with listening(member):
        for _ in range(100):
            async with owner.http() as http:
                now = {
                    m["userId"]: m
                    for m in (await http.get(f"/api/orgs/{org_id}/members")).json()["members"]
                }
            if now[member.id]["online"]:
                break
            await asyncio.sleep(0.02)
        assert now[member.id]["online"] is True
        assert ISO.match(now[member.id]["lastActiveAt"])
        assert now[guest.id]["online"] is False

    # The cursor moves past an event that changed the table.
    async with owner.http() as http:
        r = await http.patch(f"/api/orgs/{org_id}/members/{guest.id}", json={"role": "Member"})
        assert r.status_code == 200
        await server.settle()
        after = (await http.get(f"/api/orgs/{org_id}/members")).json()
    assert after["cursor"] > body["cursor"]
    assert {m["userId"]: m["role"] for m in after["members"]}[guest.id] == "Member"


async def test_outsiders_get_the_same_404_as_for_a_missing_org(server):
    org_id, (owner, member) = await team(server, ["Owner", "Member"])
    outsider = await signup(server)
    await make_org(outsider, "Outsider's own")
    missing = "org_doesnotexist"
    requests = [
        ("GET", "/api/orgs/{org}/members", None),
        ("POST", "/api/orgs/{org}/invites", {"email": "new@example.com", "role": "Member"}),
        ("GET", "/api/orgs/{org}/invites", None),
        ("PATCH", "/api/orgs/{org}/members/" + member.id, {"role": "Admin"}),
        ("DELETE", "/api/orgs/{org}/members/" + member.id, None),
        ("POST", "/api/orgs/{org}/leave", None),
        ("GET", "/api/orgs/{org}/flags", None),
        ("PUT", "/api/orgs/{org}/flags/members", {"enabled": False}),
        ("GET", "/api/events?room=org:{org}", None),
    ]
    async with outsider.http() as http:
        for method, path, body in requests:
            foreign = await http.request(method, path.format(org=org_id), json=body)
            absent = await http.request(method, path.format(org=missing), json=body)
            assert_error(foreign, 404, "not_found")
            assert (foreign.status_code, foreign.json()) == (absent.status_code, absent.json()), (
                method,
                path,
            )
            assert org_id not in foreign.text

    # And nothing changed inside the org.
    async with owner.http() as http:
        r = await http.get(f"/api/orgs/{org_id}/members")
        assert {m["userId"]: m["role"] for m in r.json()["members"]} == {
            owner.id: "Owner",
            member.id: "Member",
        }
        assert (await http.get(f"/api/orgs/{org_id}/invites")).json()["invites"] == []
        assert (await http.get(f"/api/orgs/{org_id}/flags")).json()["flags"]["members"] is True
