from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, FastAPI, Request, Response
from fastapi.responses import StreamingResponse

from tandem.attachments import cleanup, service, storage, upload
from tandem.attachments.policy import AttachmentId, ReadableAttachment, UploaderDep
from tandem.attachments.schemas import UPLOAD_BODY, AttachmentEnvelope, attachment_out
from tandem.attachments.storage import Store
from tandem.deps import CallerDep, Session
from tandem.kit.errors import NotFound, body_limit
from tandem.kit.ids import new_id


def store_for(app: FastAPI) -> Store:
    """The app's store, made once from the app's settings."""
    state = app.state
    if getattr(state, "attachment_store", None) is None:
        state.attachment_store = storage.make_store(state.runtime.settings)
        cleanup.register(str(state.runtime.db.engine.url), state.attachment_store)
    return state.attachment_store  # type: ignore[no-any-return]


@asynccontextmanager
async def made_at_start(app: FastAPI) -> AsyncIterator[None]:
    """The store is made as the app starts, so a task deleted before any file route was asked
    still has its files removed (attachments/cleanup.py)."""
    store_for(app)
    yield


router = APIRouter(tags=["attachments"], lifespan=made_at_start)

# Types a browser would run or render as a page: served as plain bytes, whatever was claimed.
ACTIVE_TYPES = (
    "text/html",
    "image/svg+xml",
    "application/xhtml+xml",
    "text/xml",
    "application/xml",
)
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}


def store_of(request: Request) -> Store:
    return store_for(request.app)


@router.post(
    "/tasks/{task_id}/attachments",
    status_code=201,
    response_model=AttachmentEnvelope,
    openapi_extra={**body_limit("attachment"), **UPLOAD_BODY},
)
async def upload_attachment(request: Request, who: UploaderDep) -> AttachmentEnvelope:
    """Attach a file to a task: multipart/form-data, one part named `file`, at most
    TANDEM_MAX_ATTACHMENT_BYTES (25 MiB by default; more is refused with 413 `too_large` and
    nothing is kept). Images also get a thumbnail."""
    store, runtime = store_of(request), request.app.state.runtime
    attachment_id = new_id("att")
    key = f"{who.task_id}/{attachment_id}"
    received = await upload.receive(request, store, key, runtime.settings.max_attachment_bytes)
    thumbnail_key = None
    try:
        if received.thumbnail is not None:
            data, kind = received.thumbnail
            thumbnail_key = f"{key}.thumb.{'jpg' if kind == 'image/jpeg' else 'png'}"
            await store.put(thumbnail_key, data)
        async with runtime.db.unit_of_work() as session:
            row = await service.add_attachment(
                session,
                who.task_id,
                who.caller.user,
                received,
                attachment_id=attachment_id,
                storage_key=key,
                thumbnail_key=thumbnail_key,
            )
            out = attachment_out(row)
    except BaseException:
        for stored in (key, thumbnail_key):
            if stored is not None:
                await store.delete(stored)
        raise
    return AttachmentEnvelope(attachment=out)


def disposition(filename: str) -> str:
    return f"attachment; filename*=UTF-8''{quote(filename, safe='')}"


@router.get(
    "/attachments/{attachment_id}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file"}},
)
async def download_attachment(request: Request, row: ReadableAttachment) -> StreamingResponse:
    """The file's bytes, as a download (never shown as a page): fetch with the Bearer token."""
    media = "application/octet-stream" if row.content_type in ACTIVE_TYPES else row.content_type
    store = store_of(request)
    # Asked before the headers leave: a file gone from the store is a 404, not a broken download.
    if not await store.exists(row.storage_key):
        raise NotFound("this file is no longer in the store")
    return StreamingResponse(
        store.read(row.storage_key),
        media_type=media,
        headers={
            "Content-Disposition": disposition(row.filename),
            "Content-Length": str(row.size),
            "Cache-Control": "private, no-cache",
            **SAFE_HEADERS,
        },
    )


@router.get(
    "/attachments/{attachment_id}/thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}}, "description": "PNG or JPEG"}},
)
async def attachment_thumbnail(request: Request, row: ReadableAttachment) -> Response:
    """A PNG or JPEG at most 320 px on a side; 404 for a file that is not an image."""
    if row.thumbnail_key is None:
        raise NotFound("this file has no thumbnail")
    store = store_of(request)
    if not await store.exists(row.thumbnail_key):
        raise NotFound("this file has no thumbnail")
    data = b"".join([chunk async for chunk in store.read(row.thumbnail_key)])
    media = "image/jpeg" if row.thumbnail_key.endswith(".jpg") else "image/png"
    return Response(
        data, media_type=media, headers={"Cache-Control": "private, max-age=86400", **SAFE_HEADERS}
    )


@router.delete("/attachments/{attachment_id}", status_code=204)
async def delete_attachment(
    request: Request,
    caller: CallerDep,
    session: Session,
    background: BackgroundTasks,
    attachment_id: str = AttachmentId,
) -> Response:
    """Remove a file: its uploader, the project's Leads, the org's Owners and Admins."""
    keys = await service.remove_attachment(session, attachment_id, caller.user)
    store = store_of(request)
    # Background tasks run after the response, so after the unit of work has committed.
    for key in keys:
        background.add_task(store.delete, key)
    return Response(status_code=204, background=background)
