"""Errors in the SPEC's shape, {"error": {"code", "message", "details"?}} with the matching status:
the exceptions services raise, the handlers that render them, and their OpenAPI description."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse


class AppError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers


class Invalid(AppError):
    status, code = 400, "invalid"


class Unauthenticated(AppError):
    status, code = 401, "unauthenticated"


class Forbidden(AppError):
    status, code = 403, "forbidden"


class NotFound(AppError):
    status, code = 404, "not_found"


class Conflict(AppError):
    status, code = 409, "conflict"


class TooLarge(AppError):
    status, code = 413, "too_large"


class RateLimited(AppError):
    status, code = 429, "rate_limited"


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None  # for "validation": one entry per refused field


class ErrorBody(BaseModel):
    error: ErrorDetail


_DESCRIPTIONS = {
    400: "The request is malformed (e.g. the body is not JSON)",
    401: "No valid access token: sign in first",
    403: "Signed in, but your role does not allow this",
    404: "No such resource, or one you may not see",
    409: "The change conflicts with the current state",
    413: "The body is larger than this route allows",
    422: "A field is missing or invalid; details names each",
    429: "Too many attempts; try again after Retry-After seconds",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 0},
    }
}


def error_responses(statuses: Iterable[int]) -> dict[int, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each with the error body (and Retry-After on 429)."""
    responses: dict[int, dict[str, Any]] = {}
    for status in sorted(set(statuses)):
        response: dict[str, Any] = {"model": ErrorBody, "description": _DESCRIPTIONS[status]}
        if status == 429:
            response["headers"] = _RETRY_AFTER
        responses[status] = response
    return responses


# A route whose body may exceed settings.max_body_bytes declares which larger limit it takes, read by
# app.RequestGuard from the route it matched: openapi_extra=body_limit("attachment").
BODY_LIMIT = "x-body-limit"


def body_limit(kind: Literal["attachment"]) -> dict[str, str]:
    return {BODY_LIMIT: kind}


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


_HTTP_CODES = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "validation",
    429: "rate_limited",
}


def _describe(errors: Sequence[Any]) -> str:
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    # Imported here, not at the top: services import this module, and the CLI (`tandem flags`)
    # should not pay for loading FastAPI.
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return JSONResponse(
                error_body("invalid", "the body is not valid JSON"), status_code=400
            )
        body = error_body("validation", _describe(exc.errors()))
        body["error"]["details"] = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code
        return JSONResponse(
            error_body(code, message),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        import logging

        logging.getLogger("tandem.http").exception(
            "unhandled error", extra={"path": request.url.path}
        )
        return JSONResponse(
            error_body("internal", "something went wrong on our side; it was logged"),
            status_code=500,
        )
