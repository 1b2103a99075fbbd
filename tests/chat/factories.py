"""Small factories for the chat tests: start a conversation, send, read the history."""

from __future__ import annotations

import uuid
from typing import Any

from tests.harness import Person


async def start(
    person: Person, org_id: str, *others: Person, title: str | None = None
) -> dict[str, Any]:
    async with person.http() as http:
        body: dict[str, Any] = {"memberIds": [o.id for o in others]}
        if title is not None:
            body["title"] = title
        r = await http.post(f"/api/orgs/{org_id}/conversations", json=body)
        assert r.status_code in (200, 201), r.text
        return r.json()["conversation"]


async def send(
    person: Person, conversation_id: str, text: str = "Hello!", client_id: str | None = None
) -> dict[str, Any]:
    async with person.http() as http:
        r = await http.post(
            f"/api/conversations/{conversation_id}/messages",
            json={"text": text, "clientId": client_id or uuid.uuid4().hex},
        )
        assert r.status_code == 201, r.text
        return r.json()["message"]


async def history(person: Person, conversation_id: str, **params: Any) -> dict[str, Any]:
    async with person.http() as http:
        r = await http.get(f"/api/conversations/{conversation_id}/messages", params=params)
        assert r.status_code == 200, r.text
        return r.json()


async def conversations(person: Person, org_id: str) -> dict[str, Any]:
    async with person.http() as http:
        r = await http.get(f"/api/orgs/{org_id}/conversations")
        assert r.status_code == 200, r.text
        return r.json()


async def listed(person: Person, org_id: str) -> dict[str, dict[str, Any]]:
    """The person's conversation list, by id."""
    return {c["id"]: c for c in (await conversations(person, org_id))["conversations"]}


async def read(person: Person, conversation_id: str, message_id: str) -> None:
    async with person.http() as http:
        r = await http.post(
            f"/api/conversations/{conversation_id}/read", json={"messageId": message_id}
        )
        assert r.status_code == 204, r.text
