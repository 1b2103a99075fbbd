"""Names, avatar URLs and email addresses as people type them, and as attackers do."""

import pytest

from tests.harness import PASSWORD, assert_error, quick_signup

# One per class refused: C0 and C1 controls (NUL, bell, tab, newline, DEL, NEL), bidi embeddings
# and overrides, bidi isolates, zero-width characters, the byte-order mark.
BAD = [
    "\x00",
    "\x07",
    "\t",
    "\n",
    "\x7f",
    "\x85",
    "\u202a",
    "\u202e",
    "\u2066",
    "\u2069",
    "\u200b",
    "\u200d",
    "\ufeff",
]


def name_with(ch: str) -> str:
    return f"Ada{ch}Lovelace"


@pytest.mark.parametrize("ch", BAD, ids=[f"U+{ord(c):04X}" for c in BAD])
async def test_names_with_hidden_or_control_characters_are_refused(sqlite_server, ch):
    person = await quick_signup(sqlite_server, name="Plain Name")
    async with sqlite_server.client() as http:
        r = await http.post(
            "/api/auth/signup",
            json={"email": "ada@example.com", "password": PASSWORD, "name": name_with(ch)},
        )
    assert f"U+{ord(ch):04X}" in assert_error(r, 422, "validation")["message"]
    async with person.http() as http:
        assert_error(await http.patch("/api/me", json={"name": name_with(ch)}), 422, "validation")
        assert_error(await http.post("/api/orgs", json={"name": name_with(ch)}), 422, "validation")
        me = (await http.get("/api/me")).json()
    assert me["user"]["name"] == "Plain Name"
    assert me["memberships"] == []


async def test_names_are_normalised(sqlite_server):
    # Decomposed é (e + combining acute), padding and a run of inner spaces.
    typed, shown = "  Ame\u0301lie \u00a0  Poulain ", "Am\u00e9lie Poulain"
    async with sqlite_server.client() as http:
        r = await http.post(
            "/api/auth/signup",
            json={"email": "amelie@example.com", "password": PASSWORD, "name": typed},
        )
    assert r.status_code == 201, r.text
    assert r.json()["user"]["name"] == shown
    person = await quick_signup(sqlite_server)
    async with person.http() as http:
        r = await http.patch("/api/me", json={"name": typed})
        assert r.json()["user"]["name"] == shown
        r = await http.post("/api/orgs", json={"name": "  Caf\u0065\u0301   de  Flore "})
        assert r.json()["organization"]["name"] == "Caf\u00e9 de Flore"
        assert (await http.get("/api/me")).json()["memberships"][0][
            "orgName"
        ] == "Caf\u00e9 de Flore"


@pytest.mark.parametrize("blank", ["", "   ", "\u3000", "\u00a0 \u2003"])
async def test_names_empty_once_normalised_are_refused(sqlite_server, blank):
    person = await quick_signup(sqlite_server)
    async with person.http() as http:
        assert_error(await http.patch("/api/me", json={"name": blank}), 422, "validation")
        assert_error(await http.post("/api/orgs", json={"name": blank}), 422, "validation")


@pytest.mark.parametrize(
    "url",
    [
        "//evil.example/x.png",
        "/\\evil.example/x.png",
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "evil.example/x.png",
        "ftp://evil.example/x.png",
    ],
)
async def test_avatar_urls_off_the_site_or_not_http_are_refused(sqlite_server, url):
    person = await quick_signup(sqlite_server)
    async with person.http() as http:
        assert_error(await http.patch("/api/me", json={"avatarUrl": url}), 422, "validation")
        assert (await http.get("/api/me")).json()["user"]["avatarUrl"] is None


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("/avatars/me.png", "/avatars/me.png"),
        ("https://cdn.example.com/a.png", "https://cdn.example.com/a.png"),
        ("http://cdn.example.com/a.png", "http://cdn.example.com/a.png"),
        ("", None),
    ],
)
async def test_avatar_urls_on_the_site_or_over_http_are_kept(sqlite_server, url, stored):
    person = await quick_signup(sqlite_server)
    async with person.http() as http:
        r = await http.patch("/api/me", json={"avatarUrl": url})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["avatarUrl"] == stored


async def test_addresses_on_special_use_domains_sign_up_and_are_invited(sqlite_server):
    async with sqlite_server.client() as http:
        r = await http.post(
            "/api/auth/signup",
            json={"email": "Someone@Team.TEST", "password": PASSWORD, "name": "Someone"},
        )
    assert r.status_code == 201, r.text
    assert r.json()["user"]["email"] == "someone@team.test"
    owner = await quick_signup(sqlite_server)
    async with owner.http() as http:
        org_id = (await http.post("/api/orgs", json={"name": "Acme"})).json()["organization"]["id"]
        for email in ("guest@example.test", "friend@example.com", "x@sub.example.org"):
            r = await http.post(f"/api/orgs/{org_id}/invites", json={"email": email})
            assert r.status_code == 201, r.text
            assert r.json()["invite"]["email"] == email
        for email in ("not-an-address", "a@b", "a@@example.test", "a" * 250 + "@example.test"):
            r = await http.post(f"/api/orgs/{org_id}/invites", json={"email": email})
            assert_error(r, 422, "validation")
