"""The local gateway: every function's real entry point mounted under its prefix on one port.

It does what the production load balancer's URL map does: `/v1/<function>` and everything
below go, unchanged (full path), to that function's functions-framework app. It also serves
the merged OpenAPI document at `/v1/openapi.json` and a page that renders it at `/docs`
(devtools/docs.html).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import functions_framework
from werkzeug.test import Client
from werkzeug.wrappers import Response

ROOT = Path(__file__).resolve().parent.parent
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def function_names() -> list[str]:
    listing = json.loads((ROOT / "functions.json").read_text())
    return [f["name"] for f in listing["functions"]]


class Gateway:
    def __init__(self, apps: dict[str, WSGIApp]) -> None:
        self.apps = apps

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path: str = environ.get("PATH_INFO", "")
        for prefix, app in self.apps.items():
            if path == prefix or path.startswith(prefix + "/"):
                return app(environ, start_response)
        if path == "/v1/openapi.json":
            response = Response(json.dumps(self.merged_openapi()), mimetype="application/json")
        elif path.rstrip("/") == "/docs":
            response = Response(DOCS_PAGE, mimetype="text/html")
        else:
            response = _not_found(environ)
        return response(environ, start_response)

    def merged_openapi(self) -> dict[str, Any]:
        from common.openapi import INFO, SERVERS

        merged: dict[str, Any] = {
            "openapi": "3.1.0",
            "info": INFO,
            "servers": SERVERS,
            "paths": {},
            "components": {"schemas": {}, "securitySchemes": {}},
        }
        for prefix, app in self.apps.items():
            doc = Client(app).get(f"{prefix}/openapi.json").get_json()
            merged["paths"].update(doc["paths"])
            for section in ("schemas", "securitySchemes"):
                merged["components"][section].update(doc["components"][section])
        return merged


def _not_found(environ: dict[str, Any]) -> Response:
    given = environ.get("HTTP_X_REQUEST_ID", "")
    request_id = given if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", given) else uuid.uuid4().hex
    body = {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "No function serves this path.",
        "request_id": request_id,
    }
    return Response(
        json.dumps(body),
        status=404,
        mimetype="application/problem+json",
        headers={"X-Request-Id": request_id},
    )


def create_gateway(names: list[str] | None = None) -> Gateway:
    """Load each function exactly as Cloud Functions does and mount it under its prefix."""
    apps: dict[str, WSGIApp] = {}
    for name in names or function_names():
        source = ROOT / "functions" / name / "main.py"
        app = functions_framework.create_app(target=name, source=str(source))  # type: ignore[no-untyped-call]
        apps[f"/v1/{name}"] = app
    return Gateway(apps)


# The API page: plain HTML and script (no CDN, nothing fetched but /v1/openapi.json) that
# renders every operation and schema as tables, and says so when the document cannot be read.
DOCS_PAGE = (Path(__file__).with_name("docs.html")).read_text(encoding="utf-8")
