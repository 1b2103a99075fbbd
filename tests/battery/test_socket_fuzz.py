"""Socket payload fuzzing: arbitrary JSON for every client → server event, over a real socket.

Hypothesis writes the packets (`subscribe`, `unsubscribe`, the board's `kanban.lock` and
`kanban.typing` and the task page's `task.typing` — about a real task, others' and none —, the
messages page's `chat.message.send`, `chat.message.delivered`, `chat.message.read` and
`chat.typing` — about a real conversation and message, others' and none —, unknown and reserved event names, names
that are not strings; payloads deep, wide, of the wrong type, huge numbers, NaN, lone surrogates,
extra arguments, none at all) and one connected client sends each with an ack id. Every one must be
acknowledged within the timeout, every refusal must be exactly the SPEC's
`{ok: false, error: {code, message}}` with one of the gateway's codes, the server must log no
error meanwhile, and the same socket must still subscribe afterwards. Hypothesis runs
derandomized (its seed comes from the test), so a failure replays exactly; the examples count
scales with `TANDEM_BATTERY_SCALE`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import string
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import socketio
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from socketio import packet

from tandem.realtime import rooms
from tests.battery import SCALE
from tests.conftest import PG_URL
from tests.harness import Person, Server, fresh_database_url, quick_team, start_server

EXAMPLES = max(50, int(1_000 * SCALE))
# Every event must be answered: a lost ack fails the run however long this is; the margin is for
# a CI machine running three test processes beside PostgreSQL and Redis.
ACK_TIMEOUT = 15.0
MAX_PACKET = 60_000  # the server's limit is 64 KiB
REFUSAL_CODES = {"invalid", "forbidden", "rate_limited", "conflict", "not_found", "internal"}
# Nesting past orjson's limit (1024) must be refused with an ack like any other undecodable payload.
DEEP_LEVELS = (1, 100, 1023, 1024, 1025, 5000)


@dataclass(frozen=True)
class Raw:
    """JSON text put into the packet as it is: nesting no encoder would write, names that are not strings."""

    text: str


def encode(value: Any) -> str:
    """JSON as a sloppy or hostile client writes it: NaN and Infinity bare, lone surrogates escaped."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return json.dumps(value)


class FuzzJson:
    @staticmethod
    def dumps(obj: Any, *args: Any, **kwargs: Any) -> str:
        return encode(obj)

    @staticmethod
    def loads(s: str | bytes, *args: Any, **kwargs: Any) -> Any:
        return json.loads(s)


class FuzzPacket(packet.Packet):
    """The client's packet class with its own JSON (setting `json=` on a client would change
    python-socketio's shared Packet class, which the in-process server's engine.io uses too)."""

    json = FuzzJson


# -- strategies ----------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3),
    st.sampled_from(["", "\x00", "\u202e", "🙂" * 40, "a" * 5_000]),
)
any_json = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.dictionaries(st.text(max_size=12), inner, max_size=6),
    ),
    max_leaves=30,
)
deep = st.builds(
    lambda levels, bracket, inner: Raw(
        ("[" * levels if bracket else '{"a":' * levels) + inner + ("]" if bracket else "}") * levels
    ),
    st.sampled_from(DEEP_LEVELS),
    st.booleans(),
    st.sampled_from(["1", '"room"', "null", "{}"]),
)
wide = st.sampled_from(
    [
        {f"k{i}": i for i in range(2_000)},
        list(range(10_000)),
        {"room": "org:" + "x" * 50_000},
    ]
)
kinds = st.sampled_from([*rooms.ROOM_KINDS, "orgs", "ORG", "", "user:u_1", "__proto__"])


def room_payloads(
    real_rooms: list[str],
) -> tuple[st.SearchStrategy[dict[str, Any]], st.SearchStrategy[dict[str, Any]]]:
    """Objects shaped like a subscribe: valid ones (the caller's rooms, rooms it may not enter, any
    `after`), and near misses: wrong types, garbage rooms, extra keys."""
    room_names = st.one_of(
        st.sampled_from(real_rooms),
        st.builds(lambda kind, ident: f"{kind}:{ident}", kinds, st.text(max_size=30)),
        st.builds(
            lambda kind, ident: f"{kind}:{ident}",
            kinds,
            st.text(alphabet=string.ascii_letters + string.digits + "_", max_size=90),
        ),
        scalars,
        any_json,
    )
    plausible = st.fixed_dictionaries(
        {
            "room": st.one_of(
                st.sampled_from(real_rooms),
                st.builds(
                    lambda kind, ident: f"{kind}:{kind}_{ident}",
                    st.sampled_from(rooms.ROOM_KINDS),
                    st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=20),
                ),
            )
        },
        optional={"after": st.integers(min_value=0, max_value=2**53)},
    )
    return plausible, st.one_of(
        st.fixed_dictionaries({"room": room_names}),
        st.fixed_dictionaries({"room": room_names, "after": after_values}),
        st.fixed_dictionaries({"room": room_names}, optional={"after": after_values}).flatmap(
            lambda base: st.dictionaries(st.text(max_size=10), any_json, max_size=3).map(
                lambda more: {**more, **base}
            )
        ),
    )


after_values = st.one_of(
    st.none(),
    st.integers(min_value=-5, max_value=5),
    st.integers(min_value=2**53 - 2, max_value=2**64 + 2),
    scalars,
)
known_events = st.sampled_from(
    ["subscribe", "unsubscribe", "kanban.lock", "kanban.typing", "task.typing"]
)
HINTS = ("kanban.lock", "kanban.typing", "task.typing")
CHAT = ("chat.message.send", "chat.message.delivered", "chat.message.read", "chat.typing")


def chat_payloads(conversation_id: str, message_id: str) -> st.SearchStrategy[dict[str, Any]]:
    """Objects shaped like the messages page's events: its real conversation and message, ids of
    nothing, garbage; any text, client id and flag; sometimes an extra key."""
    ids = st.one_of(
        st.sampled_from([conversation_id, message_id]),
        st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=33),
        scalars,
    )
    conversations = st.one_of(st.just(conversation_id), ids)
    messages = st.one_of(st.just(message_id), ids)
    texts = st.one_of(st.text(max_size=60), st.sampled_from(["Hi", " ", "a" * 4001]), scalars)
    shaped = st.one_of(
        st.fixed_dictionaries(
            {
                "conversationId": conversations,
                "clientId": st.one_of(st.text(min_size=1, max_size=70), scalars),
                "text": texts,
            }
        ),
        st.fixed_dictionaries(
            {
                "conversationId": conversations,
                "messageIds": st.one_of(st.lists(messages, max_size=4), scalars),
            }
        ),
        st.fixed_dictionaries({"conversationId": conversations, "messageId": messages}),
        st.fixed_dictionaries(
            {"conversationId": conversations, "typing": st.one_of(st.booleans(), scalars)}
        ),
    )
    return st.one_of(
        shaped,
        shaped.flatmap(
            lambda base: st.dictionaries(st.text(max_size=10), any_json, max_size=2).map(
                lambda more: {**more, **base}
            )
        ),
    )


def hint_payloads(real: list[tuple[str, str]]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects shaped like a hint: the caller's real project and task, ids of nothing, garbage;
    any value for the flag, a field or not, sometimes an extra key."""
    ids = st.one_of(
        st.sampled_from([i for pair in real for i in pair]),
        st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=33),
        scalars,
    )
    flag = st.one_of(st.booleans(), scalars)
    shaped = st.one_of(
        st.sampled_from(real).flatmap(
            lambda pair: st.fixed_dictionaries(
                {"projectId": st.just(pair[0]), "taskId": st.just(pair[1])},
                optional={
                    "locked": flag,
                    "typing": flag,
                    "field": st.one_of(
                        st.sampled_from(["title", "description", "rank", "assigneeId"]), scalars
                    ),
                },
            )
        ),
        st.fixed_dictionaries({"projectId": ids, "taskId": ids, "locked": flag}),
        st.fixed_dictionaries({"projectId": ids, "taskId": ids, "typing": flag}),
        # The task page's: no projectId, a field of its own.
        st.sampled_from(real).flatmap(
            lambda pair: st.fixed_dictionaries(
                {"taskId": st.just(pair[1])},
                optional={
                    "typing": flag,
                    "field": st.one_of(
                        st.sampled_from(["comment", "description", "title"]), scalars
                    ),
                },
            )
        ),
        st.fixed_dictionaries({"taskId": ids, "typing": flag, "field": st.just("comment")}),
    )
    return st.one_of(
        shaped,
        shaped.flatmap(
            lambda base: st.dictionaries(st.text(max_size=10), any_json, max_size=2).map(
                lambda more: {**more, **base}
            )
        ),
    )


other_events = st.one_of(
    st.sampled_from(
        [
            "connect",
            "disconnect",
            "message",
            "connect_error",
            "chat.message.send",
            "kanban.lock",
            "chat.typing",
            "SUBSCRIBE",
            "subscribe ",
            "",
            "x" * 10_000,
        ]
    ),
    st.text(max_size=30),
    st.sampled_from([Raw("1"), Raw("null"), Raw("{}"), Raw("[]"), Raw("true")]),
)


@dataclass(frozen=True)
class Attempt:
    event: Any
    args: tuple[Any, ...]  # what follows the name: none, one payload, or several

    def describe(self) -> str:
        text = repr((self.event, *self.args))
        return text if len(text) < 300 else text[:300] + f"… ({len(text)} chars)"


def attempts(
    real_rooms: list[str], real_tasks: list[tuple[str, str]], real_chat: tuple[str, str]
) -> st.SearchStrategy[Attempt]:
    plausible, rooms_like = room_payloads(real_rooms)
    hints = hint_payloads(real_tasks)
    chats = chat_payloads(*real_chat)
    payloads = st.one_of(plausible, rooms_like, any_json, deep, wide)
    arguments = st.one_of(
        st.just(()),
        st.tuples(payloads),
        st.lists(payloads, min_size=2, max_size=4).map(tuple),
    )
    return st.one_of(
        # Most go to the handlers, with one payload: what reaches validation and the database.
        st.builds(Attempt, known_events, st.tuples(plausible)),
        st.builds(Attempt, known_events, st.tuples(rooms_like)),
        st.builds(Attempt, known_events, st.tuples(payloads)),
        st.builds(Attempt, known_events, arguments),
        st.builds(Attempt, other_events, arguments),
        st.builds(Attempt, st.sampled_from(HINTS), st.tuples(hints)),
        st.builds(Attempt, st.sampled_from(HINTS), st.tuples(st.one_of(hints, payloads))),
        st.builds(Attempt, st.sampled_from(CHAT), st.tuples(chats)),
        st.builds(Attempt, st.sampled_from(CHAT), st.tuples(st.one_of(chats, payloads))),
    )


# -- the run ---------------------------------------------------------------------


class ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def server_errors() -> Iterator[ErrorRecords]:
    """Every ERROR record of Tandem, uvicorn and the libraries (through the root) meanwhile."""
    recorder = ErrorRecords()
    loggers = [logging.getLogger(name) for name in ("", "tandem", "uvicorn")]
    for logger in loggers:
        logger.addHandler(recorder)
    try:
        yield recorder
    finally:
        for logger in loggers:
            logger.removeHandler(recorder)


@dataclass
class Figures:
    sent: Counter
    answers: Counter
    failures: list[str]


async def send(client: socketio.AsyncClient, attempt: Attempt) -> Any:
    """The ack's arguments; python-socketio's `call` expands a tuple into arguments."""
    data: Any
    if not attempt.args:
        data = None
    elif len(attempt.args) == 1 and not isinstance(attempt.args[0], tuple):
        data = attempt.args[0]
    else:
        data = tuple(attempt.args)
    return await client.call(attempt.event, data, timeout=ACK_TIMEOUT)


def judge(answer: Any) -> str | None:
    """None for an acceptable ack, else what is wrong with it."""
    if not isinstance(answer, dict):
        return f"the ack is not an object: {answer!r}"
    if answer.get("ok") is True:
        if set(answer) not in (
            {"ok"},
            {"ok", "room", "seq", "replayed"},
            {"ok", "messageId", "sentAt"},
        ):
            return f"not the SPEC's success shape: {answer!r}"
        return None
    if set(answer) != {"ok", "error"} or answer["ok"] is not False:
        return f"not the SPEC's refusal shape: {answer!r}"
    error = answer["error"]
    if not isinstance(error, dict) or not {"code", "message"} <= set(error):
        return f"the error lacks code or message: {answer!r}"
    if error["code"] not in REFUSAL_CODES:
        return f"an unknown code: {answer!r}"
    if not isinstance(error["message"], str) or not error["message"]:
        return f"an empty message: {answer!r}"
    if error["code"] == "rate_limited" and (
        set(error) != {"code", "message", "retryAfterMs"}
        or not isinstance(error["retryAfterMs"], int)
        or error["retryAfterMs"] <= 0
    ):
        return f"a rate_limited refusal without its retryAfterMs: {answer!r}"
    if error["code"] == "internal":
        return f"the server failed on it: {answer!r}"
    return None


def fuzz(
    loop: asyncio.AbstractEventLoop,
    client: socketio.AsyncClient,
    real_rooms: list[str],
    real_tasks: list[tuple[str, str]],
    real_chat: tuple[str, str],
    figures: Figures,
) -> None:
    """Runs in a worker thread (Hypothesis is synchronous); each example goes to the loop that runs
    the server and the client, and waits there for its ack."""

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(attempts(real_rooms, real_tasks, real_chat))
    def one(attempt: Attempt) -> None:
        # A frame past the socket payload limit closes the socket by design (the hostile-traffic
        # battery covers it); here every packet must fit, so that each gets an answer.
        assume(len(encode([attempt.event, *attempt.args])) < MAX_PACKET)
        name = attempt.event if isinstance(attempt.event, str) else "(not a string)"
        figures.sent[name if name in ("subscribe", "unsubscribe", *HINTS, *CHAT) else "other"] += 1
        try:
            answer = asyncio.run_coroutine_threadsafe(send(client, attempt), loop).result(
                ACK_TIMEOUT + 5
            )
        except TimeoutError:
            figures.failures.append(f"no ack: {attempt.describe()}")
            raise AssertionError(f"no ack within {ACK_TIMEOUT} s: {attempt.describe()}") from None
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            figures.answers[str(answer["error"].get("code"))] += 1
        else:
            figures.answers["ok" if isinstance(answer, dict) and answer.get("ok") else "?"] += 1
        wrong = judge(answer)
        if wrong is not None:
            figures.failures.append(f"{wrong} for {attempt.describe()}")
            raise AssertionError(f"{wrong} for {attempt.describe()}")

    one()


async def test_every_fuzzed_socket_event_is_acknowledged_with_the_spec_shape(
    tmp_path: Path, database_url: str
) -> None:
    async with start_server(
        database_url,
        tmp_path,
        socket_subscribe_limit_per_minute=1_000_000,
        chat_send_burst=1_000_000,
        chat_send_ip_burst=1_000_000,
    ) as server:
        org_id, (owner,) = await quick_team(server, ["Owner"])
        await run_fuzz(server, owner, org_id)


async def test_fuzzed_events_past_tight_limits_are_refused_with_the_spec_shape(
    tmp_path: Path,
) -> None:
    """The same fuzz against limits a few events wide, per socket and per address, for every
    event (subscribe's aside: the socket must still subscribe at the end): most events are refused
    `rate_limited` before their handler runs, each with the SPEC's shape and its retryAfterMs."""
    tight = {
        f"{limit}_{part}": value
        for limit in (
            "socket_unsubscribe",
            "socket_hint",
            "socket_chat_send",
            "socket_receipt",
            "socket_event",
        )
        for part, value in (("burst", 3), ("window_seconds", 60.0))
    } | {
        f"{limit}_{part}": value
        for limit in ("socket_hint_ip", "socket_receipt_ip", "chat_typing_ip", "chat_send_ip")
        for part, value in (("burst", 5), ("window_seconds", 60.0))
    }
    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as url,
        start_server(url, tmp_path, socket_subscribe_limit_per_minute=1_000_000, **tight) as server,
    ):
        org_id, (owner,) = await quick_team(server, ["Owner"])
        figures = await run_fuzz(server, owner, org_id)
        # Most events reach their limits within the first few examples of each.
        assert figures.answers["rate_limited"] > sum(figures.sent.values()) / 4, figures.answers


async def run_fuzz(server: Server, owner: Person, org_id: str) -> Figures:
    client = socketio.AsyncClient(reconnection=False, serializer=FuzzPacket)
    await client.connect(
        server.url,
        auth={"token": await owner.socket_token()},
        transports=["websocket"],
        wait_timeout=10,
    )
    figures = Figures(Counter(), Counter(), [])
    async with owner.http() as http:  # a board of its own, whose room it is in: hints may pass
        r = await http.post(f"/api/orgs/{org_id}/projects", json={"name": "Fuzzed"})
        project_id = r.json()["project"]["id"]
        r = await http.post(f"/api/projects/{project_id}/tasks", json={"title": "Fuzzed"})
        task_id = r.json()["task"]["id"]
        r = await http.post(  # and a conversation of its own, with a message
            f"/api/orgs/{org_id}/conversations", json={"memberIds": [], "title": "Fuzzed"}
        )
        conversation_id = r.json()["conversation"]["id"]
        r = await http.post(
            f"/api/conversations/{conversation_id}/messages", json={"text": "Fuzzed"}
        )
        message_id = r.json()["message"]["messageId"]
    real_rooms = [
        rooms.org_room(org_id),
        rooms.user_room(owner.id),
        rooms.project_room(project_id),
        rooms.chat_room(conversation_id),
    ]
    real_tasks = [(project_id, task_id)]
    real_chat = (conversation_id, message_id)
    assert (await client.call("subscribe", {"room": rooms.project_room(project_id)}))["ok"]
    assert (await client.call("subscribe", {"room": rooms.task_room(task_id)}))["ok"]
    assert (await client.call("subscribe", {"room": rooms.chat_room(conversation_id)}))["ok"]
    started = time.monotonic()
    try:
        with server_errors() as errors:
            loop = asyncio.get_running_loop()
            try:
                await asyncio.to_thread(
                    fuzz, loop, client, real_rooms, real_tasks, real_chat, figures
                )
            finally:
                print(
                    f"\nsocket fuzz: {sum(figures.sent.values())} packets {dict(figures.sent)} "
                    f"in {time.monotonic() - started:.1f} s; answers {dict(figures.answers)}; "
                    f"{len(figures.failures)} failures; {len(errors.records)} server errors"
                )
            assert client.connected, "the server closed the fuzzed socket"
            again = await client.call("subscribe", {"room": rooms.org_room(org_id)}, timeout=5)
            assert again.get("ok") is True, again
            await client.call("unsubscribe", {"room": rooms.org_room(org_id)}, timeout=5)
            assert all(figures.sent[event] for event in (*HINTS, *CHAT)), figures.sent
        logged = [f"{r.name}: {r.getMessage()}" for r in errors.records]
        assert logged == []
    finally:
        await client.disconnect()
    return figures


def test_the_encoder_writes_what_no_json_library_would() -> None:
    """The fuzzer's own JSON: non-finite numbers bare, raw text kept, so the server meets them."""
    assert encode([math.nan, Raw("[[1]]"), {"a": math.inf}]) == '[NaN,[[1]],{"a":Infinity}]'
