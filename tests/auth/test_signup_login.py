"""POST /api/auth/signup and /api/auth/login (SPEC §3): shapes, unique case-insensitive emails, bad input."""

import asyncio
import uuid

from tests.harness import PASSWORD, assert_error


def fresh_email(prefix: str = "someone") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"


async def test_signup_creates_an_account_and_signs_in(server):
    email = fresh_email("Ada.Lovelace")
    async with server.client() as http:
        r = await http.post(
            "/api/auth/signup", json={"email": email, "password": PASSWORD, "name": "  Ada  "}
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert set(body) == {"user", "accessToken", "refreshToken"}
        user = body["user"]
        assert set(user) == {"id", "email", "name", "avatarUrl"}
        assert user["id"].startswith("u_")
        assert user["email"] == email.lower()
        assert user["name"] == "Ada"
        assert user["avatarUrl"] is None

        me = await http.get("/api/me", headers={"Authorization": f"Bearer {body['accessToken']}"})
        assert me.status_code == 200, me.text
        assert me.json() == {"user": user, "memberships": []}


async def test_emails_are_unique_whatever_their_case(server):
    email = fresh_email("grace")
    async with server.client() as http:
        first = await http.post(
            "/api/auth/signup", json={"email": email, "password": PASSWORD, "name": "Grace"}
        )
        assert first.status_code == 201, first.text
        for variant in (email, email.upper(), email.capitalize(), f"  {email}  "):
            again = await http.post(
                "/api/auth/signup", json={"email": variant, "password": PASSWORD, "name": "Other"}
            )
            if variant.strip() != variant and again.status_code == 422:
                continue  # refusing surrounding spaces outright is fine too
            assert_error(again, 409, "conflict")

        # Logging in works with any case of the address, and reaches the one account.
        for variant in (email.upper(), email.swapcase()):
            r = await http.post("/api/auth/login", json={"email": variant, "password": PASSWORD})
            assert r.status_code == 200, r.text
            assert r.json()["user"]["id"] == first.json()["user"]["id"]


async def test_signing_up_twice_at_once_creates_one_account(server):
    email = fresh_email("race")
    async with server.client() as http:
        answers = await asyncio.gather(
            *(
                http.post(
                    "/api/auth/signup", json={"email": email, "password": PASSWORD, "name": "R"}
                )
                for _ in range(4)
            )
        )
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409], [a.text for a in answers]
    for answer in answers:
        if answer.status_code != 201:
            assert_error(answer, 409, "conflict")


BAD_SIGNUPS = [
    ("missing email", {"password": PASSWORD, "name": "N"}),
    ("missing password", {"email": "x@example.com", "name": "N"}),
    ("missing name", {"email": "x@example.com", "password": PASSWORD}),
    ("empty body", {}),
    ("password too short", {"email": "x@example.com", "password": "1234567", "name": "N"}),
    ("password too long", {"email": "x@example.com", "password": "p" * 129, "name": "N"}),
    ("not an email", {"email": "not-an-email", "password": PASSWORD, "name": "N"}),
    ("email without domain", {"email": "someone@", "password": PASSWORD, "name": "N"}),
    ("email too long", {"email": "a" * 250 + "@example.com", "password": PASSWORD, "name": "N"}),
    ("email is a number", {"email": 12345, "password": PASSWORD, "name": "N"}),
    ("password is a number", {"email": "x@example.com", "password": 1234567890, "name": "N"}),
    ("name is a list", {"email": "x@example.com", "password": PASSWORD, "name": ["N"]}),
    ("name is null", {"email": "x@example.com", "password": PASSWORD, "name": None}),
    ("name is blank", {"email": "x@example.com", "password": PASSWORD, "name": "   "}),
    ("name too long", {"email": "x@example.com", "password": PASSWORD, "name": "n" * 101}),
    (
        "unknown field",
        {"email": "x@example.com", "password": PASSWORD, "name": "N", "role": "Owner"},
    ),
]


async def test_signup_refuses_bad_input_with_a_validation_error(sqlite_server):
    async with sqlite_server.client() as http:
        for label, body in BAD_SIGNUPS:
            r = await http.post("/api/auth/signup", json=body)
            error = assert_error(r, 422, "validation")
            assert error["message"], label
        for raw in (b"[1, 2]", b'"a string"', b"null"):  # JSON, but not an object
            r = await http.post(
                "/api/auth/signup", content=raw, headers={"Content-Type": "application/json"}
            )
            assert_error(r, 422, "validation")
        r = await http.post(
            "/api/auth/signup", content=b'{"email": ', headers={"Content-Type": "application/json"}
        )
        assert_error(r, 400, "invalid")  # not JSON at all

        # None of the refused attempts created an account: the address is still free.
        ok = await http.post(
            "/api/auth/signup", json={"email": "x@example.com", "password": PASSWORD, "name": "N"}
        )
        assert ok.status_code == 201, ok.text
        # The boundaries themselves are accepted.
        edge = await http.post(
            "/api/auth/signup",
            json={"email": fresh_email(), "password": "p" * 8, "name": "n" * 100},
        )
        assert edge.status_code == 201, edge.text
        edge = await http.post(
            "/api/auth/signup", json={"email": fresh_email(), "password": "p" * 128, "name": "n"}
        )
        assert edge.status_code == 201, edge.text


async def test_login_right_and_wrong(sqlite_server):
    email = fresh_email("alan")
    async with sqlite_server.client() as http:
        r = await http.post(
            "/api/auth/signup", json={"email": email, "password": PASSWORD, "name": "Alan"}
        )
        assert r.status_code == 201
        user_id = r.json()["user"]["id"]

        r = await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"user", "accessToken", "refreshToken"}
        assert body["user"] == {"id": user_id, "email": email, "name": "Alan", "avatarUrl": None}
        me = await http.get("/api/me", headers={"Authorization": f"Bearer {body['accessToken']}"})
        assert me.status_code == 200

        wrong = assert_error(
            await http.post("/api/auth/login", json={"email": email, "password": PASSWORD + "!"}),
            401,
            "unauthenticated",
        )
        unknown = assert_error(
            await http.post(
                "/api/auth/login", json={"email": fresh_email("nobody"), "password": PASSWORD}
            ),
            401,
            "unauthenticated",
        )
        # An attacker cannot tell an unknown address from a wrong password.
        assert wrong == unknown


BAD_LOGINS = [
    {},
    {"email": "a@example.com"},
    {"password": PASSWORD},
    {"email": "", "password": PASSWORD},
    {"email": "a@example.com", "password": ""},
    {"email": 1, "password": PASSWORD},
    {"email": "a@example.com", "password": "p" * 129},
    {"email": "a" * 255, "password": PASSWORD},
]


async def test_login_bad_input(sqlite_server):
    async with sqlite_server.client() as http:
        for body in BAD_LOGINS:
            assert_error(await http.post("/api/auth/login", json=body), 422, "validation")
