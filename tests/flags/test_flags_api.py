"""GET/PUT /api/orgs/{id}/flags, and what turning `members` off means for subscribers (SPEC §6)."""

from tandem.flags.service import PHASES
from tests.harness import Listener, assert_error, join, make_org, team


async def put_flag(person, org_id, phase, enabled):
    async with person.http() as http:
        return await http.put(f"/api/orgs/{org_id}/flags/{phase}", json={"enabled": enabled})


async def test_flags_read_by_members_and_set_by_owners_only(sqlite_server):
    org_id, (owner, admin, member, guest) = await team(
        sqlite_server, ["Owner", "Admin", "Member", "Guest"]
    )
    for person in (owner, admin, member, guest):
        async with person.http() as http:
            r = await http.get(f"/api/orgs/{org_id}/flags")
            assert r.status_code == 200, r.text
            assert r.json() == {
                "flags": {phase: True for phase in PHASES},
                "states": {phase: "on" for phase in PHASES},
            }

    for person in (admin, member, guest):
        assert_error(await put_flag(person, org_id, "chat", False), 403, "forbidden")
    r = await put_flag(owner, org_id, "chat", False)
    assert r.status_code == 200, r.text
    assert r.json()["flags"] == {phase: phase != "chat" for phase in PHASES}
    assert r.json()["states"] == {phase: "off" if phase == "chat" else "on" for phase in PHASES}
    async with member.http() as http:
        assert (await http.get(f"/api/orgs/{org_id}/flags")).json()["flags"]["chat"] is False

    # Another org is not affected by this org's switch.
    other = await make_org(owner, "Other")
    async with owner.http() as http:
        assert (await http.get(f"/api/orgs/{other}/flags")).json()["flags"]["chat"] is True

    # null returns the org to the global rule (on).
    r = await put_flag(owner, org_id, "chat", None)
    assert r.json()["flags"]["chat"] is True

    async with owner.http() as http:
        for phase in ("nope", "Members", "x" * 16, "x" * 17):
            r = await http.put(f"/api/orgs/{org_id}/flags/{phase}", json={"enabled": False})
            assert r.status_code in (400, 422), r.text
            assert_error(r, r.status_code, "invalid" if r.status_code == 400 else "validation")
        for body in (
            {},
            {"enabled": "off"},
            {"enabled": "true"},
            {"enabled": 0},
            {"enabled": [True]},
            {"enabled": False, "phase": "chat"},
        ):
            assert_error(
                await http.put(f"/api/orgs/{org_id}/flags/members", json=body), 422, "validation"
            )
        assert (await http.get(f"/api/orgs/{org_id}/flags")).json()["flags"] == {
            p: True for p in PHASES
        }


async def test_members_off_means_no_phase1_events_for_that_org(server):
    """A subscriber of two orgs: the org with `members` off sends nothing, the other still does."""
    quiet, (owner, member) = await team(server, ["Owner", "Member"])
    loud = await make_org(owner, "Loud")
    await join(loud, owner, member, "Member")

    listener = Listener(server, await member.socket_token())
    await listener.connect()
    try:
        for org_id in (quiet, loud):
            assert (await listener.subscribe(f"org:{org_id}"))["ok"]
        r = await put_flag(owner, quiet, "members", False)
        assert r.status_code == 200 and r.json()["flags"]["members"] is False

        async with owner.http() as http:
            r = await http.patch(f"/api/orgs/{quiet}/members/{member.id}", json={"role": "Admin"})
            assert r.status_code == 200, r.text  # the change itself still happens
            # Events are published in commit order: once the later change in `loud` arrives,
            # anything from `quiet` would already have arrived.
            r = await http.patch(f"/api/orgs/{loud}/members/{member.id}", json={"role": "Admin"})
            assert r.status_code == 200
        await listener.wait_event("org.member.updated", organizationId=loud)
        quiet_events = [
            e for e in listener.events if e.get("data", {}).get("organizationId") == quiet
        ]
        assert quiet_events == []
        async with (
            member.http() as http
        ):  # the snapshot is still right: pages fall back to polling it
            members = (await http.get(f"/api/orgs/{quiet}/members")).json()["members"]
            assert {m["userId"]: m["role"] for m in members}[member.id] == "Admin"

        # Turning the flag back on restores the events.
        r = await put_flag(owner, quiet, "members", True)
        assert r.json()["flags"]["members"] is True
        async with owner.http() as http:
            r = await http.patch(f"/api/orgs/{quiet}/members/{member.id}", json={"role": "Member"})
            assert r.status_code == 200
        event = await listener.wait_event("org.member.updated", organizationId=quiet)
        assert event["data"]["member"]["role"] == "Member"
    finally:
        await listener.close()
