"""Reading an upload as it arrives: the multipart body parsed chunk by chunk, the part named
`file` written to the store as its bytes come, counted against the limit.

Nothing of the body is held but the chunk in hand (and, for S3, one part). Over the limit, a body
that is not the expected multipart, or a client gone midway: the stored bytes are removed before
the error leaves, so a refused upload leaves no file. Images are also copied to a temporary file
while they stream, for their thumbnail.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from tandem.attachments import thumbnails
from tandem.attachments.storage import Store, Writer
from tandem.kit.errors import Invalid, TooLarge

DEFAULT_TYPE = "application/octet-stream"
# A media type as RFC 6838 spells it; any other claim is stored as the default.
MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
FILENAME_LENGTH = 255


def clean_filename(raw: str) -> str:
    """The name a file is listed and downloaded under: its last path segment, without control
    characters, at most 255 characters; "file" when nothing is left."""
    name = re.split(r"[/\\]", raw)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    name = name.lstrip(".") if set(name) <= {"."} else name
    return name[:FILENAME_LENGTH] or "file"


def clean_type(raw: str) -> str:
    value = raw.split(";", 1)[0].strip().lower()
    return value if MEDIA_TYPE.match(value) else DEFAULT_TYPE


@dataclass
class Received:
    filename: str
    content_type: str
    size: int
    thumbnail: tuple[bytes, str] | None


@dataclass
class _Part:
    """What the parser's callbacks gather between two writes: they are plain functions, the
    store's writes are awaited afterwards."""

    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_field: bytes = b""
    header_value: bytes = b""
    is_file: bool = False
    files_seen: int = 0
    filename: str = ""
    content_type: str = DEFAULT_TYPE
    pending: list[bytes] = field(default_factory=list)
    ended: bool = False


def _callbacks(part: _Part) -> dict[str, Any]:
    def on_part_begin() -> None:
        part.headers, part.is_file = {}, False

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part.header_field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        part.header_value += data[start:end]

    def on_header_end() -> None:
        part.headers[part.header_field.lower()] = part.header_value
        part.header_field, part.header_value = b"", b""

    def on_headers_finished() -> None:
        _, options = parse_options_header(part.headers.get(b"content-disposition", b""))
        if options.get(b"name") == b"file":
            part.is_file = True
            part.files_seen += 1
            part.filename = clean_filename(options.get(b"filename", b"").decode("utf-8", "replace"))
            part.content_type = clean_type(part.headers.get(b"content-type", b"").decode("latin-1"))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if part.is_file and part.files_seen == 1:
            part.pending.append(data[start:end])

    def on_end() -> None:
        part.ended = True

    return {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data,
        "on_end": on_end,
    }


def boundary_of(request: Request) -> bytes:
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise Invalid("send the file as multipart/form-data, in a part named `file`")
    return boundary


def _parse(parser: MultipartParser, chunk: bytes | None) -> None:
    try:
        if chunk is None:
            parser.finalize()
        else:
            parser.write(chunk)
    except FormParserError as exc:  # not multipart as RFC 7578 has it (or part headers too long)
        raise Invalid(f"the multipart body is malformed: {exc}") from None


async def receive(request: Request, store: Store, key: str, limit: int) -> Received:
    """Stream the request's `file` part into the store under `key`; see the module's text."""
    parser = MultipartParser(boundary_of(request), _callbacks(part := _Part()))  # type: ignore[arg-type]
    writer: Writer = store.writer(key)
    size, head, decided = 0, b"", False
    copy: IO[bytes] | None = None
    try:
        async for chunk in request.stream():
            _parse(parser, chunk)
            if part.files_seen > 1:
                raise Invalid("send one file per upload")
            for data in part.pending:
                size += len(data)
                if size > limit:
                    raise TooLarge(f"a file may be at most {limit} bytes")
                if not decided:  # the first 12 bytes say whether to keep a copy for a thumbnail
                    before, head = head, head + data[: 12 - len(head)]
                    if len(head) >= 12:
                        decided = True
                        if thumbnails.looks_like_image(head):
                            copy = tempfile.NamedTemporaryFile(prefix="tandem-thumb-", delete=False)  # noqa: SIM115
                            copy.write(before)
                if copy is not None:
                    copy.write(data)
                await writer.write(data)
            part.pending.clear()
        _parse(parser, None)
        if not part.ended or part.files_seen != 1:
            raise Invalid("send the file as multipart/form-data, in a part named `file`")
        await writer.finish()
    except BaseException:
        await asyncio.shield(writer.abort())
        if copy is not None:
            copy.close()
            os.unlink(copy.name)
        raise
    thumbnail = None
    if copy is not None:
        copy.close()
        try:
            thumbnail = await asyncio.to_thread(thumbnails.make, Path(copy.name))
        finally:
            os.unlink(copy.name)
    return Received(part.filename, part.content_type, size, thumbnail)
