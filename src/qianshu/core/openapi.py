"""The OpenAPI document says what errors really look like: RFC 9457 problem+json.

FastAPI documents only its own 422 (`HTTPValidationError`, as application/json), while every
error this platform answers is a problem object (`core/errors.py`) served as
application/problem+json: 400, 401, 403, 404, 409, 413, 422, 429, 503 and, when something
breaks, 500. `document_problems` rewrites the generated document once: a `Problem` schema, each
operation's 422 as a problem, and a `default` response naming every other error status, so an
integrator's generated client (and a contract test such as Schemathesis) knows the shape of
every answer.
"""

from __future__ import annotations

from typing import Any

from qianshu.core.errors import PROBLEM_BASE

PROBLEM_JSON = "application/problem+json"
_REF = {"$ref": "#/components/schemas/Problem"}
_METHODS = ("get", "put", "post", "delete", "patch")

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
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
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
    # FastAPI's own 422 schemas, which no operation names any more
    if "#/components/schemas/HTTPValidationError" not in repr(schema.get("paths", {})):
        components.pop("HTTPValidationError", None)
        if "#/components/schemas/ValidationError" not in repr(schema):
            components.pop("ValidationError", None)
    return schema


def file_response(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """Return `responses` for a route that answers a file (with `response_class=Response`)."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": description, "content": {media_type: binary}}}
