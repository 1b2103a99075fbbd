"""Idempotency-Key on REST creates (SPEC §5.5): a retried create answers once, never twice."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tandem.kit.idempotency import IdempotencyKey
from tests.harness import assert_error, quick_signup, quick_team, signup


def keyed(key: str | bytes) -> dict[str, str | bytes]:
    return {"Idempotency-Key": key}


async def org_count(person) -> int:
    async with person.http() as http:
        r = await http.get("/api/me")
        assert r.status_code == 200, r.text
        return len(r.json()["memberships"])


async def key_rows(server) -> int:
    async with server.runtime.db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(IdempotencyKey)) or 0)


async def age_keys(server, by: timedelta, only: int | None = None) -> None:
    """Move the oldest keys' creation back in time, as a day passing would."""
    async with server.runtime.db.unit_of_work() as session:
        rows = (
            await session.execute(
                select(IdempotencyKey.id, IdempotencyKey.created_at)
                .order_by(IdempotencyKey.created_at)
                .limit(only)
            )
        ).all()
        for row_id, created_at in rows:
            await session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.id == row_id)
                .values(created_at=created_at - by)
            )


async def test_a_retried_org_create_replays_the_first_answer(server):
    owner = await quick_signup(server)
    async with owner.http() as http:
        first = await http.post("/api/orgs", json={"name": "Acme"}, headers=keyed("k-1"))
        # The response was lost on the way back: the client sends the same request again.
        again = await http.post("/api/orgs", headers=keyed("k-1"), json={"name": "Acme"})
        # Key order and spacing do not make another request.
        spaced = await http.post(
            "/api/orgs",
            content=b'{ "name" :  "Acme" }',
            headers={**keyed("k-1"), "Content-Type": "application/json"},
        )
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    for replay in (again, spaced):
        assert replay.status_code == 201, replay.text
        assert replay.json() == first.json()
        assert replay.headers["Idempotent-Replayed"] == "true"
    assert await org_count(owner) == 1


async def test_without_a_key_each_post_creates(server):
    owner = await quick_signup(server)
    async with owner.http() as http:
        for _ in range(2):
            assert (await http.post("/api/orgs", json={"name": "Acme"})).status_code == 201
    assert await org_count(owner) == 2


async def test_the_same_key_with_another_body_is_refused(server):
    owner = await quick_signup(server)
    async with owner.http() as http:
        assert (
            await http.post("/api/orgs", json={"name": "Acme"}, headers=keyed("k"))
        ).status_code == 201
        r = await http.post("/api/orgs", json={"name": "Other"}, headers=keyed("k"))
    error = assert_error(r, 422, "validation")
    assert "Idempotency-Key" in error["message"]
    assert await org_count(owner) == 1


async def test_keys_belong_to_their_caller_and_route(server):
    alice, bob = await quick_signup(server), await quick_signup(server)
    async with alice.http() as http:
        mine = await http.post("/api/orgs", json={"name": "Acme"}, headers=keyed("shared"))
    async with bob.http() as http:
        theirs = await http.post("/api/orgs", json={"name": "Acme"}, headers=keyed("shared"))
    # Bob's request is his own: never a replay of Alice's answer.
    assert theirs.status_code == 201, theirs.text
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["organization"]["id"] != mine.json()["organization"]["id"]
    assert await org_count(bob) == 1

    org_id = mine.json()["organization"]["id"]
    async with alice.http() as http:  # the same key on another route is another key
        r = await http.post(
            f"/api/orgs/{org_id}/invites", json={"email": "x@example.com"}, headers=keyed("shared")
        )
    assert r.status_code == 201, r.text


async def test_a_failed_request_leaves_no_key_behind(server):
    owner = await quick_signup(server)
    async with owner.http() as http:
        bad = await http.post("/api/orgs", json={"name": "\u202e"}, headers=keyed("k"))
        assert_error(bad, 422, "validation")
        good = await http.post("/api/orgs", json={"name": "Acme"}, headers=keyed("k"))
    assert good.status_code == 201, good.text
    assert "Idempotent-Replayed" not in good.headers
    assert await org_count(owner) == 1


async def test_invites_and_accepting_them_honour_the_key(server):
    org_id, (owner,) = await quick_team(server, ["Owner"])
    guest = await quick_signup(server)
    async with owner.http() as http:
        sent = [
            await http.post(
                f"/api/orgs/{org_id}/invites",
                json={"email": guest.email, "role": "Member"},
                headers=keyed("invite-1"),
            )
            for _ in range(2)
        ]
    assert [r.status_code for r in sent] == [201, 201]
    assert sent[0].json() == sent[1].json()
    assert sent[1].headers["Idempotent-Replayed"] == "true"
    async with owner.http() as http:
        pending = (await http.get(f"/api/orgs/{org_id}/invites")).json()["invites"]
    assert len(pending) == 1  # the replay did not send a second invite in place of the first

    token = sent[0].json()["invite"]["token"]
    async with guest.http() as http:
        joined = [
            await http.post(f"/api/invites/{token}/accept", headers=keyed("join-1"))
            for _ in range(2)
        ]
    # Without the key the second accept is a 404 (the invite was used); with it, the same answer.
    assert [r.status_code for r in joined] == [200, 200], joined[1].text
    assert joined[0].json() == joined[1].json()
    assert joined[1].headers["Idempotent-Replayed"] == "true"


async def test_a_retried_signup_makes_one_account(server):
    body = {"email": "Retry.Me@example.test", "password": "a long enough password", "name": "R"}
    async with server.client() as http:
        first = await http.post("/api/auth/signup", json=body, headers=keyed("signup-1"))
        again = await http.post("/api/auth/signup", json=body, headers=keyed("signup-1"))
        other = await http.post(
            "/api/auth/signup", json={**body, "name": "S"}, headers=keyed("signup-1")
        )
    assert first.status_code == 201, first.text
    assert again.status_code == 201, again.text  # not 409: the same request, answered again
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert_error(other, 422, "validation")


async def test_concurrent_requests_with_one_key_create_one_org(server):
    owner = await quick_signup(server)

    async def create():
        async with owner.http() as http:
            return await http.post("/api/orgs", json={"name": "Race"}, headers=keyed("race"))

    answers = await asyncio.gather(*(create() for _ in range(8)))
    # The first to claim the key creates; the others wait for its transaction and replay it.
    assert {r.status_code for r in answers} == {201}, [r.text for r in answers]
    assert len({r.json()["organization"]["id"] for r in answers}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in answers) == 7
    assert await org_count(owner) == 1


async def test_keys_expire_after_a_day_and_are_pruned(server):
    owner = await quick_signup(server)
    async with owner.http() as http:
        first = await http.post("/api/orgs", json={"name": "Acme"}, headers=keyed("old"))
        kept = await http.post("/api/orgs", json={"name": "Kept"}, headers=keyed("new"))
    assert (first.status_code, kept.status_code) == (201, 201)
    assert await key_rows(server) == 2

    await age_keys(server, timedelta(hours=24, minutes=1), only=1)

    # Expired, even before the prune ran: the key is new again.
    async with owner.http() as http:
        later = await http.post("/api/orgs", json={"name": "Acme"}, headers=keyed("old"))
    assert later.status_code == 201, later.text
    assert "Idempotent-Replayed" not in later.headers
    assert later.json()["organization"]["id"] != first.json()["organization"]["id"]

    await age_keys(server, timedelta(hours=25))
    await server.runtime.prune_log()
    assert await key_rows(server) == 0


@pytest.mark.parametrize(
    ("key", "why"),
    [("k" * 256, "255"), ("", "255"), ("a\tb", "control"), (b"a\x85b", "control")],
)
async def test_bad_keys_are_refused(sqlite_server, key, why):
    owner = await quick_signup(sqlite_server)
    async with owner.http() as http:
        r = await http.post("/api/orgs", json={"name": "Acme"}, headers=keyed(key))
    assert why in assert_error(r, 400, "invalid")["message"]
    assert await org_count(owner) == 0


async def test_a_key_of_255_characters_is_fine(sqlite_server):
    person = await signup(sqlite_server)
    async with person.http() as http:
        r = await http.post("/api/orgs", json={"name": "Acme"}, headers=keyed("k" * 255))
    assert r.status_code == 201, r.text
