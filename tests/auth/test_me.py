"""GET and PATCH /api/me (SPEC §3)."""

from tests.harness import assert_error, join, listening, make_org, signup


async def test_me_lists_active_memberships(sqlite_server):
    person = await signup(sqlite_server, name="Katherine")
    own = await make_org(person, "Zeta Labs")
    boss = await signup(sqlite_server)
    other = await make_org(boss, "Alpha Works")
    await join(other, boss, person, "Guest")
    pending = await make_org(boss, "Pending Inc")
    async with boss.http() as http:  # invited but not accepted: not a membership yet
        r = await http.post(
            f"/api/orgs/{pending}/invites", json={"email": person.email, "role": "Member"}
        )
        assert r.status_code == 201

    async with person.http() as http:
        r = await http.get("/api/me")
        assert r.status_code == 200, r.text
        body = r.json()
    assert body["user"] == {
        "id": person.id,
        "email": person.email,
        "name": "Katherine",
        "avatarUrl": None,
    }
    assert sorted(body["memberships"], key=lambda m: m["orgName"]) == [
        {"orgId": other, "orgName": "Alpha Works", "role": "Guest"},
        {"orgId": own, "orgName": "Zeta Labs", "role": "Owner"},
    ]


async def test_patch_me_changes_name_and_avatar(server):
    person = await signup(server, name="Old Name")
    org_id = await make_org(person)
    async with listening(person, f"org:{org_id}") as listener, person.http() as http:
        r = await http.patch(
            "/api/me", json={"name": "  New Name ", "avatarUrl": "https://cdn.example.com/a.png"}
        )
        assert r.status_code == 200, r.text
        assert r.json() == {
            "user": {
                "id": person.id,
                "email": person.email,
                "name": "New Name",
                "avatarUrl": "https://cdn.example.com/a.png",
            }
        }
        event = await listener.wait_event("org.member.updated")
        assert event["data"]["member"]["name"] == "New Name"
        assert event["data"]["member"]["avatarUrl"] == "https://cdn.example.com/a.png"

        # Only what is sent changes.
        r = await http.patch("/api/me", json={"avatarUrl": "/avatars/me.png"})
        assert r.json()["user"]["name"] == "New Name"
        assert r.json()["user"]["avatarUrl"] == "/avatars/me.png"
        r = await http.patch("/api/me", json={"name": "Newer"})
        assert r.json()["user"]["avatarUrl"] == "/avatars/me.png"

        # null clears the avatar.
        r = await http.patch("/api/me", json={"avatarUrl": None})
        assert r.status_code == 200, r.text
        assert r.json()["user"]["avatarUrl"] is None

        me = (await http.get("/api/me")).json()["user"]
        assert me == {"id": person.id, "email": person.email, "name": "Newer", "avatarUrl": None}
        members = (await http.get(f"/api/orgs/{org_id}/members")).json()["members"]
        assert (members[0]["name"], members[0]["avatarUrl"]) == ("Newer", None)


BAD_PATCHES = [
    {"avatarUrl": "javascript:alert(1)"},
    {"avatarUrl": "ftp://example.com/a.png"},
    {"avatarUrl": "example.com/a.png"},
    {"avatarUrl": "https://example.com/" + "a" * 2048},
    {"avatarUrl": 42},
    {"name": ""},
    {"name": "   "},
    {"name": "n" * 101},
    {"name": 7},
    {"name": ["x"]},
    {"email": "new@example.com"},  # not changeable here
    {"id": "u_other"},
]


async def test_patch_me_refuses_bad_input(sqlite_server):
    person = await signup(sqlite_server, name="Stays")
    async with person.http() as http:
        for body in BAD_PATCHES:
            assert_error(await http.patch("/api/me", json=body), 422, "validation")
        assert_error(
            await http.patch("/api/me", content=b"{", headers={"Content-Type": "application/json"}),
            400,
            "invalid",
        )
        me = (await http.get("/api/me")).json()["user"]
        assert (me["name"], me["avatarUrl"], me["email"]) == ("Stays", None, person.email)
        # The longest allowed values are accepted.
        url = "https://example.com/" + "a" * (2048 - len("https://example.com/"))
        r = await http.patch("/api/me", json={"name": "n" * 100, "avatarUrl": url})
        assert r.status_code == 200, r.text
        assert r.json()["user"]["avatarUrl"] == url
