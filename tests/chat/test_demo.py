"""`tandem demo` gives Ada a direct conversation with Grace and a group of four, ten messages each,
made through the chat service: some of it read, the latest unread, sent over the past hours."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from sqlalchemy import select

from tandem.auth.models import User
from tandem.auth.service import start_login
from tandem.demo import load_demo
from tests.chat.factories import history, listed
from tests.harness import Person


async def test_demo_conversations(sqlite_server):
    server = sqlite_server
    async with server.runtime.db.unit_of_work() as session:
        assert await load_demo(session)
        ada = await session.scalar(select(User).where(User.email == "ada@example.com"))
        assert ada is not None
        access, refresh = await start_login(session, server.runtime.tokens, ada)
    person = Person(server, ada.id, ada.email, ada.name, access, refresh)
    conversations = await listed(person, "org_acme")
    assert sorted((c["kind"], len(c["members"])) for c in conversations.values()) == [
        ("direct", 2),
        ("group", 4),
    ]
    for conversation in conversations.values():
        assert conversation["lastN"] == 10
        assert 0 < conversation["unreadCount"] < 10
        assert 0 < conversation["readN"] < 10
        shown = await history(person, conversation["id"])
        assert [m["n"] for m in shown["messages"]] == list(range(1, 11))
        # Minutes apart, the last one the conversation's latest activity: not all in one second.
        sent = [datetime.fromisoformat(m["sentAt"]) for m in shown["messages"]]
        gaps = {later - earlier for earlier, later in pairwise(sent)}
        assert len(gaps) == 1 and gaps.pop() >= timedelta(minutes=5)
        assert sent[-1] == datetime.fromisoformat(conversation["lastActivityAt"])
