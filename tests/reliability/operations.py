"""The merged OpenAPI document, walked operation by operation (imported by the test modules,
so it is built at collection time, after the root conftest has set up the test database)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # OpenAPI template: /v1/todos/{item_id}
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def public(self) -> bool:
        return self.spec.get("security") != [{"bearer": []}]

    def params(self, where: str) -> list[dict[str, Any]]:
        return [p for p in self.spec.get("parameters", []) if p["in"] == where]

    def url(self, **values: str) -> str:
        url = self.path
        for p in self.params("path"):
            url = url.replace("{" + p["name"] + "}", values.get(p["name"], _NOWHERE))
        return url


_NOWHERE = "7c6f2f8e-5a3c-4f4b-9d2e-2b1d6c0f9a10"  # a well-formed id nobody has


def load_operations(gateway: Any) -> tuple[dict[str, Any], list[Operation]]:
    document = gateway.merged_openapi()
    operations = [
        Operation(method.upper(), path, spec)
        for path, item in document["paths"].items()
        for method, spec in item.items()
    ]
    return document, operations


def _gateway() -> Any:
    from devtools.gateway import create_gateway

    return create_gateway()


# Built at import time so that parametrize sees every operation; conftest's `gateway` fixture
# hands the same instance to the tests of this folder.
GATEWAY = _gateway()
DOCUMENT, OPERATIONS = load_operations(GATEWAY)


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with a top-level `$ref` into components.schemas followed."""
    while "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def body_schema(op: Operation) -> dict[str, Any] | None:
    body = op.spec.get("requestBody")
    if body is None:
        return None
    return resolve(body["content"]["application/json"]["schema"])
