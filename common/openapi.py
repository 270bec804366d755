"""OpenAPI 3.1 documents built from the registered routes and their pydantic schemas.

Every route declares its body, query, response and extra error statuses; the statuses that
the pipeline itself can answer (400/413/415/422 for bodies, 401 for authenticated routes,
404 for path ids, 405, 409/422 for `Idempotency-Key`, 500, 503) are added here, so the
document lists every status a route can return, with `application/problem+json` for errors
and the headers that come with them (`Retry-After`, `WWW-Authenticate`, `Allow`, ...).

The schemas say what the validators check wherever JSON Schema can say it, so that a client
(or a fuzzer) can tell a valid request from an invalid one without sending it. Each rule is
written where it is defined (common.schemas: a `JsonSchemaHook` beside each validator, and
`Patch`/`Problem` for their models); this module adds the rules of the document itself:
- `default` appears only where the server applies that value: an absent request field is
  "not given" (in a PATCH, "unchanged"), never a `null` default; a response carries every
  field, so each is required and none has a default;
- strings that pydantic trims count their length once trimmed: a pattern says it;
- sorts (`-created_at`) carry `x-enum-varnames` (`CREATED_AT_DESC`), and a model that reads
  differently in requests and responses is named `XIn` and `X`, for the client generators.
What only the database or the clock can decide (a foreign tag id, a common password, an
`expires_at` in the past, a cursor this server did not issue) stays a documented `422`;
docs/api.md lists these rules.

Links (OpenAPI `links`) connect a response to the operations its ids (and `ETag`) feed:
create -> get/patch/delete/actions of the new resource, get/patch -> the same resource's
other operations, a share -> its revocation. Only `components.schemas` and
`components.securitySchemes` are used, the two sections the gateway merges; a document
declares only the security schemes its operations use.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, NoDefault, models_json_schema
from pydantic_core import core_schema

from common.schemas import Health, Problem
from common.schemas.base import char_class, without_null
from common.schemas.users import UserOut

if TYPE_CHECKING:
    from common.http import Api, Route

INFO: dict[str, Any] = {
    "title": "Sealy API",
    "version": "1",
    "description": "The HTTP API of Sealy: todos, memos, contacts, tags, sharing and push "
    "notifications. The reference, with the conventions every route follows, is docs/api.md "
    "in the repository; the gateway renders this document at /docs.",
    # Sealy's API is not published under an open licence.
    "license": {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"},
}
# Paths are absolute (`/v1/todos/...`) on every host that serves them: the load balancer, a
# function's own URL, the local gateway. So the server is the host this document came from.
SERVERS = [{"url": "/", "description": "The host that serves this document."}]

# A werkzeug rule's variable: `<name>`, `<uuid:name>`, `<any(a, b):name>`.
_PARAM = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_REF_TEMPLATE = "#/components/schemas/{model}"

# Headers a public route reads as its own credentials: declared as security schemes.
_CREDENTIAL_HEADERS: dict[str, tuple[str, dict[str, Any]]] = {
    "X-Dispatch-Token": (
        "dispatchToken",
        {
            "type": "apiKey",
            "in": "header",
            "name": "X-Dispatch-Token",
            "description": "The shared dispatch secret (DISPATCH_TOKEN).",
        },
    ),
    "Authorization": (
        "googleOidc",
        {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A Google-signed OIDC ID token of the scheduler's service account.",
        },
    ),
}
_SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    **dict(_CREDENTIAL_HEADERS.values()),
}

_REQUEST_HEADERS: dict[str, dict[str, Any]] = {
    "If-Match": {
        "description": 'The `ETag` of the version you read (`"3"`), or several separated by '
        "commas; a stale one is 412 and changes nothing. `*` matches any version.",
        # What the server reads (common.http `Ctx.if_match`): strong tags of a version.
        "schema": {"type": "string", "pattern": '^(\\*|"[0-9]{1,10}"( *, *"[0-9]{1,10}")*)$'},
    },
    "Idempotency-Key": {
        "description": "A key you choose (1-255 printable ASCII characters). A retry with the "
        "same key and body within 24 h gets the first answer again and creates nothing; the "
        "same key with another body is 422, a retry while the first runs 409.",
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            # HTTP drops a header value's outer spaces, so the key neither starts nor ends
            # with one.
            "pattern": r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$",
        },
    },
}
_REQUEST_ID_PARAM = {
    "name": "X-Request-Id",
    "in": "header",
    "required": False,
    "description": "Your id for this request (1-64 of `[A-Za-z0-9._-]`), echoed in the "
    "response and every log line; any other value is replaced by a new one.",
    "schema": {"type": "string"},
}

_DIGITS = {"type": "string", "pattern": "^[0-9]+$"}
_REQUEST_ID_HEADER = {
    "description": "This request's id (yours if valid, else a new one).",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
}
_STATUS_HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": {
            "description": 'RFC 6750 challenge: `Bearer error="invalid_token"`, or `Bearer` '
            "when no credentials were sent.",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    405: {
        "Allow": {
            "description": "The methods this path accepts.",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    429: {"Retry-After": {"description": "Seconds.", "required": True, "schema": _DIGITS}},
    503: {"Retry-After": {"description": "Seconds.", "required": True, "schema": _DIGITS}},
}
_STATUS_NOTES = {
    500: "An unexpected failure: the problem carries only the request id.",
    503: "The database is unavailable, or a statement or lock wait ran over its timeout.",
}


def openapi_path(rule: str) -> str:
    return _PARAM.sub(lambda m: "{" + m.group(3) + "}", rule)


def _param_names(rule: str) -> list[str]:
    return [name for _, _, name in _PARAM.findall(rule)]


def _path_params(rule: str) -> list[dict[str, Any]]:
    params = []
    for converter, arguments, name in _PARAM.findall(rule):
        schema: dict[str, Any] = {"type": "string"}
        description = "Not a UUID, or not visible to you: 404."
        if converter == "uuid":
            schema["format"] = "uuid"
        elif converter == "any":
            schema["enum"] = [value.strip() for value in arguments.split(",")]
            description = "One of these values; any other: 404."
        params.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": description,
                "schema": schema,
            }
        )
    return params


def _statuses(route: Route) -> list[int]:
    found = {route.status, *route.also, *route.errors, 405, 500}
    if route.body is not None:
        found |= {400, 413, 415, 422}
    if route.query is not None:
        found.add(422)
    if not route.public:
        found.add(401)
    if "<" in route.path:
        found.add(404)
    if route.idempotent:
        found |= {409, 422}  # a retry while the first runs; a key reused for another body
    if not route.path.endswith("/openapi.json"):
        found.add(503)
    return sorted(found)


# --- request schemas ----------------------------------------------------------------------


@functools.cache
def _trimmed_space() -> str:
    """What pydantic's `strip_whitespace` trims (Unicode White_Space: Python's whitespace
    without the information separators U+001C-U+001F)."""
    return char_class(
        c for c in map(chr, range(0x3001)) if c.isspace() and not "\x1c" <= c <= "\x1f"
    )


def _trimmed_pattern(max_length: int) -> str:
    """Strings that are 1..max_length characters once outer whitespace is trimmed."""
    ws = _trimmed_space()
    edge = f"[^{ws}\\u0000]"
    inner = f"([^\\u0000]{{0,{max_length - 2}}}{edge})?" if max_length >= 2 else ""
    return f"^[{ws}]*{edge}{inner}[{ws}]*$"


class _Generator(GenerateJsonSchema):
    """pydantic's JSON Schema, with the document's own rules (see the module docstring)."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        default = super().get_default_value(schema)
        if self.mode == "serialization" or default is None:
            # A response carries every field; an absent request field is "not given" (in a
            # PATCH: "unchanged"), not null. Only the values the server applies remain.
            return NoDefault
        return default

    def literal_schema(self, schema: core_schema.LiteralSchema) -> JsonSchemaValue:
        json_schema = super().literal_schema(schema)
        values = json_schema.get("enum", [])
        if any(isinstance(v, str) and v.startswith("-") for v in values):
            # Sorts: `-created_at` is CREATED_AT_DESC to a client generator, not VALUE_1.
            json_schema["x-enum-varnames"] = [
                v.lstrip("-").upper() + ("_DESC" if v.startswith("-") else "") for v in values
            ]
        return json_schema

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        json_schema = super().str_schema(schema)
        if schema.get("strip_whitespace") and schema.get("min_length", 0) <= 1:
            # Lengths count after trimming, which minLength/maxLength cannot say.
            max_length = json_schema.pop("maxLength", 10_000)
            json_schema.pop("minLength", None)
            json_schema["pattern"] = _trimmed_pattern(max_length)
        return json_schema


def _query_params(route: Route) -> list[dict[str, Any]]:
    assert route.query is not None
    schema = route.query.model_json_schema(ref_template=_REF_TEMPLATE, schema_generator=_Generator)
    if "$defs" in schema:  # nested models have no place in a query string
        raise ValueError(f"{route.path}: query models must be flat")
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            # An absent parameter is the null; a query string cannot spell null.
            "schema": without_null(prop),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


# --- operations -----------------------------------------------------------------------------


def _has_etag(route: Route) -> bool:
    """Single-resource responses carry `ETag: "<version>"`: those with a version, and the
    user, whose version travels only as the ETag (docs/api.md §4 lists no version field)."""
    if route.response is UserOut:
        return True
    version = route.response.model_fields.get("version") if route.response else None
    return version is not None and version.annotation is int


def _id_pointer(model: type[BaseModel] | None) -> str | None:
    """Where a response body holds the id of what it describes (`/id`, a share's `/user/id`)."""
    if model is None:
        return None
    if "id" in model.model_fields:
        return "/id"
    user = model.model_fields.get("user")
    nested = user.annotation if user is not None else None
    if isinstance(nested, type) and issubclass(nested, BaseModel) and "id" in nested.model_fields:
        return "/user/id"
    return None


def _success(route: Route, status: int, refs: dict[Any, Any], description: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    headers: dict[str, Any] = {"X-Request-Id": _REQUEST_ID_HEADER}
    if route.path.endswith("/openapi.json"):
        response["content"] = {"application/json": {"schema": {"type": "object"}}}
    elif route.response is not None and status != 204:
        schema_ref = refs[(route.response, "serialization")]
        response["content"] = {"application/json": {"schema": schema_ref}}
        if _has_etag(route):
            headers["ETag"] = {
                "description": 'The resource\'s version as a strong ETag ("3"), for If-Match.',
                "required": True,
                "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
            }
    if status == 201:
        headers["Location"] = {
            "description": "The new resource.",
            "required": True,
            "schema": {"type": "string"},
        }
    if route.idempotent:
        headers["Idempotent-Replayed"] = {
            "description": "`true` on the stored answer to a retried Idempotency-Key.",
            "required": False,
            "schema": {"type": "string", "enum": ["true"]},
        }
    response["headers"] = headers
    return response


def _problem(route: Route, status: int, description: str) -> dict[str, Any]:
    if status == 503 and route.response is Health:
        content = {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}
    else:
        content = {"application/problem+json": {"schema": _PROBLEM_REF}}
    return {
        "description": _STATUS_NOTES.get(status, description),
        "headers": {"X-Request-Id": _REQUEST_ID_HEADER, **_STATUS_HEADERS.get(status, {})},
        "content": content,
    }


def _security(route: Route) -> list[dict[str, list[str]]]:
    if not route.public:
        return [{"bearer": []}]
    return [{_CREDENTIAL_HEADERS[h][0]: []} for h in route.headers if h in _CREDENTIAL_HEADERS]


def _operation(route: Route, function: str, refs: dict[Any, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": operation_id(route, function),
        "summary": route.summary,
        "tags": [function],
        "responses": {},
    }
    params = _path_params(route.path)
    if route.query is not None:
        params.extend(_query_params(route))
    for header in route.headers:
        if route.public and header in _CREDENTIAL_HEADERS:
            continue  # a security scheme, below
        spec = _REQUEST_HEADERS.get(header, {"schema": {"type": "string"}})
        params.append({"name": header, "in": "header", "required": False, **spec})
    params.append(_REQUEST_ID_PARAM)
    op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(route.body, "validation")]}},
        }
    op["security"] = _security(route)
    for status in _statuses(route):
        description = HTTPStatus(status).phrase
        if status == route.status or status in route.also:
            op["responses"][str(status)] = _success(route, status, refs, description)
        else:
            op["responses"][str(status)] = _problem(route, status, description)
    return op


def operation_id(route: Route, function: str) -> str:
    return f"{function}_{getattr(route.handler, '__name__', 'op').strip('_')}"


def _link_parameters(source: Route, target: Route) -> dict[str, str] | None:
    """How `source`'s response feeds `target`, or None when it does not.

    - child: `target` lives under `source`'s path plus one id segment (`POST /v1/todos` ->
      `/v1/todos/{item_id}...`, `PUT .../shares` -> `DELETE .../shares/{user_id}`); that id
      comes from the response body.
    - sibling: `source` reads or changes one resource and `target` works on the same one
      (`GET /v1/todos/{item_id}` -> `PATCH`, `DELETE`, `/complete`, `/shares`, ...).
    """
    source_names = _param_names(source.path)
    target_names = _param_names(target.path)
    carried = {f"path.{n}": f"$request.path.{n}" for n in source_names}
    pointer = _id_pointer(source.response)
    prefix = source.path + "/<"
    if pointer is not None and target.path.startswith(prefix):
        segment, _, tail = target.path[len(prefix) - 1 :].partition("/")
        if _PARAM.fullmatch(segment) and "<" not in tail:
            new = _param_names(segment)[0]
            return {**carried, f"path.{new}": f"$response.body#{pointer}"}
    same_resource = target.path == source.path or target.path.startswith(source.path + "/")
    if (
        source_names
        and source.method in ("GET", "PATCH")
        and same_resource
        and set(target_names) <= set(source_names)
    ):
        return {k: v for k, v in carried.items() if k.removeprefix("path.") in target_names}
    return None


def _add_links(entries: list[tuple[Route, str, dict[str, Any]]]) -> None:
    for source, _, source_op in entries:
        if source.status == 204 or source.response is None:
            continue
        links: dict[str, Any] = {}
        for target, function, _ in entries:
            if target is source or target.public:
                continue
            parameters = _link_parameters(source, target)
            if parameters is None:
                continue
            if "If-Match" in target.headers and _has_etag(source):
                same = _id_pointer(source.response) == "/id"
                if same and target.response in (None, source.response):
                    parameters["header.If-Match"] = "$response.header.ETag"
            target_id = operation_id(target, function)
            links[target_id] = {"operationId": target_id, "parameters": parameters}
        if links:
            source_op["responses"][str(source.status)]["links"] = links


def build_openapi(apis: Iterable[Api]) -> dict[str, Any]:
    """One OpenAPI document covering the given functions (one, or all for the gateway)."""
    apis = list(apis)
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (Problem, "serialization"),
        (Health, "serialization"),
    ]
    for api in apis:
        for route in api.routes:
            if route.body is not None:
                models.append((route.body, "validation"))
            if route.response is not None:
                models.append((route.response, "serialization"))
    refs, defs = models_json_schema(
        list(dict.fromkeys(models)), ref_template=_REF_TEMPLATE, schema_generator=_Generator
    )
    schemas: dict[str, Any] = defs.get("$defs", {})
    refs, schemas = _role_names(refs, schemas)
    paths: dict[str, dict[str, Any]] = {}
    entries: list[tuple[Route, str, dict[str, Any]]] = []
    for api in apis:
        for route in api.routes:
            op = _operation(route, api.function, refs)
            paths.setdefault(openapi_path(route.path), {})[route.method.lower()] = op
            entries.append((route, api.function, op))
    _add_links(entries)
    title = "Sealy API" if len(apis) != 1 else f"Sealy API: {apis[0].function}"
    used = {name for _, _, op in entries for option in op["security"] for name in option}
    return {
        "openapi": "3.1.0",
        "info": {**INFO, "title": title},
        "servers": SERVERS,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {k: v for k, v in _SECURITY_SCHEMES.items() if k in used},
        },
    }


def _role_names(refs: dict[Any, Any], schemas: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """pydantic names a model that reads differently in requests and responses `X-Input`
    and `X-Output`; the documents call them `XIn` and `X`, as the other shapes are named."""
    renames = {
        name: name.removesuffix("-Input") + "In" if name.endswith("-Input") else name[:-7]
        for name in schemas
        if name.endswith(("-Input", "-Output"))
    }
    if not renames:
        return refs, schemas
    pattern = re.compile(
        r'"#/components/schemas/(' + "|".join(re.escape(n) for n in renames) + r')"'
    )

    def rename(value: Any) -> Any:
        text = pattern.sub(lambda m: f'"#/components/schemas/{renames[m[1]]}"', json.dumps(value))
        return json.loads(text)

    new_refs = {key: rename(ref) for key, ref in refs.items()}
    new_schemas = {renames.get(k, k): rename(v) for k, v in schemas.items()}
    for name in renames.values():
        new_schemas[name]["title"] = name  # generators name their classes by the title
    return new_refs, new_schemas
