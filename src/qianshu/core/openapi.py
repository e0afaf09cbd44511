"""The OpenAPI document says what errors really look like: RFC 9457 problem+json.

FastAPI documents only its own 422 (`HTTPValidationError`, as application/json), while every
error this platform answers is a problem object (`core/errors.py`) served as
application/problem+json: 400, 401, 403, 404, 409, 413, 422, 429, 503 and, when something
breaks, 500. `document_problems` rewrites the generated document once: a `Problem` schema, each
operation's 422 as a problem, and a `default` response naming every other error status, so an
integrator's generated client (and a contract test such as Schemathesis) knows the shape of
every answer. `document_security` names the credentials: a bearer token (a session's or an
organisation's API key) or the session cookie, required or optional per operation as its
dependencies say (`core/auth.py`: `requires_sign_in`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import routing
from fastapi.dependencies.models import Dependant

from qianshu.core.auth import SIGN_IN_OPTIONAL, SIGN_IN_REQUIRED
from qianshu.core.errors import PROBLEM_BASE

PROBLEM_JSON = "application/problem+json"
_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error (RFC 9457). Members beyond these name the problem's own details, "
    "such as `errors` for invalid fields or `scope` for a missing API-key scope.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": f"{PROBLEM_BASE}<slug>: stable"},
        "title": {"type": "string", "description": "Short summary (zh-CN, or English with ?lang=en)"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What went wrong in this case; never personal data"},
        "instance": {"type": "string", "description": "The request path"},
        "errors": {
            "type": "array",
            "description": "For 422 invalid-input: the fields refused and why",
            "items": {"type": "object", "additionalProperties": True},
        },
    },
    "additionalProperties": True,
    "example": {
        "type": f"{PROBLEM_BASE}invalid-input",
        "title": "输入有误",
        "status": 422,
        "detail": "以下字段有误：recipients",
        "instance": "/api/v1/contracts",
        "errors": [{"loc": ["body", "recipients"], "msg": "List should have at least 1 item", "type": "too_short"}],
    },
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": _REF}}}


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a generated OpenAPI document in place so that its errors are problem+json; return it."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue  # a path item's shared `parameters`, not an operation
            responses = operation["responses"]
            if "422" in responses:
                responses["422"] = _problem("Invalid input: a field is missing, malformed or breaks a rule")
            responses.setdefault(
                "default",
                _problem(
                    "An error, as problem+json: 400 bad request, 401 not signed in, 403 not allowed, "
                    "404 not found, 409 conflict with the current state, 413 too large, 429 too many "
                    "requests (Retry-After), 503 busy or a dependency unavailable (Retry-After), 500"
                ),
            )
    # FastAPI's own 422 schemas: every 422 above is a problem now, so nothing names them
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    return schema


def file_response(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """Return `responses` for a route that answers a file (with `response_class=Response`)."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": description, "content": {media_type: binary}}}


SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A session token (POST /api/v1/sessions) or an organisation's API key (qsk_…)",
    },
    "session_cookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "qs_session",
        "description": "The browser session; POST, PUT, PATCH and DELETE also need X-CSRF-Token (the qs_csrf cookie)",
    },
}
_SIGNED_IN: list[dict[str, list[str]]] = [{"bearer": []}, {"session_cookie": []}]


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def document_security(schema: dict[str, Any], routes: Iterable[Any]) -> dict[str, Any]:
    """Name each operation's credentials in `schema` (in place): required, optional or none; return it."""
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    paths = schema.get("paths", {})
    for context in routing.iter_route_contexts(list(routes)):
        route = context.original_route
        if not isinstance(route, routing.APIRoute) or context.path_format not in paths:
            continue
        calls = set(_calls(route.dependant))
        if calls & SIGN_IN_REQUIRED:
            security = _SIGNED_IN
        elif calls & SIGN_IN_OPTIONAL:
            security = [*_SIGNED_IN, {}]  # {}: no credentials is fine too
        else:
            continue
        for method in route.methods or ():
            operation = paths[context.path_format].get(method.lower())
            if operation is not None:
                operation["security"] = security
    return schema
