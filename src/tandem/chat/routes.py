from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response

from tandem.auth.routes import client_address
from tandem.chat import hints, messages, receipts, service, sockets  # noqa: F401  (hints, sockets: socket events)
from tandem.chat.policy import ConversationId, MessageId, UserId
from tandem.chat.schemas import (
    DEFAULT_PAGE,
    MAX_PAGE,
    ChatDeliveredIn,
    ChatHistory,
    ChatMessageEnvelope,
    ChatMessageIn,
    ChatMessagePatch,
    ChatReadIn,
    ConversationEnvelope,
    ConversationIn,
    ConversationList,
    ConversationMemberAdded,
    ConversationMemberIn,
    ConversationOnly,
    ConversationPatch,
    message_out,
)
from tandem.deps import CallerDep, Idempotent, ReadingCallerDep, ReadSession, RuntimeDep, Session
from tandem.kit.ids import ID_PATTERN
from tandem.orgs.policy import OrgId
from tandem.realtime.limits import enforce

router = APIRouter(tags=["chat"])


async def send_budget(request: Request, caller: CallerDep, runtime: RuntimeDep) -> None:
    """Refuse a send past the person's or the address's allowance (429 with Retry-After)."""
    settings = runtime.settings
    await enforce(
        runtime.limiter,
        "chat-send-user",
        caller.id,
        settings.chat_send_burst,
        settings.chat_send_window_seconds,
    )
    await enforce(
        runtime.limiter,
        "chat-send-ip",
        client_address(request),
        settings.chat_send_ip_burst,
        settings.chat_send_ip_window_seconds,
    )


@router.post("/orgs/{org_id}/conversations", status_code=201, response_model=ConversationOnly)
async def create_conversation(
    body: ConversationIn,
    caller: CallerDep,
    session: Session,
    response: Response,
    once: Idempotent,
    org_id: str = OrgId,
) -> ConversationOnly | Response:
    """Start a conversation: 201; a direct one that already exists is returned with 200."""
    if once.replay is not None:
        return once.replay
    view, created = await service.create_conversation(
        session, org_id, caller.id, body.member_ids, body.title
    )
    response.status_code = 201 if created else 200
    return await once.respond(response.status_code, ConversationOnly(conversation=view))


@router.get("/orgs/{org_id}/conversations", response_model=ConversationList)
async def list_conversations(
    caller: ReadingCallerDep, session: ReadSession, org_id: str = OrgId
) -> ConversationList:
    """The caller's conversations in the org, latest activity first, with unread counts."""
    views, cursor = await service.list_conversations(session, org_id, caller.id)
    return ConversationList(conversations=views, cursor=cursor)


@router.get("/conversations/{conversation_id}", response_model=ConversationEnvelope)
async def get_conversation(
    caller: ReadingCallerDep, session: ReadSession, conversation_id: str = ConversationId
) -> ConversationEnvelope:
    """One conversation, as the list shows it."""
    view, cursor = await service.get_conversation(session, conversation_id, caller.id)
    return ConversationEnvelope(conversation=view, cursor=cursor)


@router.patch("/conversations/{conversation_id}", response_model=ConversationOnly)
async def rename_conversation(
    body: ConversationPatch,
    caller: CallerDep,
    session: Session,
    conversation_id: str = ConversationId,
) -> ConversationOnly:
    """Rename a group (any member)."""
    view = await service.rename(session, conversation_id, caller.id, body.title)
    return ConversationOnly(conversation=view)


@router.post(
    "/conversations/{conversation_id}/members",
    status_code=201,
    response_model=ConversationMemberAdded,
)
async def add_member(
    body: ConversationMemberIn,
    caller: CallerDep,
    session: Session,
    conversation_id: str = ConversationId,
) -> ConversationMemberAdded:
    """Add a person of the org to a group (any member)."""
    member, conversation = await service.add_member(
        session, conversation_id, caller.id, body.user_id
    )
    return ConversationMemberAdded(member=member, conversation=conversation)


@router.delete("/conversations/{conversation_id}/members/{user_id}", status_code=204)
async def remove_member(
    caller: CallerDep,
    session: Session,
    user_id: str = UserId,
    conversation_id: str = ConversationId,
) -> Response:
    """Leave a group (your own id), or remove someone (the creator, an Owner or an Admin)."""
    await service.remove_member(session, conversation_id, caller.id, user_id)
    return Response(status_code=204)


@router.get("/conversations/{conversation_id}/messages", response_model=ChatHistory)
async def history(
    caller: ReadingCallerDep,
    session: ReadSession,
    conversation_id: str = ConversationId,
    before: str | None = Query(default=None, max_length=32, pattern=ID_PATTERN),
    limit: int = Query(default=DEFAULT_PAGE, ge=1, le=MAX_PAGE),
) -> ChatHistory:
    """Messages before `before` (the latest without it), oldest first, and every member's receipts."""
    return await messages.history(session, conversation_id, caller.id, before, limit)


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=201,
    response_model=ChatMessageEnvelope,
    dependencies=[Depends(send_budget)],
)
async def send_message(
    body: ChatMessageIn,
    caller: CallerDep,
    session: Session,
    response: Response,
    conversation_id: str = ConversationId,
) -> ChatMessageEnvelope:
    """Send a message: 201; the same clientId and text again returns the first one with 200."""
    message, created = await messages.send_message(
        session, conversation_id, caller.id, body.text, body.client_id
    )
    response.status_code = 201 if created else 200
    return ChatMessageEnvelope(message=message_out(message))


@router.patch("/messages/{message_id}", response_model=ChatMessageEnvelope)
async def edit_message(
    body: ChatMessagePatch, caller: CallerDep, session: Session, message_id: str = MessageId
) -> ChatMessageEnvelope:
    """Edit a message's text (its author only)."""
    message = await messages.edit_message(session, message_id, caller.id, body.text)
    return ChatMessageEnvelope(message=message_out(message))


@router.delete("/messages/{message_id}", status_code=204)
async def delete_message(
    caller: CallerDep, session: Session, message_id: str = MessageId
) -> Response:
    """Delete a message (its author, an org Owner or an Admin); it stays in the history, emptied."""
    await messages.delete_message(session, message_id, caller.id)
    return Response(status_code=204)


@router.post("/conversations/{conversation_id}/delivered", status_code=204)
async def delivered(
    body: ChatDeliveredIn,
    caller: CallerDep,
    session: Session,
    conversation_id: str = ConversationId,
) -> Response:
    """These messages reached a device: the delivered cursor moves to the latest of them."""
    await receipts.mark_delivered(session, conversation_id, caller.id, body.message_ids)
    return Response(status_code=204)


@router.post("/conversations/{conversation_id}/read", status_code=204)
async def read(
    body: ChatReadIn, caller: CallerDep, session: Session, conversation_id: str = ConversationId
) -> Response:
    """Everything up to this message was read: the read cursor moves there."""
    await receipts.mark_read(session, conversation_id, caller.id, body.message_id)
    return Response(status_code=204)
