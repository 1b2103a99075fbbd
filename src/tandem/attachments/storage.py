"""Where attachment bytes live: a directory under the data directory, or an S3-compatible bucket
when `TANDEM_S3_BUCKET` is set. Both take a file as it arrives (a writer fed chunk by chunk, so an
upload never sits whole in memory), hand it back in chunks, and forget it. A writer that is
aborted leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tandem.config import Settings

CHUNK = 64 * 1024
# S3 refuses multipart parts under 5 MiB (but the last): what a writer holds at most before sending.
S3_PART = 8 * 1024 * 1024


class Writer(Protocol):
    async def write(self, data: bytes) -> None: ...

    async def finish(self) -> None: ...

    async def abort(self) -> None: ...


class Store(Protocol):
    def writer(self, key: str) -> Writer: ...

    def read(self, key: str) -> AsyncIterator[bytes]: ...

    async def put(self, key: str, data: bytes) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def exists(self, key: str) -> bool: ...


class DiskWriter:
    """Writes to a temporary name beside the file, renamed into place when finished: a reader never
    sees half a file, and an aborted upload leaves no file under its key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        self.file: Any = None

    async def write(self, data: bytes) -> None:
        if self.file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = await asyncio.to_thread(open, self.temp, "wb")
        # Plain writes: 64 KiB into the page cache costs microseconds, less than a thread hop.
        self.file.write(data)

    async def finish(self) -> None:
        if self.file is None:  # an empty file
            await self.write(b"")
        self.file.close()
        os.replace(self.temp, self.path)

    async def abort(self) -> None:
        if self.file is not None:
            self.file.close()
        self.temp.unlink(missing_ok=True)


class DiskStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        # Keys are made by the server (ids), never from a client's text; refuse anything else.
        if not key or ".." in key or key.startswith("/") or "\\" in key:
            raise ValueError(f"bad storage key {key!r}")
        return self.root / key

    def writer(self, key: str) -> DiskWriter:
        return DiskWriter(self.path(key))

    async def read(self, key: str) -> AsyncIterator[bytes]:
        file = await asyncio.to_thread(open, self.path(key), "rb")
        with file:
            while chunk := await asyncio.to_thread(file.read, CHUNK):
                yield chunk

    async def put(self, key: str, data: bytes) -> None:
        writer = self.writer(key)
        await writer.write(data)
        await writer.finish()

    async def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    async def exists(self, key: str) -> bool:
        return self.path(key).exists()


class S3Writer:
    """A multipart upload begun with the first full part; a file smaller than one part is sent
    whole by `finish`. Aborting cancels the multipart upload, so the bucket keeps nothing."""

    def __init__(self, store: S3Store, key: str) -> None:
        self.store, self.key = store, key
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    async def write(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= S3_PART:
            await self._send_part()

    async def _send_part(self) -> None:
        async with self.store.client() as s3:
            if self.upload_id is None:
                started = await s3.create_multipart_upload(Bucket=self.store.bucket, Key=self.key)
                self.upload_id = started["UploadId"]
            number = len(self.parts) + 1
            sent = await s3.upload_part(
                Bucket=self.store.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=bytes(self.buffer),
            )
        self.parts.append({"PartNumber": number, "ETag": sent["ETag"]})
        self.buffer = bytearray()

    async def finish(self) -> None:
        if self.upload_id is None:
            await self.store.put(self.key, bytes(self.buffer))
            return
        if self.buffer:
            await self._send_part()
        async with self.store.client() as s3:
            await s3.complete_multipart_upload(
                Bucket=self.store.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": self.parts},
            )

    async def abort(self) -> None:
        self.buffer = bytearray()
        if self.upload_id is not None:
            async with self.store.client() as s3:
                await s3.abort_multipart_upload(
                    Bucket=self.store.bucket, Key=self.key, UploadId=self.upload_id
                )


class S3Store:
    def __init__(self, settings: Settings) -> None:
        import aioboto3  # only when a bucket is configured

        self.bucket = settings.s3_bucket
        self.session = aioboto3.Session()
        self.options = {
            "endpoint_url": settings.s3_endpoint_url or None,
            "aws_access_key_id": settings.s3_access_key_id or None,
            "aws_secret_access_key": settings.s3_secret_access_key or None,
            "region_name": settings.s3_region or None,
        }

    def client(self) -> Any:
        return self.session.client("s3", **self.options)

    def writer(self, key: str) -> S3Writer:
        return S3Writer(self, key)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        async with self.client() as s3:
            found = await s3.get_object(Bucket=self.bucket, Key=key)
            body = found["Body"]
            try:
                while chunk := await body.read(CHUNK):
                    yield chunk
            finally:
                body.close()

    async def put(self, key: str, data: bytes) -> None:
        async with self.client() as s3:
            await s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    async def delete(self, key: str) -> None:
        async with self.client() as s3:
            await s3.delete_object(Bucket=self.bucket, Key=key)

    async def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        async with self.client() as s3:
            try:
                await s3.head_object(Bucket=self.bucket, Key=key)
            except ClientError:
                return False
            return True


def make_store(settings: Settings) -> Store:
    if settings.s3_bucket:
        return S3Store(settings)
    return DiskStore(settings.data_dir / "attachments")
