"""OpenAPI 3.1 documents built from the registered routes and their pydantic schemas.

Every route declares its body, query, response and extra error statuses; the statuses that
the pipeline itself can answer (400/413/415/422 for bodies, 401 for authenticated routes,
404 for path ids, 405, 409/422 for `Idempotency-Key`, 500, 503) are added here, so the
document lists every status a route can return, with `application/problem+json` for errors
and the headers that come with them (`Retry-After`, `WWW-Authenticate`, `Allow`, ...).

The request schemas say what the validators check wherever JSON Schema can say it, so that a
client (or a fuzzer) can tell a valid request from an invalid one without sending it:
- strings may not hold NUL (`no_nul`): a pattern;
- `null` is listed only for the body fields that accept it (a PATCH refuses `null` for its
  `NOT_NULL` fields, after validation);
- names that must not be blank, tag names (trimmed, then 1-50 characters), IANA time zones
  (an enum), BCP 47 locales, emails and new-password lengths.
What only the database or the clock can decide (a foreign tag id, a common password, an
`expires_at` in the past, a cursor this server did not issue) stays a documented `422`.

Links (OpenAPI `links`) connect a response to the operations its ids (and `ETag`) feed:
create -> get/patch/delete/actions of the new resource, get/patch -> the same resource's
other operations, a share -> its revocation. Only `components.schemas` and
`components.securitySchemes` are used, the two sections the gateway merges.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from common.schemas import Health, Problem
from common.schemas.base import Patch
from common.schemas.users import UserOut

if TYPE_CHECKING:
    from common.http import Api, Route

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
        "description": 'The `ETag` of the version you read (`"3"`); any other value, weak or '
        "malformed, matches nothing (412). `*` matches any version.",
        "schema": {"type": "string"},
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


def _char_class(chars: Iterable[str]) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in chars)


@functools.cache
def _python_space() -> str:
    """What `str.strip()` and `str.isspace()` call whitespace, as a character class body."""
    return _char_class(chr(c) for c in range(0x3001) if chr(c).isspace())


@functools.cache
def _trimmed_space() -> str:
    """What pydantic's `strip_whitespace` trims (Unicode White_Space: Python's whitespace
    without the information separators U+001C-U+001F)."""
    return _char_class(
        c for c in map(chr, range(0x3001)) if c.isspace() and not "\x1c" <= c <= "\x1f"
    )


_NO_NUL = "^[^\\u0000]*$"


def _not_blank_pattern() -> str:
    return f"^[^\\u0000]*[^{_python_space()}\\u0000][^\\u0000]*$"


def _trimmed_pattern(max_length: int) -> str:
    """Strings that are 1..max_length characters once outer whitespace is trimmed."""
    ws = _trimmed_space()
    edge = f"[^{ws}\\u0000]"
    inner = f"([^\\u0000]{{0,{max_length - 2}}}{edge})?" if max_length >= 2 else ""
    return f"^[{ws}]*{edge}{inner}[{ws}]*$"


@functools.cache
def _validator_rules() -> dict[Callable[..., Any], Callable[[JsonSchemaValue], None]]:
    """What the document says for each validator a request field goes through."""
    from common.schemas import auth, users
    from common.schemas.base import no_nul

    locale = re.sub(r"\(\?P<\w+>", "(", users._LOCALE.pattern)

    def nul_free(schema: JsonSchemaValue) -> None:
        schema.setdefault("pattern", _NO_NUL)  # a pattern of our own already excludes NUL

    def not_blank(schema: JsonSchemaValue) -> None:
        schema["pattern"] = _not_blank_pattern()

    def timezone(schema: JsonSchemaValue) -> None:
        schema["enum"] = sorted(users.iana_timezones())
        schema["description"] = "An IANA time zone name, such as Europe/Berlin."

    def bcp47(schema: JsonSchemaValue) -> None:
        schema["pattern"] = f"^{locale}$"
        schema["description"] = "A BCP 47 language tag, such as en-US."

    def email(schema: JsonSchemaValue) -> None:
        schema["format"] = "email"

    def new_password(schema: JsonSchemaValue) -> None:
        from common.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

        schema.update(minLength=MIN_PASSWORD_LENGTH, maxLength=MAX_PASSWORD_LENGTH)
        schema["description"] = "Not one of the 10 000 most common passwords (else 422)."

    return {
        no_nul: nul_free,
        users._not_blank: not_blank,
        users._timezone: timezone,
        users._locale: bcp47,
        auth._email: email,
        auth._new_password: new_password,
    }


class _Generator(GenerateJsonSchema):
    """pydantic's JSON Schema, plus what our validators check (see the module docstring)."""

    def function_after_schema(
        self, schema: core_schema.AfterValidatorFunctionSchema
    ) -> JsonSchemaValue:
        json_schema = super().function_after_schema(schema)
        rule = _validator_rules().get(schema["function"]["function"])
        if rule is not None and json_schema.get("type") == "string":
            rule(json_schema)
        return json_schema

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        json_schema = super().str_schema(schema)
        if schema.get("strip_whitespace") and schema.get("min_length", 0) <= 1:
            # Lengths count after trimming, which minLength/maxLength cannot say.
            max_length = json_schema.pop("maxLength", 10_000)
            json_schema.pop("minLength", None)
            json_schema["pattern"] = _trimmed_pattern(max_length)
        return json_schema


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """`prop` with its `null` alternative (and `default: null`) removed."""
    options = [o for o in prop.get("anyOf", []) if o != {"type": "null"}]
    if not options or len(options) == len(prop.get("anyOf", [])):
        return prop
    rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
    if len(options) == 1:
        return {**options[0], **rest}
    return {**rest, "anyOf": options}


def _refuses_null(model: type[BaseModel], name: str) -> bool:
    """Whether the pipeline refuses `{name: null}` at that field (see common.http)."""
    try:
        body = model.model_validate_json(json.dumps({name: None}), strict=True)
    except ValidationError as exc:
        return any(err["loc"][:1] == (name,) for err in exc.errors())
    return isinstance(body, Patch) and name in body.null_fields()


def _body_schema(model: type[BaseModel], schema: dict[str, Any]) -> None:
    """Drop `null` from the fields of a request body that refuse it."""
    props = schema.get("properties", {})
    for name, prop in list(props.items()):
        if {"type": "null"} in prop.get("anyOf", []) and _refuses_null(model, name):
            props[name] = _without_null(prop)


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
            "schema": _without_null(prop),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


# --- operations -----------------------------------------------------------------------------


def _has_etag(route: Route) -> bool:
    """Single-resource responses carry `ETag: "<version>"`: those with a version, and the
    user, whose version travels only as the ETag (api-v1 §4 lists no version field)."""
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
    response_names = {refs[m]["$ref"] for m in models if m[1] == "serialization"}
    for model, mode in dict.fromkeys(models):
        ref = refs[(model, mode)]["$ref"]
        if mode == "validation" and ref not in response_names:
            _body_schema(model, schemas[ref.rsplit("/", 1)[1]])
    paths: dict[str, dict[str, Any]] = {}
    entries: list[tuple[Route, str, dict[str, Any]]] = []
    for api in apis:
        for route in api.routes:
            op = _operation(route, api.function, refs)
            paths.setdefault(openapi_path(route.path), {})[route.method.lower()] = op
            entries.append((route, api.function, op))
    _add_links(entries)
    title = "Sealy API" if len(apis) != 1 else f"Sealy API: {apis[0].function}"
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": _SECURITY_SCHEMES},
    }
