"""The local gateway: every function's real entry point mounted under its prefix on one port.

It does what the production load balancer's URL map does: `/v1/<function>` and everything
below go, unchanged (full path), to that function's functions-framework app. It also serves
the merged OpenAPI document at `/v1/openapi.json` and a page that renders it at `/docs`.
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
        merged: dict[str, Any] = {
            "openapi": "3.1.0",
            "info": {"title": "Sealy API", "version": "1"},
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


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sealy API</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:960px;
  padding:0 1rem;color:#222}
h1{margin-bottom:.2rem} h2{border-bottom:1px solid #ddd;margin-top:2rem}
details{border:1px solid #e3e3e3;border-radius:6px;margin:.4rem 0;padding:.3rem .6rem}
summary{cursor:pointer} code,pre{font:13px ui-monospace,monospace}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;border-radius:4px}
.m{display:inline-block;min-width:4.5rem;font-weight:600}
.get{color:#1a7f37}.post{color:#0969da}.patch{color:#9a6700}.put{color:#8250df}.delete{color:#cf222e}
</style></head><body>
<h1>Sealy API</h1><p>Rendered from <a href="/v1/openapi.json">/v1/openapi.json</a>.</p>
<div id="api">Loading…</div>
<script>
function el(tag, cls, text){const e=document.createElement(tag);if(cls)e.className=cls;
  if(text!==undefined)e.textContent=text;return e}
fetch('/v1/openapi.json').then(r=>r.json()).then(doc=>{
  const root=document.getElementById('api');root.textContent='';const groups={};
  for(const [path,item] of Object.entries(doc.paths)){
    for(const [method,op] of Object.entries(item)){
    const g=(op.tags||['other'])[0];(groups[g]=groups[g]||[]).push([method,path,op]);}}
  for(const [g,ops] of Object.entries(groups)){root.appendChild(el('h2','',g));
    for(const [method,path,op] of ops){const d=el('details');const s=el('summary');
      s.appendChild(el('span','m '+method,method.toUpperCase()));s.appendChild(el('code','',path));
      s.appendChild(document.createTextNode(' '+(op.summary||'')));d.appendChild(s);
      d.appendChild(el('pre','',JSON.stringify({security:op.security,parameters:op.parameters,
        requestBody:op.requestBody,responses:op.responses},null,2)));root.appendChild(d);}}
  root.appendChild(el('h2','','schemas'));
  root.appendChild(el('pre','',JSON.stringify(doc.components.schemas,null,2)));
});
</script></body></html>
"""
