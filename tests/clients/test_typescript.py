"""The TypeScript client (clients/typescript/): openapi-typescript 7 and openapi-fetch 0.17,
default settings, as the React Native app uses them.

- The committed types are what openapi-typescript generates from the merged document now:
  a route or schema changed without `make clients` fails here.
- The scenario (clients/typescript/scenario/scenario.ts) compiles under the strict
  tsconfig and runs against a real server: register, create, a one-field PATCH that leaves
  every other field alone, paging, a 404 read as a typed problem.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from scripts.generate_clients import TYPES, TYPESCRIPT, node_tool, typescript_types
from tests.clients.conftest import run

pytestmark = pytest.mark.clients


def first_difference(committed: str, expected: str) -> str:
    for number, (a, b) in enumerate(
        zip(committed.splitlines(), expected.splitlines(), strict=False), 1
    ):
        if a != b:
            return f"line {number}: committed {a.strip()!r}, generated {b.strip()!r}"
    return f"{len(committed.splitlines())} lines committed, {len(expected.splitlines())} generated"


def test_the_committed_types_are_generated_from_the_current_document(
    documents: dict[str, Path],
) -> None:
    expected = typescript_types(documents["merged"])
    committed = TYPES.read_text()
    if committed != expected:
        pytest.fail(
            f"{TYPES.relative_to(TYPESCRIPT.parent.parent)} is stale: run `make clients` "
            f"({first_difference(committed, expected)})"
        )
    # The fields whose absence means "unchanged" are optional (no `default: null` made
    # them required and forced a PATCH to clear them).
    assert "pinned?: boolean;" in committed
    assert "description: string | null;" in committed  # a todo as the server returns it


def compile_scenario(out: Path) -> None:
    """tsc with clients/typescript/tsconfig.json (strict), into `out`."""
    # The compiled modules import openapi-fetch: Node looks for it beside them.
    (out / "node_modules").symlink_to(TYPESCRIPT / "node_modules", target_is_directory=True)
    shutil.copy(TYPESCRIPT / "package.json", out / "package.json")  # "type": "module"
    compiled = run([node_tool("tsc"), "--project", TYPESCRIPT, "--outDir", out])
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr


def test_the_strict_scenario_compiles_and_runs_against_a_real_server(
    server: str, tmp_path: Path
) -> None:
    compile_scenario(tmp_path)
    ran = run(["node", tmp_path / "scenario" / "scenario.js", server])
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.strip() == "typescript scenario: ok (3 todos over 2 pages)"


def test_the_compiler_refuses_what_the_types_forbid(tmp_path: Path) -> None:
    """The strict compile is a check, not a formality: bodies the document does not allow (a
    create without its title, a string for a number, null for a field that refuses it) do
    not compile. (An unknown field does: openapi-fetch infers the body's type, so
    TypeScript's excess-property check does not apply; the server answers 422.)"""
    (tmp_path / "node_modules").symlink_to(TYPESCRIPT / "node_modules", target_is_directory=True)
    shutil.copy(TYPESCRIPT / "package.json", tmp_path / "package.json")  # "type": "module"
    client = (TYPESCRIPT / "src" / "index.js").as_posix()
    (tmp_path / "refused.ts").write_text(
        f'import {{ createSealyClient }} from "{client}";\n'
        'const api = createSealyClient({ baseUrl: "http://localhost:8080" });\n'
        'const path = { item_id: "3f0c0f0e-1f5e-4d5c-9c59-2f9c3a3f6a10" };\n'
        'await api.POST("/v1/todos", { body: { priority: 1, pinned: false, done: false } });\n'
        'await api.PATCH("/v1/todos/{item_id}", { params: { path }, body: { priority: "4" } });\n'
        'await api.PATCH("/v1/todos/{item_id}", { params: { path }, body: { pinned: null } });\n'
    )
    config = {
        "extends": (TYPESCRIPT / "tsconfig.json").as_posix(),
        "compilerOptions": {"noEmit": True},
        "include": [],
        "files": ["refused.ts"],
    }
    (tmp_path / "tsconfig.json").write_text(json.dumps(config))
    compiled = run([node_tool("tsc"), "--project", tmp_path])
    assert compiled.returncode != 0
    errors = [line for line in compiled.stdout.splitlines() if "error TS" in line]
    assert [e.split("): ", 1)[0].rsplit("(", 1)[1].split(",")[0] for e in errors] == [
        "4",
        "5",
        "6",
    ], compiled.stdout
    assert "Property 'title' is missing" in compiled.stdout
    assert "'string' is not assignable to type 'number'" in errors[1]
    assert "'null' is not assignable to type 'boolean'" in errors[2]
