"""A Tandem server whose attachments go to disk (SQLite and PostgreSQL) or to an S3 bucket served
by moto's S3 server on a local port; helpers that upload and that list what the store holds."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tandem.attachments import storage
from tests.conftest import PG_URL, need
from tests.harness import (
    Person,
    Server,
    fast_password_hashing,  # noqa: F401
    free_port,
    fresh_database_url,
    postgres_available,
    start_server,
)

S3_KEYS = {"s3_access_key_id": "test", "s3_secret_access_key": "test", "s3_region": "us-east-1"}


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        moto.stop()


async def make_bucket(endpoint: str) -> str:
    import aioboto3

    name = f"tandem-{uuid.uuid4().hex[:12]}"
    async with aioboto3.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    ) as s3:
        await s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["sqlite-disk", "postgresql-disk", "sqlite-s3"])
async def files_server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Server]:
    """One instance, its attachments on disk or in a fresh bucket of moto's S3 server."""
    backend, store = request.param.split("-")
    if backend == "postgresql":
        need("PostgreSQL", postgres_available(PG_URL))
    overrides: dict[str, Any] = {}
    if store == "s3":
        endpoint = request.getfixturevalue("moto_url")
        overrides = {"s3_endpoint_url": endpoint, "s3_bucket": await make_bucket(endpoint)}
        overrides.update(S3_KEYS)
    async with (
        fresh_database_url(backend, tmp_path, PG_URL) as url,
        start_server(url, tmp_path, **overrides) as srv,
    ):
        yield srv


async def stored(server: Server) -> list[str]:
    """Every key the server's store holds, unfinished multipart uploads and temp files included."""
    store = storage.make_store(server.settings)
    if isinstance(store, storage.DiskStore):
        if not store.root.exists():
            return []
        return sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*") if p.is_file())
    assert isinstance(store, storage.S3Store)
    async with store.client() as s3:
        listed = await s3.list_objects_v2(Bucket=store.bucket)
        uploads = await s3.list_multipart_uploads(Bucket=store.bucket)
    return sorted(
        [o["Key"] for o in listed.get("Contents", [])]
        + [f"(unfinished) {u['Key']}" for u in uploads.get("Uploads", [])]
    )


async def upload(
    person: Person,
    task_id: str,
    data: bytes,
    filename: str = "notes.txt",
    content_type: str = "text/plain",
) -> Any:
    async with person.http() as http:
        return await http.post(
            f"/api/tasks/{task_id}/attachments",
            files={"file": (filename, data, content_type)},
        )


async def attach(person: Person, task_id: str, data: bytes, **kw: Any) -> dict[str, Any]:
    r = await upload(person, task_id, data, **kw)
    assert r.status_code == 201, r.text
    return r.json()["attachment"]
