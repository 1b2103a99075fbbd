from tests.harness import listening, team


async def test_role_change_reaches_a_subscriber(server):
    org_id, (owner, member) = await team(server, ["Owner", "Member"])
    async with listening(member, f"org:{org_id}") as listener:
        async with owner.http() as http:
            r = await http.patch(f"/api/orgs/{org_id}/members/{member.id}", json={"role": "Admin"})
            assert r.status_code == 200, r.text
        event = await listener.wait_event("org.member.updated")
    assert event["data"]["member"]["role"] == "Admin"
    assert event["room"] == f"org:{org_id}"
    assert isinstance(event["seq"], int)
