"""An OpenAPI 3.1 document made from the gateway's own route table and pydantic models.

Each `Operation` is both a route (registered with aiohttp) and its documentation, so the two
cannot drift apart: the middlewares read the matched operation (`matched_operation`) for its
`security` (`auth.enforce_security`) and its `rate_class` (`ratelimit.rate_limits`), so what the
document says of a route is what is enforced. Schemas come from the models the handlers build their
replies with.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

from vodkit_gateway.keys import OPERATIONS
from vodkit_gateway.schemas import ErrorBody

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# what the caller must show, checked before the handler (auth.enforce_security): a user token; a user
# token or none (a wrong one is still a 401); an upload token; either an upload token or a user token
Security = Literal["user", "optional_user", "upload", "upload_or_user", "admin", "none"]
RateClass = Literal["api", "read", "upload", "playback", "analytics"]  # which budget a request draws on (ratelimit.py)
_REF = "#/components/schemas/{model}"

_ERRORS = {
    400: "The request is malformed or breaks a rule; the message says which.",
    401: "No valid token.",
    403: "The token does not grant this.",
    404: "No such object.",
    409: "The request conflicts with the resource's state.",
    412: "Wrong Tus-Resumable version.",
    413: "The body or declared size is too large.",
    415: "Wrong Content-Type.",
    416: "The range lies outside the object.",
    429: "Over the route class's rate limit; see Retry-After.",
    460: "The body's checksum is not the Upload-Checksum sent (tus checksum extension).",
    503: "A service the gateway needs is unreachable or not ready.",
}
RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["path", "query", "header"]
    schema: dict[str, Any]
    description: str
    required: bool = True
    route_pattern: str | None = None  # the regex aiohttp matches a path parameter with


@dataclass(frozen=True)
class Reply:
    description: str
    model: type[BaseModel] | None = None
    media_type: str = "application/json"
    schema: dict[str, Any] | None = None  # for bodies that are not JSON models
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Body:
    media_type: str
    model: type[BaseModel] | None = None
    schema: dict[str, Any] | None = None
    required: bool = True


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # OpenAPI form: /api/videos/{video_id}
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    replies: dict[int, Reply]
    errors: tuple[int, ...] = ()
    security: Security = "none"
    params: tuple[Param, ...] = ()
    body: Body | None = None
    rate_limited: bool = True
    rate_class: RateClass = "api"
    description: str = ""

    def route_path(self) -> str:
        path = self.path
        for param in self.params:
            if param.where == "path" and param.route_pattern:
                path = path.replace("{" + param.name + "}", "{" + param.name + ":" + param.route_pattern + "}")
        return path


OperationTable = dict[tuple[str, str], Operation]  # (method, OpenAPI path) → its operation


def add_routes(app: web.Application, operations: list[Operation]) -> None:
    """Route every operation, but those the service app routes already (health checks, metrics), and
    keep the table the middlewares read each request's operation from."""
    app[OPERATIONS] = {(op.method, op.path): op for op in operations}
    routed = {(route.method, route.resource.canonical) for route in app.router.routes() if route.resource}
    for op in operations:
        if (op.method, op.path) in routed:
            continue
        if op.method == "GET":
            app.router.add_get(op.route_path(), op.handler)  # and HEAD, as HTTP asks of every GET
        else:
            app.router.add_route(op.method, op.route_path(), op.handler)


def matched_operation(request: web.Request) -> Operation | None:
    """The operation of the route the request matched (a HEAD that has none, its GET's); None if none."""
    resource = request.match_info.route.resource
    if resource is None:  # no route matched (404), or not with this method (405)
        return None
    table = request.app[OPERATIONS]
    for method in (request.method, "GET") if request.method == "HEAD" else (request.method,):
        operation = table.get((method, resource.canonical))
        if operation is not None:
            return operation
    return None


def document(operations: list[Operation], title: str, version: str) -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorBody}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, models)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": _schemas(models),
            "securitySchemes": {
                "userToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "User token."},
                "uploadToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "Upload token from `POST /api/videos`.",
                },
            },
        },
    }


def _operation(op: Operation, models: set[type[BaseModel]]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "responses": _responses(op, models),
    }
    if op.description:
        spec["description"] = op.description
    if op.params:
        spec["parameters"] = [
            {"name": p.name, "in": p.where, "required": p.required, "description": p.description, "schema": p.schema}
            for p in op.params
        ]
    if op.body is not None:
        spec["requestBody"] = {"required": op.body.required, "content": {op.body.media_type: _content(op.body, models)}}
    spec["security"] = {
        "user": [{"userToken": []}],
        "optional_user": [{"userToken": []}, {}],
        "upload": [{"uploadToken": []}],
        "upload_or_user": [{"uploadToken": []}, {"userToken": []}],
        "admin": [{"userToken": ["admin"]}],
        "none": [],
    }[op.security]
    return spec


def _responses(op: Operation, models: set[type[BaseModel]]) -> dict[str, Any]:
    replies: dict[int, Reply] = dict(op.replies)
    errors = set(op.errors)
    if op.security != "none":
        errors.add(401)
    if op.security == "admin":
        errors.add(403)
    if op.rate_limited:
        errors.add(429)
    for status in sorted(errors):
        replies.setdefault(status, Reply(_ERRORS[status], ErrorBody, headers=("Retry-After",) if status == 429 else ()))
    out: dict[str, Any] = {}
    for status, reply in sorted(replies.items()):
        spec: dict[str, Any] = {"description": reply.description}
        if op.method != "HEAD" and (reply.model is not None or reply.schema is not None):  # HEAD has no body
            spec["content"] = {reply.media_type: _content(reply, models)}
        names = reply.headers + (RATE_LIMIT_HEADERS if op.rate_limited else ())
        if names:
            spec["headers"] = {name: {"schema": {"type": "string"}} for name in names}
        out[str(status)] = spec
    return out


def _content(part: Reply | Body, models: set[type[BaseModel]]) -> dict[str, Any]:
    if part.model is not None:
        models.add(part.model)
        return {"schema": {"$ref": _REF.format(model=part.model.__name__)}}
    return {"schema": part.schema or {}}


def _schemas(models: set[type[BaseModel]]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in sorted(models, key=lambda m: m.__name__):
        schema = model.model_json_schema(by_alias=True, ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas
