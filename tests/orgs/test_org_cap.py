"""What one account may create: a cap on organizations owned, and a creation rate."""

import asyncio

from tests.harness import assert_error, join, quick_signup, start_server


async def create(person, name="Acme", headers=None):
    async with person.http() as http:
        return await http.post("/api/orgs", json={"name": name}, headers=headers or {})


async def owned(person) -> int:
    async with person.http() as http:
        memberships = (await http.get("/api/me")).json()["memberships"]
    return sum(m["role"] == "Owner" for m in memberships)


async def test_an_account_owns_at_most_the_cap(database_url, tmp_path):
    async with start_server(database_url, tmp_path, max_orgs_per_user=3) as server:
        alice, bob = await quick_signup(server), await quick_signup(server)
        for i in range(3):
            assert (await create(alice, f"Org {i}")).status_code == 201
        error = assert_error(await create(alice, "One too many"), 409, "conflict")
        assert "3 organizations" in error["message"]
        assert await owned(alice) == 3

        # Organizations one only belongs to do not count: the cap is on what one creates.
        bobs = (await create(bob, "Bob's")).json()["organization"]["id"]
        await join(bobs, bob, alice, "Admin")
        assert_error(await create(alice, "Still too many"), 409, "conflict")
        assert (await create(bob, "Bob's second")).status_code == 201


async def test_concurrent_creates_at_the_cap_stop_at_it(database_url, tmp_path):
    async with start_server(database_url, tmp_path, max_orgs_per_user=3) as server:
        alice = await quick_signup(server)
        for i in range(2):
            assert (await create(alice, f"Org {i}")).status_code == 201
        answers = await asyncio.gather(*(create(alice, f"Race {i}") for i in range(6)))
        assert sorted(r.status_code for r in answers) == [201] + [409] * 5
        assert await owned(alice) == 3


async def test_creating_fast_is_throttled_per_account(database_url, tmp_path):
    async with start_server(database_url, tmp_path, org_create_limit_per_hour=2) as server:
        alice, bob = await quick_signup(server), await quick_signup(server)
        first = await create(alice, "One", headers={"Idempotency-Key": "one"})
        assert first.status_code == 201
        assert (await create(alice, "Two")).status_code == 201
        refused = await create(alice, "Three")
        assert_error(refused, 429, "rate_limited")
        # Refilled evenly over the hour: one more create in half an hour.
        assert 1 <= int(refused.headers["Retry-After"]) <= 1800
        assert await owned(alice) == 2

        # A retry of a create that went through is answered, not counted.
        replay = await create(alice, "One", headers={"Idempotency-Key": "one"})
        assert replay.status_code == 201, replay.text
        assert replay.json() == first.json()
        # Another account has its own allowance.
        assert (await create(bob, "Bob's")).status_code == 201
