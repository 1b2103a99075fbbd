"""Sign-in throttling: login, signup and refresh answer 429 with Retry-After past their per-address and
per-account allowances, the same in one process and across instances sharing Redis, and a flood is
refused before it reaches argon2, so a real login is still answered."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from tandem.auth import service as auth_service
from tandem.realtime.limits import Limiter, RedisLimiter
from tests.conftest import PG_URL
from tests.harness import (
    PASSWORD,
    REDIS_PREFIX,
    Server,
    assert_error,
    fresh_database_url,
    quick_signup,
    redis_keys,
    start_server,
)

WRONG = "not the password"


@asynccontextmanager
async def limited_server(tmp_path: Path, **limits: Any) -> AsyncIterator[Server]:
    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as url,
        start_server(url, tmp_path, **limits) as srv,
    ):
        yield srv


async def log_in(
    http: httpx.AsyncClient, email: str, password: str, **headers: str
) -> httpx.Response:
    return await http.post(
        "/api/auth/login", json={"email": email, "password": password}, headers=headers
    )


def assert_rate_limited(response: httpx.Response, most_seconds: int) -> int:
    """The SPEC's 429: the error body with code rate_limited, and Retry-After in whole seconds."""
    assert_error(response, 429, "rate_limited")
    retry_after = response.headers.get("retry-after")
    assert retry_after is not None and retry_after.isdigit(), response.headers
    assert 1 <= int(retry_after) <= most_seconds, retry_after
    return int(retry_after)


async def test_wrong_passwords_for_one_account_end_in_429_even_for_the_right_one(tmp_path):
    async with limited_server(
        tmp_path, login_limit_per_minute=5, login_ip_limit_per_minute=100
    ) as server:
        person = await quick_signup(server)
        async with server.client() as http:
            for _ in range(5):
                assert_error(await log_in(http, person.email, WRONG), 401, "unauthenticated")
            assert_rate_limited(await log_in(http, person.email, WRONG), 60)
            # the guesser cannot tell a hit from a miss any more
            assert_rate_limited(await log_in(http, person.email, PASSWORD), 60)
            assert_rate_limited(await log_in(http, person.email.upper(), PASSWORD), 60)


async def test_the_person_gets_in_once_retry_after_has_passed(tmp_path):
    async with limited_server(
        tmp_path, login_limit_per_minute=10, login_ip_limit_per_minute=100
    ) as server:
        person = await quick_signup(server)
        async with server.client() as http:
            for _ in range(10):
                assert_error(await log_in(http, person.email, WRONG), 401)
            retry_after = assert_rate_limited(await log_in(http, person.email, PASSWORD), 6)
            await asyncio.sleep(retry_after)
            assert (await log_in(http, person.email, PASSWORD)).status_code == 200


async def test_another_account_from_the_same_address_has_its_own_budget_until_the_address_limit(
    tmp_path,
):
    async with limited_server(
        tmp_path, login_limit_per_minute=3, login_ip_limit_per_minute=6
    ) as server:
        guessed, other = await quick_signup(server), await quick_signup(server)
        async with server.client() as http:
            for _ in range(3):
                assert_error(await log_in(http, guessed.email, WRONG), 401)
            assert_rate_limited(await log_in(http, guessed.email, PASSWORD), 60)

            assert (await log_in(http, other.email, PASSWORD)).status_code == 200
            assert_error(await log_in(http, other.email, WRONG), 401)
            # the address has now made 6 attempts: the next is refused whatever the account
            assert_rate_limited(await log_in(http, other.email, PASSWORD), 60)


async def test_a_signup_flood_from_one_address_is_refused(tmp_path):
    async with limited_server(tmp_path, signup_limit_per_hour=3) as server, server.client() as http:
        answers = []
        for i in range(6):
            body = {
                "email": f"flood-{i}-{uuid.uuid4().hex[:6]}@example.com",
                "password": PASSWORD,
                "name": "Flood",
            }
            answers.append(await http.post("/api/auth/signup", json=body))
        assert [r.status_code for r in answers] == [201, 201, 201, 429, 429, 429]
        assert_rate_limited(answers[3], 3600)
        refused = server.runtime.metrics.registry.get_sample_value(
            "tandem_rate_limited_total", {"what": "signup-ip"}
        )
        assert refused == 3  # what operators watch (deploy/prometheus/tandem-alerts.yml)


async def test_forged_refresh_tokens_are_refused_and_real_logins_still_refresh(tmp_path):
    async with limited_server(tmp_path, refresh_limit_per_minute=4) as server:
        person = await quick_signup(server)
        async with server.client() as http:
            forged = [
                await http.post("/api/auth/refresh", json={"refreshToken": f"forged.{i}.token"})
                for i in range(8)
            ]
            assert [r.status_code for r in forged] == [401] * 4 + [429] * 4
            assert_rate_limited(forged[-1], 60)

            # a genuine login has its own allowance, which nobody else's forgeries use up
            token = person.refresh
            for _ in range(4):
                r = await http.post("/api/auth/refresh", json={"refreshToken": token})
                assert r.status_code == 200, r.text
                token = r.json()["refreshToken"]
            assert_rate_limited(
                await http.post("/api/auth/refresh", json={"refreshToken": token}), 60
            )


async def test_login_limits_hold_across_two_instances_sharing_redis(tmp_path, redis_url):
    limits = {
        "login_limit_per_minute": 4,
        "login_ip_limit_per_minute": 100,
        "redis_url": redis_url,
        "redis_prefix": f"{REDIS_PREFIX}:{uuid.uuid4().hex[:8]}",
    }
    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as url,
        start_server(url, tmp_path, instance_id="a", **limits) as a,
        start_server(url, tmp_path, instance_id="b", **limits) as b,
    ):
        person = await quick_signup(a)
        async with a.client() as http_a, b.client() as http_b:
            for http in (http_a, http_b, http_a, http_b):
                assert_error(await log_in(http, person.email, WRONG), 401)
            # each instance alone has seen only two attempts
            assert_rate_limited(await log_in(http_a, person.email, PASSWORD), 60)
            assert_rate_limited(await log_in(http_b, person.email, PASSWORD), 60)
        keys = redis_keys(redis_url, f"{limits['redis_prefix']}:limit")
        assert keys, "no limit was kept in Redis"
        assert all(ttl != -1 and ttl <= 60 for ttl in keys.values()), keys
        assert not any(person.email in key for key in keys), keys


async def test_the_in_process_and_redis_limiters_decide_a_sequence_alike(redis_url):
    rng = random.Random(14)
    now = [1_800_000_000.0]

    def clock() -> float:
        return now[0]

    prefix = f"{REDIS_PREFIX}:{uuid.uuid4().hex[:8]}"
    local, shared = Limiter(clock=clock), RedisLimiter(redis_url, prefix, clock=clock)
    try:
        local_decisions, redis_decisions = [], []
        for _ in range(400):
            now[0] += rng.choice([0.0, 0.0, 0.001, 0.05, 0.4, 1.0, 3.7, 12.0])
            bucket, key = rng.choice(["login-ip", "chat-send"]), rng.choice(["a", "b", "c"])
            limit, window = (3, 10.0) if bucket == "login-ip" else (7, 2.5)
            local_decisions.append(await local.hit(bucket, key, limit, window))
            redis_decisions.append(await shared.hit(bucket, key, limit, window))
        assert local_decisions == redis_decisions
        refused = sum(1 for wait in local_decisions if wait)
        assert 0 < refused < len(local_decisions), refused
        keys = redis_keys(redis_url, prefix)
        assert keys and -1 not in keys.values(), keys  # -1: a key that would never expire
    finally:
        await local.close()
        await shared.close()


async def test_a_real_login_is_answered_while_a_wrong_password_flood_is_refused(
    tmp_path, monkeypatch
):
    # argon2 at its production cost: the subject here is what the hashing of a flood does to others
    monkeypatch.setattr(auth_service, "hasher", PasswordHasher())
    async with limited_server(
        tmp_path, login_limit_per_minute=100, login_ip_limit_per_minute=4
    ) as server:
        target, person = await quick_signup(server), await quick_signup(server)
        async with server.client() as attacker, server.client() as http:
            # uvicorn takes X-Forwarded-For from a loopback peer: the flood comes from another address
            flood = [
                log_in(attacker, target.email, WRONG, **{"X-Forwarded-For": "203.0.113.7"})
                for _ in range(32)
            ]
            answers = await asyncio.gather(*flood, log_in(http, person.email, PASSWORD))
        real = answers[-1]
        assert real.status_code == 200, real.text
        codes = sorted(r.status_code for r in answers[:-1])
        assert codes == [401] * 4 + [429] * 28, codes


@pytest.mark.parametrize("limit", [0])
async def test_a_limit_of_zero_turns_a_bucket_off(limit):
    limiter = Limiter()
    assert [await limiter.hit("login-ip", "x", limit, 60) for _ in range(50)] == [0.0] * 50
