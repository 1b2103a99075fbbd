"""An id in a path that could be no id at all (a NUL, a space, a slash's escape) is a 422 before
any query runs, on every route that takes one; PostgreSQL refuses a NUL in text with an error."""

from __future__ import annotations

from tests.harness import Server, quick_team

ROUTES = (
    ("GET", "/api/orgs/{}/members"),
    ("GET", "/api/orgs/{}/projects"),
    ("GET", "/api/orgs/{}/conversations"),
    ("GET", "/api/orgs/{}/realtime"),
    ("POST", "/api/orgs/{}/realtime/drift"),
    ("PUT", "/api/orgs/{}/flags/members"),
    ("GET", "/api/projects/{}"),
    ("GET", "/api/projects/{}/board"),
    ("GET", "/api/tasks/{}"),
    ("PATCH", "/api/subtasks/{}"),
    ("DELETE", "/api/comments/{}"),
    ("GET", "/api/attachments/{}"),
    ("GET", "/api/conversations/{}/messages"),
    ("DELETE", "/api/messages/{}"),
)


async def test_a_malformed_id_in_a_path_is_refused_with_422(server: Server) -> None:
    _, (owner,) = await quick_team(server, ["Owner"])
    async with owner.http() as http:
        for method, path in ROUTES:
            for bad in ("x%00", "x%20y", "%C3%A9t%C3%A9", "x.y"):
                r = await http.request(method, path.format(bad), json={})
                assert r.status_code == 422, (method, path, bad, r.status_code, r.text)
                assert r.json()["error"]["code"] == "validation", r.text
