"""Every domain's router under /api, one line each; then what the OpenAPI document says each route
may answer, and the answer for a path or method no route takes."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException

from tandem.auth.routes import router as auth_router
from tandem.chat.routes import router as chat_router
from tandem.comments.routes import router as comments_router
from tandem.dashboard.routes import router as dashboard_router
from tandem.deps import get_caller, get_reading_caller
from tandem.flags.routes import router as flags_router
from tandem.kit.errors import ErrorBody, error_responses
from tandem.orgs.routes import router as orgs_router
from tandem.projects.routes import router as projects_router
from tandem.realtime.routes import router as events_router
from tandem.subtasks.routes import router as subtasks_router
from tandem.tasks.routes import router as tasks_router
from tandem.telemetry.routes import router as telemetry_router

# isort: split
# Last: its first import reaches tandem.deps, whose import cycle resolves only when entered from auth.
from tandem.attachments.routes import router as attachments_router

API = "/api"

# Errors a route gives besides those read from its signature (see documented_errors): the rules its
# service enforces. Each key must name a route; include_api fails at start-up when one does not.
RULE_ERRORS: dict[tuple[str, str], tuple[int, ...]] = {
    ("POST", "/api/auth/signup"): (409, 429),
    ("POST", "/api/auth/login"): (401, 429),
    ("POST", "/api/auth/refresh"): (401, 429),
    ("POST", "/api/auth/logout"): (401,),
    ("POST", "/api/me/password"): (403, 429),
    ("POST", "/api/orgs"): (409, 429),
    ("POST", "/api/orgs/{org_id}/invites"): (403, 409),
    ("GET", "/api/orgs/{org_id}/invites"): (403,),
    ("POST", "/api/invites/{token}/accept"): (400, 403, 409),  # 400: a malformed Idempotency-Key
    ("PATCH", "/api/orgs/{org_id}/members/{user_id}"): (403, 409),
    ("DELETE", "/api/orgs/{org_id}/members/{user_id}"): (403, 409),
    ("POST", "/api/orgs/{org_id}/leave"): (409,),
    ("PUT", "/api/orgs/{org_id}/flags/{phase}"): (403,),
    ("POST", "/api/orgs/{org_id}/realtime/drift"): (403, 429),
    ("GET", "/api/orgs/{org_id}/realtime"): (403,),
    ("GET", "/api/events"): (404,),
    ("POST", "/api/orgs/{org_id}/projects"): (403,),
    ("PATCH", "/api/projects/{project_id}"): (403,),
    ("PUT", "/api/projects/{project_id}/columns"): (403, 409),
    ("POST", "/api/projects/{project_id}/members"): (403, 409),
    ("PATCH", "/api/projects/{project_id}/members/{user_id}"): (403,),
    ("DELETE", "/api/projects/{project_id}/members/{user_id}"): (403,),
    ("POST", "/api/projects/{project_id}/tasks"): (403, 409),
    ("PATCH", "/api/tasks/{task_id}"): (403, 409),
    ("POST", "/api/tasks/{task_id}/move"): (403, 409),
    ("DELETE", "/api/tasks/{task_id}"): (403, 409),  # 409: the project is archived
    ("POST", "/api/tasks/{task_id}/subtasks"): (403, 409),
    ("PATCH", "/api/subtasks/{subtask_id}"): (403, 409),
    ("DELETE", "/api/subtasks/{subtask_id}"): (403, 409),
    ("POST", "/api/tasks/{task_id}/comments"): (403, 409),
    ("PATCH", "/api/comments/{comment_id}"): (403, 409),
    ("DELETE", "/api/comments/{comment_id}"): (403, 409),
    ("POST", "/api/tasks/{task_id}/attachments"): (400, 403, 409, 413),
    ("DELETE", "/api/attachments/{attachment_id}"): (403, 409),
    ("POST", "/api/orgs/{org_id}/conversations"): (409,),  # 409: a group without a title
    ("PATCH", "/api/conversations/{conversation_id}"): (409,),  # 409: a direct conversation
    ("POST", "/api/conversations/{conversation_id}/members"): (409,),
    ("DELETE", "/api/conversations/{conversation_id}/members/{user_id}"): (403, 409),
    ("POST", "/api/conversations/{conversation_id}/messages"): (429,),
    ("PATCH", "/api/messages/{message_id}"): (403, 409),
    ("DELETE", "/api/messages/{message_id}"): (403,),
}


def include_api(app: FastAPI) -> None:
    # Straight into the app, each with the /api prefix, rather than through one /api router: FastAPI
    # matches a request against every level of included routers, and again level by level as it hands
    # it down, so a level less is a third fewer route regexes per request.
    app.include_router(auth_router, prefix=API)
    app.include_router(orgs_router, prefix=API)
    app.include_router(projects_router, prefix=API)
    app.include_router(tasks_router, prefix=API)
    app.include_router(subtasks_router, prefix=API)
    app.include_router(comments_router, prefix=API)
    app.include_router(attachments_router, prefix=API)
    app.include_router(chat_router, prefix=API)
    app.include_router(dashboard_router, prefix=API)
    app.include_router(flags_router, prefix=API)
    app.include_router(events_router, prefix=API)
    app.include_router(telemetry_router, prefix=API)
    routes = api_routes(app)
    known = {(method, route.path) for route in routes for method in route.methods or ()}
    if unknown := set(RULE_ERRORS) - known:
        raise RuntimeError(f"RULE_ERRORS names routes that do not exist: {sorted(unknown)}")
    document_errors(app, routes)
    answer_unrouted(app, routes)


def api_routes(app: FastAPI) -> list[RouteContext]:
    """Every API route as requests see it: its full path and methods."""
    return [
        route
        for route in iter_route_contexts(app.router.routes)
        if isinstance(route.original_route, APIRoute)
    ]


def requires_caller(dependant: Dependant) -> bool:
    """Whether a route (or one of its dependencies) needs a signed-in caller."""
    return any(
        dep.call is get_caller or dep.call is get_reading_caller or requires_caller(dep)
        for dep in dependant.dependencies
    )


def documented_errors(route: APIRoute, method: str, path: str) -> set[int]:
    """The error statuses a route can answer: read from its signature, plus its RULE_ERRORS."""
    statuses = set(RULE_ERRORS.get((method, path), ()))
    if requires_caller(route.dependant):
        statuses.add(401)
    path_params, query_params = takes_params(route.dependant)
    if path_params:
        statuses.add(404)
    if route.body_field is not None:
        statuses |= {400, 413}  # not JSON; over the route's body limit
    if path_params or query_params or route.body_field is not None:
        statuses.add(422)
    return statuses


def takes_params(dependant: Dependant) -> tuple[bool, bool]:
    """Whether a route or its dependencies read (path, query or header) parameters."""
    path = bool(dependant.path_params)
    query = bool(dependant.query_params or dependant.header_params)
    for dep in dependant.dependencies:
        dep_path, dep_query = takes_params(dep)
        path, query = path or dep_path, query or dep_query
    return path, query


def document_errors(app: FastAPI, routes: list[RouteContext]) -> None:
    """Add to each operation of the OpenAPI document the errors it can answer, in the SPEC's shape.

    Done on the generated document rather than through each route's `responses`, which FastAPI
    turns into models only when a route is built; it replaces FastAPI's own 422 (HTTPValidationError
    is not the body we send)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = generate()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(error_schema.pop("$defs", {}))
        schemas["ErrorBody"] = error_schema
        for route in routes:
            original, path = route.original_route, route.path or ""
            if not isinstance(original, APIRoute) or not original.include_in_schema:
                continue
            for method in route.methods or ():
                operation = doc["paths"][path][method.lower()]
                responses = operation.setdefault("responses", {})
                for status, response in error_responses(
                    documented_errors(original, method, path)
                ).items():
                    responses[str(status)] = {
                        "description": response["description"],
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ErrorBody"}
                            }
                        },
                        **({"headers": response["headers"]} if "headers" in response else {}),
                    }
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def answer_unrouted(app: FastAPI, routes: list[RouteContext]) -> None:
    """After every API route: 405 with every method the path takes, or 404; never the web page."""

    @app.api_route(
        API + "/{rest:path}",
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        include_in_schema=False,
    )
    async def unrouted(request: Request) -> None:
        path = request.url.path
        allowed = sorted({m for r in routes if r.path_regex.match(path) for m in r.methods or ()})
        if allowed:
            raise StarletteHTTPException(
                405, "this path does not take that method", headers={"Allow": ", ".join(allowed)}
            )
        raise StarletteHTTPException(404, "no such endpoint")
