"""The messages page's hint over the socket: `chat.typing`, from a client to everyone in
`chat:{id}` (docs/chat.md).

Answered with the SPEC's ack. The sender must be in the conversation's room (else `forbidden`,
the same answer as for a conversation that does not exist); each socket may send about 10 a
second, in bursts of 20, as every page's hints (realtime/hint_events.py). Its life (expiry after
about 5 s without a refresh, withdrawal, disconnects, leaving the room) is realtime/hints.py's, on
a board of its own. `chat.presence` is sent beside `org.member.presence` (runtime.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from tandem.chat import cursors
from tandem.chat.events import ChatTyping
from tandem.chat.sockets import budget
from tandem.flags import service as flags
from tandem.realtime.hint_events import HintEvents
from tandem.realtime.hints import Hint, HintBoard
from tandem.realtime.inbound import Handler, InboundGate, extend, failure
from tandem.realtime.rooms import chat_room

KIND = "typing"


class TypingIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, alias_generator=to_camel, populate_by_name=False
    )
    conversation_id: str = Field(min_length=1, max_length=32)
    typing: bool


def board_of(gate: InboundGate | None) -> HintBoard | None:
    return gate.extensions.get("chat") if gate is not None else None


class ChatHints(HintEvents):
    """The messages page's socket hint on one gateway, and the board of its sockets' hints."""

    board_name = "chat"

    def handlers(self) -> dict[str, Handler]:
        return {"chat.typing": self.on_typing}

    async def announce(self, hint: Hint, alive: bool, expires_in_ms: int) -> None:
        data = ChatTyping(
            conversation_id=hint.subject,
            user_id=hint.user_id,
            typing=alive,
            expires_in_ms=expires_in_ms,
        )
        await self.publish(data, hint)

    async def on_typing(self, sid: str, data: Any, extra: tuple[Any, ...]) -> dict[str, Any]:
        admitted = await self.admit("chat.typing", sid, data, extra, TypingIn)
        if isinstance(admitted, dict):
            return admitted
        info, request = admitted
        refused = await budget(
            self.gateway, sid, info.user_id, "typing", "too many chat.typing events; slow down"
        )
        if refused is not None:
            return refused
        room = chat_room(request.conversation_id)
        if room not in info.rooms or not await self._allowed(
            request.conversation_id, info.user_id, info.rooms[room]
        ):
            return failure("forbidden", "you cannot send hints about this conversation")
        if request.typing:
            hint = Hint(KIND, room, request.conversation_id, info.user_id, None)
            await self.board.put(sid, hint)
        else:
            await self.board.withdraw(sid, KIND, request.conversation_id)
        return {"ok": True}

    async def _allowed(self, conversation_id: str, user_id: str, org_id: str | None) -> bool:
        """Still a member, and the org has the chat phase on."""
        async with self.gateway.runtime.db.read() as session:
            if await cursors.cursors_of(session, conversation_id, user_id) is None:
                return False
            return await flags.is_enabled(session, "chat", org_id)


@extend
def _set_up(gate: InboundGate, gateway: Any) -> None:
    if gateway is not None and hasattr(gateway, "runtime"):
        ChatHints(gate, gateway)
