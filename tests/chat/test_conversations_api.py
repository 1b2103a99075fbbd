"""Conversations over REST: direct ones made once per pair, groups and their rules, the list."""

from __future__ import annotations

from tests.chat.factories import conversations, listed, send, start
from tests.harness import assert_error, quick_team


async def test_a_direct_conversation_is_made_once_per_pair(server):
    org_id, (ada, bo, cy) = await quick_team(server, ["Owner", "Member", "Member"])
    async with ada.http() as http:
        r = await http.post(f"/api/orgs/{org_id}/conversations", json={"memberIds": [bo.id]})
        assert r.status_code == 201, r.text
        first = r.json()["conversation"]
    assert first["id"].startswith("conv_") and first["kind"] == "direct"
    assert first["title"] is None and first["lastMessage"] is None
    assert {m["userId"] for m in first["members"]} == {ada.id, bo.id}
    assert (first["unreadCount"], first["readN"], first["lastN"]) == (0, 0, 0)
    async with bo.http() as http:  # from the other side, and naming oneself too
        r = await http.post(
            f"/api/orgs/{org_id}/conversations", json={"memberIds": [ada.id, bo.id]}
        )
        assert r.status_code == 200, r.text
        assert r.json()["conversation"]["id"] == first["id"]
    other = await start(ada, org_id, cy)
    assert other["id"] != first["id"]
    # A direct conversation's people and title never change.
    async with ada.http() as http:
        r = await http.post(f"/api/conversations/{first['id']}/members", json={"userId": cy.id})
        assert_error(r, 409, "conflict")
        r = await http.patch(f"/api/conversations/{first['id']}", json={"title": "x"})
        assert_error(r, 409, "conflict")
        assert_error(await http.delete(f"/api/conversations/{first['id']}/members/{ada.id}"), 409)


async def test_groups_need_a_title_and_people_of_the_org(server):
    org_id, (ada, bo, cy) = await quick_team(server, ["Owner", "Member", "Guest"])
    _other, (stranger,) = await quick_team(server, ["Owner"], org_name="Other")
    async with ada.http() as http:
        url = f"/api/orgs/{org_id}/conversations"
        assert_error(await http.post(url, json={"memberIds": [bo.id, cy.id]}), 409)
        for title in ("", "   ", "x" * 101, "a\x00b"):
            r = await http.post(url, json={"memberIds": [bo.id, cy.id], "title": title})
            assert_error(r, 422, "validation")
        r = await http.post(url, json={"memberIds": [bo.id, stranger.id], "title": "Team"})
        error = assert_error(r, 404, "not_found")
        assert error["message"] == "no such person in this organization"
        r = await http.post(url, json={"memberIds": ["u_nobody"]})
        assert_error(r, 404, "not_found")
        r = await http.post(url, json={"memberIds": [bo.id], "title": "  Two of us  "})
        assert r.status_code == 201, r.text
        group = r.json()["conversation"]
        assert (group["kind"], group["title"]) == ("group", "Two of us")
    async with stranger.http() as http:
        r = await http.post(url, json={"memberIds": []})
        assert_error(r, 404, "not_found")
        assert_error(await http.get(url), 404, "not_found")


async def test_group_membership_rules(server):
    org_id, (owner, admin, ada, bo, cy, di) = await quick_team(
        server, ["Owner", "Admin", "Member", "Member", "Member", "Member"]
    )
    group = await start(ada, org_id, bo, title="Launch")
    gid = group["id"]
    await send(ada, gid, "before cy")
    async with bo.http() as http:  # any member adds people of the org
        r = await http.post(f"/api/conversations/{gid}/members", json={"userId": cy.id})
        assert r.status_code == 201, r.text
        assert r.json()["member"]["userId"] == cy.id
        r = await http.post(f"/api/conversations/{gid}/members", json={"userId": cy.id})
        assert_error(r, 409, "conflict")
        r = await http.patch(f"/api/conversations/{gid}", json={"title": "Launch day"})
        assert r.status_code == 200 and r.json()["conversation"]["title"] == "Launch day"
        # Removing someone else: the creator, an Owner or an Admin only.
        r = await http.delete(f"/api/conversations/{gid}/members/{cy.id}")
        assert_error(r, 403, "forbidden")
    # Cy joined after the first message: it is not unread for them.
    assert (await listed(cy, org_id))[gid]["unreadCount"] == 0
    async with owner.http() as http:  # not a member: it does not exist for them
        r = await http.delete(f"/api/conversations/{gid}/members/{cy.id}")
        assert_error(r, 404, "not_found")
    async with ada.http() as http:
        r = await http.post(f"/api/conversations/{gid}/members", json={"userId": admin.id})
        assert r.status_code == 201, r.text
        r = await http.post(f"/api/conversations/{gid}/members", json={"userId": di.id})
        assert r.status_code == 201, r.text
    async with admin.http() as http:
        assert (await http.delete(f"/api/conversations/{gid}/members/{cy.id}")).status_code == 204
        r = await http.delete(f"/api/conversations/{gid}/members/{cy.id}")
        assert_error(r, 404, "not_found")
    async with ada.http() as http:  # the creator
        assert (await http.delete(f"/api/conversations/{gid}/members/{di.id}")).status_code == 204
    async with bo.http() as http:  # leaving
        assert (await http.delete(f"/api/conversations/{gid}/members/{bo.id}")).status_code == 204
        assert_error(await http.get(f"/api/conversations/{gid}"), 404, "not_found")
        assert_error(await http.get(f"/api/conversations/{gid}/messages"), 404, "not_found")
    assert gid not in await listed(bo, org_id)
    assert {m["userId"] for m in (await listed(ada, org_id))[gid]["members"]} == {
        ada.id,
        admin.id,
    }


async def test_non_members_see_nothing_exactly_like_a_missing_id(server):
    org_id, (ada, bo, cy) = await quick_team(server, ["Owner", "Member", "Member"])
    _other, (stranger,) = await quick_team(server, ["Owner"], org_name="Other")
    conversation = await start(bo, org_id, cy)
    said = await send(bo, conversation["id"], "private")
    for person in (ada, stranger):  # the org's Owner is no member either
        async with person.http() as http:
            for cid in (conversation["id"], "conv_missing"):
                for method, path, body in (
                    ("GET", f"/api/conversations/{cid}", None),
                    ("GET", f"/api/conversations/{cid}/messages", None),
                    ("POST", f"/api/conversations/{cid}/messages", {"text": "hi", "clientId": "a"}),
                    ("PATCH", f"/api/conversations/{cid}", {"title": "x"}),
                    ("POST", f"/api/conversations/{cid}/members", {"userId": person.id}),
                    ("POST", f"/api/conversations/{cid}/read", {"messageId": said["messageId"]}),
                    (
                        "POST",
                        f"/api/conversations/{cid}/delivered",
                        {"messageIds": [said["messageId"]]},
                    ),
                ):
                    r = await http.request(method, path, json=body)
                    assert_error(r, 404, "not_found")
            for method in ("PATCH", "DELETE"):
                r = await http.request(
                    method, f"/api/messages/{said['messageId']}", json={"text": "x"}
                )
                assert_error(r, 404, "not_found")


async def test_the_list_is_ordered_by_latest_activity(server):
    org_id, (ada, bo, cy) = await quick_team(server, ["Owner", "Member", "Member"])
    with_bo = await start(ada, org_id, bo)
    with_cy = await start(ada, org_id, cy)
    group = await start(ada, org_id, bo, cy, title="All")
    body = await conversations(ada, org_id)
    assert [c["id"] for c in body["conversations"]] == [group["id"], with_cy["id"], with_bo["id"]]
    assert isinstance(body["cursor"], int)
    said = await send(bo, with_bo["id"], "ping")
    listing = await listed(ada, org_id)
    assert list(listing) == [with_bo["id"], group["id"], with_cy["id"]]
    first = listing[with_bo["id"]]
    assert first["lastMessage"]["messageId"] == said["messageId"]
    assert (first["unreadCount"], first["lastN"], first["lastActivityAt"]) == (
        1,
        1,
        said["sentAt"],
    )
    async with ada.http() as http:
        r = await http.get(f"/api/conversations/{with_bo['id']}")
        assert r.status_code == 200, r.text
        one = r.json()
        assert one["conversation"] == first and isinstance(one["cursor"], int)
