"""Small factories for projects and tasks, through the REST API as a client would make them."""

from __future__ import annotations

from typing import Any

from tests.harness import Person


async def make_project(person: Person, org_id: str, **overrides: Any) -> dict[str, Any]:
    body = {"name": "Launch", **overrides}
    async with person.http() as http:
        r = await http.post(f"/api/orgs/{org_id}/projects", json=body)
        assert r.status_code == 201, r.text
        return r.json()["project"]


async def make_task(person: Person, project_id: str, **overrides: Any) -> dict[str, Any]:
    body = {"title": "A task", **overrides}
    async with person.http() as http:
        r = await http.post(f"/api/projects/{project_id}/tasks", json=body)
        assert r.status_code == 201, r.text
        return r.json()["task"]


async def add_member(actor: Person, project_id: str, user_id: str, role: str) -> dict[str, Any]:
    async with actor.http() as http:
        r = await http.post(
            f"/api/projects/{project_id}/members", json={"userId": user_id, "role": role}
        )
        assert r.status_code == 201, r.text
        return r.json()["member"]


async def board(person: Person, project_id: str) -> dict[str, Any]:
    async with person.http() as http:
        r = await http.get(f"/api/projects/{project_id}/board")
        assert r.status_code == 200, r.text
        return r.json()


def column_titles(snapshot: dict[str, Any]) -> dict[str, list[str]]:
    return {c["name"]: [t["title"] for t in c["tasks"]] for c in snapshot["columns"]}


async def move(person: Person, task_id: str, **body: Any) -> dict[str, Any]:
    async with person.http() as http:
        r = await http.post(f"/api/tasks/{task_id}/move", json=body)
        assert r.status_code == 200, r.text
        return r.json()["task"]
