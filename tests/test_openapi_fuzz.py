"""The REST API against its own OpenAPI document: schemathesis fuzzes every operation, signed in, and
every answer must be one the document lists, in the shape it gives; plus the 405s it cannot see."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import Phase as HypothesisPhase
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tandem.auth import service as auth_service
from tandem.flags.routes import Phase
from tandem.flags.service import PHASES
from tests.conftest import PG_URL
from tests.harness import FAST_HASHER, fresh_database_url, make_org, signup, start_server


@dataclass
class Served:
    url: str
    token: str
    org_id: str
    document: dict[str, Any]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A Tandem server on its own event loop in a thread (schemathesis calls it synchronously),
    with one signed-in person who owns an organization."""
    tmp_path: Path = tmp_path_factory.mktemp("fuzz")
    ready: Future[Served] = Future()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        try:
            async with (
                fresh_database_url("sqlite", tmp_path, PG_URL) as url,
                start_server(url, tmp_path) as server,
            ):
                person = await signup(server)
                org_id = await make_org(person)
                document = server.app.fastapi.openapi()
                ready.set_result(Served(server.url, person.access, org_id, document))
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    hasher, auth_service.hasher = auth_service.hasher, FAST_HASHER
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        yield ready.result(timeout=60)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        auth_service.hasher = hasher


# Examples per operation and mode; with the pass in the caller's own organization, about 600 requests.
EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 8}
IN_OWN_ORG = 10
# Every request's Idempotency-Key ends with a number no other request has: schemathesis draws
# keys from a small space and repeats them with other bodies, which the server refuses with a
# 422 by design (the same key with another body), not a value the document forbids.
_key_numbers = itertools.count()


def with_unique_key(case: Any) -> None:
    headers = case.headers or {}
    key = next((name for name in headers if name.lower() == "idempotency-key"), None)
    if key is not None and isinstance(headers[key], str):
        suffix = f".{next(_key_numbers)}"
        headers[key] = headers[key][: 255 - len(suffix)] + suffix


def fuzz(served: Served, modes: dict[GenerationMode, int], **validation: Any) -> list[str]:
    """Run every operation's examples (random ids, and the caller's own org where the path names
    one) through `case.call_and_validate(**validation)`; returns a line per failing operation."""
    schema = schemathesis.openapi.from_dict(served.document)
    headers = {"Authorization": f"Bearer {served.token}"}
    failures: list[str] = []
    requests = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        runs = [(mode, count, None) for mode, count in modes.items()]
        if "{org_id}" in operation.path:
            runs.append((GenerationMode.POSITIVE, IN_OWN_ORG, {"org_id": served.org_id}))
        for mode, count, path_parameters in runs:

            @seed(14)
            @settings(
                max_examples=count,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
                phases=[HypothesisPhase.generate],
            )
            @given(case=operation.as_strategy(mode, path_parameters=path_parameters))
            def call(case: Any) -> None:
                nonlocal requests
                requests += 1
                with_unique_key(case)
                case.call_and_validate(
                    base_url=served.url, headers=headers, timeout=30, **validation
                )

            try:
                call()
            except (Exception, BaseExceptionGroup) as exc:  # try every operation; report all
                failures.append(f"{operation.method.upper()} {operation.path} ({mode}): {exc}")
    print(f"schemathesis: {requests} requests, {len(failures)} failing operations")
    assert requests >= 300
    return failures


def test_every_answer_is_one_the_document_gives(served: Served) -> None:
    """No 5xx; every status, body, header and content type as documented; invalid input refused."""
    failures = fuzz(served, EXAMPLES, excluded_checks=[positive_data_acceptance])
    assert not failures, "\n\n".join(failures)


def test_every_value_the_document_allows_is_accepted(served: Served) -> None:
    failures = fuzz(
        served, {GenerationMode.POSITIVE: 20}, checks=[positive_data_acceptance, not_a_server_error]
    )
    assert not failures, "\n\n".join(failures)


def test_the_document_lists_the_phases_the_server_knows() -> None:
    assert get_args(Phase) == PHASES


def test_errors_are_documented_with_their_body(served: Served) -> None:
    paths = served.document["paths"]
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    for path, operations in paths.items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == error_ref, (method, path, status)
            if operation.get("security"):
                assert "401" in operation["responses"], (method, path)
    assert paths["/api/orgs/{org_id}/members/{user_id}"]["patch"]["responses"].keys() >= {
        "401",
        "403",
        "404",
        "409",
        "413",
        "422",
    }
    login = paths["/api/auth/login"]["post"]["responses"]
    assert "Retry-After" in login["429"]["headers"]
    drift = paths["/api/orgs/{org_id}/realtime/drift"]["post"]["responses"]
    assert drift.keys() >= {"204", "401", "403", "404", "422", "429"}
    assert "Retry-After" in drift["429"]["headers"]
    assert paths["/api/orgs/{org_id}/realtime"]["get"]["responses"].keys() >= {
        "200",
        "401",
        "403",
        "404",
    }
    phase = next(
        p
        for p in paths["/api/orgs/{org_id}/flags/{phase}"]["put"]["parameters"]
        if p["name"] == "phase"
    )
    assert phase["schema"]["enum"] == list(PHASES)
    assert "HTTPValidationError" not in served.document["components"]["schemas"]


def test_a_method_a_path_does_not_take_answers_405_with_every_method_it_does(
    served: Served,
) -> None:
    headers = {"Authorization": f"Bearer {served.token}"}
    with httpx.Client(base_url=served.url, headers=headers) as http:
        r = http.get("/api/orgs")
        assert r.status_code == 405 and r.headers["allow"] == "POST"
        assert r.json()["error"]["code"] == "method_not_allowed"
        r = http.put(f"/api/orgs/{served.org_id}/members/usr_x")
        assert r.status_code == 405 and r.headers["allow"] == "DELETE, PATCH"
        r = http.get(f"/api/orgs/{served.org_id}/invites/")  # not a path: the slash
        assert r.status_code in (404, 307)
        r = http.post("/api/me")
        assert r.status_code == 405 and r.headers["allow"] == "GET, PATCH"
        assert http.get("/api/no-such-thing").status_code == 404
