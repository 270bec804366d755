"""Extract schema facts (resource and data source names, arguments, blocks, attributes)
from a Terraform provider's Go source at a tag, for scripts/check_infra_schema.py.

    python scripts/provider_schema.py GIT_DIR_OR_CHECKOUT REF --provider google \\
        -o infra/provider-schemas/google.json

`terraform providers schema -json` would be the usual source of these facts, but it needs
the provider binary from the registry; here the facts come from reading the provider's
source: the registrations (google: `registry.Schema{...}`, `registry.Framework*{...}`;
cloudflare and archive: the provider's `Resources()` / `DataSources()` lists and each
type's `Metadata`) and the schema literals they lead to, evaluated by a small interpreter
for the subset of Go that schema code is written in (composite literals, package-level
variables, functions that build and merge maps, `if` and `range`). Where the interpreter
cannot follow the code (a call into another module, a switch), the block is recorded as
"open": the checker accepts any name there, and refuses to check a configuration that
relies on an open block (so nothing is silently unchecked).

Needs tree-sitter and its Go grammar (scripts/provider_schema-requirements.txt):

    python3 -m venv .sealy/schema-venv
    .sealy/schema-venv/bin/pip install -r scripts/provider_schema-requirements.txt
    .sealy/schema-venv/bin/python scripts/provider_schema.py ...

GIT_DIR_OR_CHECKOUT is a git directory (a bare clone works: files are read at REF with
`git cat-file`) or a plain checkout of REF. docs/deployment.md ("Provider schema facts")
has the exact commands for the versions infra/versions.tf pins.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tree_sitter  # type: ignore[import-not-found]  # (provider_schema-requirements.txt)
import tree_sitter_go  # type: ignore[import-not-found]

GO = tree_sitter.Language(tree_sitter_go.language())

PROVIDERS = {
    # local name: (module path, registry source, how types are registered)
    "google": ("github.com/hashicorp/terraform-provider-google", "hashicorp/google", "registry"),
    "cloudflare": (
        "github.com/cloudflare/terraform-provider-cloudflare",
        "cloudflare/cloudflare",
        "framework",
    ),
    "archive": ("github.com/hashicorp/terraform-provider-archive", "hashicorp/archive", "mixed"),
    "time": ("github.com/hashicorp/terraform-provider-time", "hashicorp/time", "mixed"),
}
SDK = "github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
FW_SCHEMA_PACKAGES = (
    "github.com/hashicorp/terraform-plugin-framework/resource/schema",
    "github.com/hashicorp/terraform-plugin-framework/datasource/schema",
)
MAX_DEPTH = 80


class Unknown:
    """A value the interpreter could not compute."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = Unknown()


@dataclass
class Struct:
    type: str  # "<import path>.<Type>", or "" when elided
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Symbol:
    name: str  # "<import path>.<Name>" of something outside the provider


@dataclass
class Func:
    node: Any
    pkg: Package
    file: GoFile
    env: Env | None = None  # closures


class Return(Exception):  # control flow, not an error
    def __init__(self, value: Any) -> None:
        self.value = value


# --- reading the source -------------------------------------------------------------------


class Tree:
    """Files of one ref, from a git directory or a checkout."""

    def __init__(self, root: Path, ref: str) -> None:
        self.root, self.ref = root, ref
        self.git = (root / "HEAD").exists() or (root / ".git").exists()
        if self.git:
            out = self._git("ls-tree", "-r", "--name-only", ref).decode()
            self.paths = set(out.splitlines())
            self.commit = self._git("rev-parse", f"{ref}^{{commit}}").decode().strip()
        else:
            self.paths = {p.relative_to(root).as_posix() for p in root.rglob("*.go")}
            self.commit = ""
        self._cache: dict[str, bytes] = {}

    def _git(self, *args: str) -> bytes:
        return subprocess.run(
            ["git", f"--git-dir={self._git_dir()}", *args], capture_output=True, check=True
        ).stdout

    def _git_dir(self) -> Path:
        return self.root / ".git" if (self.root / ".git").exists() else self.root

    def read(self, path: str) -> bytes:
        if path not in self._cache:
            if self.git:
                self._cache[path] = self._git("show", f"{self.ref}:{path}")
            else:
                self._cache[path] = (self.root / path).read_bytes()
        return self._cache[path]

    def read_many(self, paths: list[str]) -> None:
        """Fill the cache with one `git cat-file --batch` (thousands of files)."""
        wanted = [p for p in paths if p not in self._cache]
        if not self.git or not wanted:
            return
        spec = "".join(f"{self.ref}:{p}\n" for p in wanted).encode()
        out = subprocess.run(
            ["git", f"--git-dir={self._git_dir()}", "cat-file", "--batch"],
            input=spec,
            capture_output=True,
            check=True,
        ).stdout
        pos = 0
        for path in wanted:
            header_end = out.index(b"\n", pos)
            size = int(out[pos:header_end].split()[2])
            self._cache[path] = out[header_end + 1 : header_end + 1 + size]
            pos = header_end + 1 + size + 1

    def go_files(self, directory: str) -> list[str]:
        prefix = directory.rstrip("/") + "/"
        return sorted(
            p
            for p in self.paths
            if p.startswith(prefix)
            and "/" not in p[len(prefix) :]
            and p.endswith(".go")
            and not p.endswith("_test.go")
        )


@dataclass
class GoFile:
    path: str
    src: bytes
    root: Any
    imports: dict[str, str]  # alias -> import path

    def text(self, node: Any) -> str:
        return self.src[node.start_byte : node.end_byte].decode()


@dataclass
class Package:
    path: str  # import path
    files: list[GoFile]
    funcs: dict[str, tuple[Any, GoFile]] = field(default_factory=dict)
    methods: dict[tuple[str, str], tuple[Any, GoFile]] = field(default_factory=dict)
    values: dict[str, tuple[Any, GoFile]] = field(default_factory=dict)  # var and const
    cache: dict[str, Any] = field(default_factory=dict)


class Env:
    def __init__(self, parent: Env | None = None) -> None:
        self.vars: dict[str, Any] = {}
        self.parent = parent

    def lookup(self, name: str) -> tuple[bool, Any]:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return True, env.vars[name]
            env = env.parent
        return False, None

    def assign(self, name: str, value: Any) -> None:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                env.vars[name] = value
                return
            env = env.parent
        self.vars[name] = value


def children(node: Any) -> list[Any]:
    return [c for c in node.named_children if c.type != "comment"]


def go_string(file: GoFile, node: Any) -> str:
    raw = file.text(node)
    if node.type == "raw_string_literal":
        return raw[1:-1]
    return json.loads(raw) if "\\" in raw else raw[1:-1]


# --- the interpreter ----------------------------------------------------------------------


class Interpreter:
    def __init__(self, tree: Tree, module: str, provider_name: str) -> None:
        self.tree, self.module, self.provider_name = tree, module, provider_name
        self.packages: dict[str, Package] = {}
        self.parser = tree_sitter.Parser(GO)
        self.depth = 0
        self.builtins: dict[str, Callable[..., Any]] = {
            "tpgresource.MergeSchemas": self._merge,
            "tpgresource.DatasourceSchemaFromResourceSchema": self._datasource_schema,
            "tpgresource.FixDatasourceSchemaFlags": self._fix_flags,
            "tpgresource.AddRequiredFieldsToSchema": lambda s, *k: self._fix_flags(s, True, *k),
            "tpgresource.AddOptionalFieldsToSchema": lambda s, *k: self._fix_flags(s, False, *k),
            "tpgresource.DeleteFieldsFromSchema": self._delete_fields,
            "maps.Copy": self._maps_copy,
            "maps.Clone": lambda m: dict(m) if isinstance(m, dict) else UNKNOWN,
        }

    # packages

    def package(self, import_path: str) -> Package | None:
        if not import_path.startswith(self.module):
            return None
        if import_path not in self.packages:
            directory = import_path[len(self.module) :].lstrip("/")
            paths = self.tree.go_files(directory)
            self.tree.read_many(paths)
            pkg = Package(import_path, [self._parse(p) for p in paths])
            for file in pkg.files:
                self._index(pkg, file)
            self.packages[import_path] = pkg
        return self.packages[import_path]

    def _parse(self, path: str) -> GoFile:
        src = self.tree.read(path)
        root = self.parser.parse(src).root_node
        imports: dict[str, str] = {}
        for decl in children(root):
            if decl.type != "import_declaration":
                continue
            for spec in _walk(decl, "import_spec"):
                ipath = json.loads(
                    src[
                        spec.child_by_field_name("path").start_byte : spec.child_by_field_name(
                            "path"
                        ).end_byte
                    ].decode()
                )
                name = spec.child_by_field_name("name")
                alias = src[name.start_byte : name.end_byte].decode() if name else None
                if alias in ("_", "."):
                    continue
                imports[alias or _default_alias(ipath)] = ipath
        return GoFile(path, src, root, imports)

    def _index(self, pkg: Package, file: GoFile) -> None:
        for decl in children(file.root):
            if decl.type == "function_declaration":
                pkg.funcs[file.text(decl.child_by_field_name("name"))] = (decl, file)
            elif decl.type == "method_declaration":
                receiver = decl.child_by_field_name("receiver")
                rtype = re.sub(r"[\s*()]", "", file.text(receiver).split()[-1])
                rtype = rtype.split("[")[0]
                name = file.text(decl.child_by_field_name("name"))
                pkg.methods[(rtype, name)] = (decl, file)
            elif decl.type in ("var_declaration", "const_declaration"):
                for spec in _walk(decl, "var_spec", "const_spec"):
                    names = [file.text(n) for n in spec.children_by_field_name("name")]
                    value = spec.child_by_field_name("value")
                    values = children(value) if value is not None else []
                    for i, name in enumerate(names):
                        pkg.values[name] = (values[i] if i < len(values) else None, file)

    def package_value(self, pkg: Package, name: str) -> Any:
        if name in pkg.cache:
            return pkg.cache[name]
        if name in pkg.funcs:
            node, file = pkg.funcs[name]
            return Func(node, pkg, file)
        if name in pkg.values:
            node, file = pkg.values[name]
            pkg.cache[name] = UNKNOWN  # a cycle stays unknown
            pkg.cache[name] = None if node is None else self.eval(node, pkg, file, Env())
            return pkg.cache[name]
        return UNKNOWN

    # calls

    def call(self, fn: Any, args: list[Any], receiver: Any = None) -> Any:
        if callable(fn) and not isinstance(fn, Func):
            try:
                return fn(*args)
            except (TypeError, KeyError, AttributeError):
                return UNKNOWN
        if not isinstance(fn, Func):
            return UNKNOWN
        if self.depth > MAX_DEPTH:
            return UNKNOWN
        env = Env(fn.env)
        params = fn.node.child_by_field_name("parameters")
        position = 0
        if receiver is not None:
            rnode = fn.node.child_by_field_name("receiver")
            for decl in children(rnode):
                for n in decl.children_by_field_name("name"):
                    env.vars[fn.file.text(n)] = receiver[0]
        for decl in children(params) if params is not None else []:
            names = [fn.file.text(n) for n in decl.children_by_field_name("name")] or ["_"]
            for name in names:
                if decl.type == "variadic_parameter_declaration":
                    env.vars[name] = list(args[position:])
                    position = len(args)
                else:
                    env.vars[name] = args[position] if position < len(args) else UNKNOWN
                    position += 1
        body = fn.node.child_by_field_name("body")
        if body is None:
            return UNKNOWN
        self.depth += 1
        try:
            if body.type != "block":  # an expression body cannot happen in Go; be safe
                return self.eval(body, fn.pkg, fn.file, env)
            self.exec_block(body, fn.pkg, fn.file, env)
        except Return as ret:
            return ret.value
        finally:
            self.depth -= 1
        return None

    def method(self, struct_type: str, name: str, receiver: Any, args: list[Any]) -> Any:
        ipath, _, tname = struct_type.rpartition(".")
        pkg = self.package(ipath)
        if pkg is None or (tname, name) not in pkg.methods:
            return UNKNOWN
        node, file = pkg.methods[(tname, name)]
        return self.call(Func(node, pkg, file), args, receiver=(receiver,))

    # statements

    def exec_block(self, block: Any, pkg: Package, file: GoFile, env: Env) -> None:
        for stmt in children(block):
            if stmt.type == "statement_list":
                self.exec_block(stmt, pkg, file, env)
            else:
                self.exec(stmt, pkg, file, env)

    def exec(self, stmt: Any, pkg: Package, file: GoFile, env: Env) -> None:
        kind = stmt.type
        if kind == "return_statement":
            values = [self.eval(c, pkg, file, env) for c in _expressions(stmt)]
            raise Return(values[0] if len(values) == 1 else (values or None))
        if kind == "short_var_declaration":
            left = children(stmt.child_by_field_name("left"))
            right = [self.eval(c, pkg, file, env) for c in _expressions(stmt, "right")]
            for i, target in enumerate(left):
                env.vars[file.text(target)] = right[i] if len(right) == len(left) else UNKNOWN
            return
        if kind == "var_declaration":
            for spec in _walk(stmt, "var_spec"):
                names = [file.text(n) for n in spec.children_by_field_name("name")]
                value = spec.child_by_field_name("value")
                values = [self.eval(v, pkg, file, env) for v in children(value)] if value else []
                for i, name in enumerate(names):
                    env.vars[name] = values[i] if i < len(values) else None
            return
        if kind == "assignment_statement":
            left = children(stmt.child_by_field_name("left"))
            right = [self.eval(c, pkg, file, env) for c in _expressions(stmt, "right")]
            operator = file.text(stmt.child_by_field_name("operator"))
            for i, target in enumerate(left):
                value = right[i] if len(right) == len(left) else UNKNOWN
                if operator != "=":
                    value = UNKNOWN
                self.store(target, value, pkg, file, env)
            return
        if kind == "expression_statement":
            self.eval(children(stmt)[0], pkg, file, env)
            return
        if kind == "block":
            self.exec_block(stmt, pkg, file, env.__class__(env))
            return
        if kind == "if_statement":
            inner = Env(env)
            init = stmt.child_by_field_name("initializer")
            if init is not None:
                self.exec(init, pkg, file, inner)
            condition = self.eval(stmt.child_by_field_name("condition"), pkg, file, inner)
            consequence = stmt.child_by_field_name("consequence")
            alternative = stmt.child_by_field_name("alternative")
            if condition is True or condition is False:
                branch = consequence if condition else alternative
                if branch is not None:
                    self.exec(branch, pkg, file, Env(inner))
                return
            # Unknown condition: both branches' effects count (names that may exist are
            # accepted); a return inside a branch does not end the function.
            for branch in (consequence, alternative):
                if branch is not None:
                    with contextlib.suppress(Return):
                        self.exec(branch, pkg, file, Env(inner))
            return
        if kind == "for_statement":
            self._exec_for(stmt, pkg, file, env)
            return
        # go, defer, switch, inc/dec, labels, ...: no effect on schemas we can follow.

    def _exec_for(self, stmt: Any, pkg: Package, file: GoFile, env: Env) -> None:
        clause = next((c for c in children(stmt) if c.type == "range_clause"), None)
        body = stmt.child_by_field_name("body")
        if clause is None or body is None:
            return
        collection = self.eval(clause.child_by_field_name("right"), pkg, file, env)
        left = clause.child_by_field_name("left")
        names = [file.text(c) for c in children(left)] if left is not None else []
        if isinstance(collection, dict):
            items = list(collection.items())
        elif isinstance(collection, list):
            items = list(enumerate(collection))
        else:
            return
        for key, value in items:
            inner = Env(env)
            if names:
                inner.vars[names[0]] = key
            if len(names) > 1:
                inner.vars[names[1]] = value
            self.exec_block(body, pkg, file, inner)

    def store(self, target: Any, value: Any, pkg: Package, file: GoFile, env: Env) -> None:
        if target.type == "identifier":
            env.assign(file.text(target), value)
        elif target.type == "index_expression":
            container = self.eval(target.child_by_field_name("operand"), pkg, file, env)
            key = self.eval(target.child_by_field_name("index"), pkg, file, env)
            if isinstance(container, dict) and isinstance(key, str):
                container[key] = value
        elif target.type == "selector_expression":
            owner = self.eval(target.child_by_field_name("operand"), pkg, file, env)
            if isinstance(owner, Struct):
                owner.fields[file.text(target.child_by_field_name("field"))] = value

    # expressions

    def eval(self, node: Any, pkg: Package, file: GoFile, env: Env) -> Any:
        kind = node.type
        if kind in ("interpreted_string_literal", "raw_string_literal"):
            return go_string(file, node)
        if kind == "int_literal":
            try:
                return int(file.text(node).replace("_", ""), 0)
            except ValueError:
                return UNKNOWN
        if kind == "true":
            return True
        if kind == "false":
            return False
        if kind == "nil":
            return None
        if kind == "identifier":
            name = file.text(node)
            found, value = env.lookup(name)
            if found:
                return value
            if name in ("true", "false"):
                return name == "true"
            if name == "nil":
                return None
            if name in ("make", "append", "len", "delete", "new"):
                return name
            return self.package_value(pkg, name)
        if kind == "parenthesized_expression":
            return self.eval(children(node)[0], pkg, file, env)
        if kind == "unary_expression":
            operator = file.text(node.child_by_field_name("operator"))
            value = self.eval(node.child_by_field_name("operand"), pkg, file, env)
            if operator in ("&", "*"):
                return value
            if operator == "!" and isinstance(value, bool):
                return not value
            return UNKNOWN
        if kind == "binary_expression":
            return self._binary(node, pkg, file, env)
        if kind == "selector_expression":
            return self._selector(node, pkg, file, env)
        if kind == "composite_literal":
            return self._composite(
                node.child_by_field_name("type"), node.child_by_field_name("body"), pkg, file, env
            )
        if kind == "literal_value":  # elided type
            return self._composite(None, node, pkg, file, env)
        if kind == "call_expression":
            return self._call(node, pkg, file, env)
        if kind == "func_literal":
            return Func(node, pkg, file, env)
        if kind == "index_expression":
            container = self.eval(node.child_by_field_name("operand"), pkg, file, env)
            key = self.eval(node.child_by_field_name("index"), pkg, file, env)
            if isinstance(container, dict) and isinstance(key, str):
                return container.get(key, None)
            return UNKNOWN
        if kind == "type_assertion_expression":
            return self.eval(node.child_by_field_name("operand"), pkg, file, env)
        return UNKNOWN

    def _binary(self, node: Any, pkg: Package, file: GoFile, env: Env) -> Any:
        operator = file.text(node.child_by_field_name("operator"))
        a = self.eval(node.child_by_field_name("left"), pkg, file, env)
        b = self.eval(node.child_by_field_name("right"), pkg, file, env)
        if operator == "+" and isinstance(a, str) and isinstance(b, str):
            return a + b
        comparable = (str, int, bool, Symbol)
        if operator in ("==", "!=") and isinstance(a, comparable) and isinstance(b, comparable):
            return (a == b) == (operator == "==")
        if operator == "&&" and (a is False or b is False):
            return False
        if operator == "||" and (a is True or b is True):
            return True
        if operator in ("&&", "||") and isinstance(a, bool) and isinstance(b, bool):
            return (a and b) if operator == "&&" else (a or b)
        return UNKNOWN

    def _selector(self, node: Any, pkg: Package, file: GoFile, env: Env) -> Any:
        operand = node.child_by_field_name("operand")
        name = file.text(node.child_by_field_name("field"))
        if operand.type == "identifier":
            alias = file.text(operand)
            found, _ = env.lookup(alias)
            local = found or alias in pkg.values or alias in pkg.funcs
            if not local and alias in file.imports:
                target = self.package(file.imports[alias])
                if target is None:
                    return Symbol(f"{file.imports[alias]}.{name}")
                return self.package_value(target, name)
        owner = self.eval(operand, pkg, file, env)
        if isinstance(owner, Struct):
            if name in owner.fields:
                return owner.fields[name]
            return _BoundMethod(owner, name)
        return UNKNOWN

    def _call(self, node: Any, pkg: Package, file: GoFile, env: Env) -> Any:
        function = node.child_by_field_name("function")
        argument_list = node.child_by_field_name("arguments")
        arg_nodes = children(argument_list) if argument_list is not None else []
        short = file.text(function)
        if short in ("make", "new"):
            return {} if arg_nodes and file.text(arg_nodes[0]).startswith("map[") else UNKNOWN
        args = [self.eval(a, pkg, file, env) for a in arg_nodes]
        if short == "append" and args and isinstance(args[0], list):
            return [*args[0], *args[1:]]
        if short == "delete" and len(args) == 2 and isinstance(args[0], dict):
            args[0].pop(args[1], None)
            return None
        key = _builtin_key(short, file)
        if key in self.builtins:
            return self.call(self.builtins[key], args)
        fn = self.eval(function, pkg, file, env)
        if isinstance(fn, _BoundMethod):
            return self.method(fn.owner.type, fn.name, fn.owner, args)
        if isinstance(fn, Symbol) and args and len(args) == 1:
            return UNKNOWN
        return self.call(fn, args)

    def _composite(self, type_node: Any, body: Any, pkg: Package, file: GoFile, env: Env) -> Any:
        type_text = file.text(type_node) if type_node is not None else ""
        elements = [c for c in children(body) if c.type in ("keyed_element", "literal_element")]
        is_map = type_text.startswith("map[")
        is_list = type_text.startswith("[")
        if is_list or (type_node is None and elements and elements[0].type == "literal_element"):
            return [self.eval(children(e)[0], pkg, file, env) for e in elements]
        if is_map or (
            type_node is None
            and elements
            and _literal_key(file, elements[0]) is not None
            and _is_string_key(elements[0])
        ):
            out: dict[str, Any] = {}
            for element in elements:
                if element.type != "keyed_element":
                    continue
                key_node, value_node = children(element)[0], children(element)[1]
                key = self.eval(_unwrap(key_node), pkg, file, env)
                value = self._element(value_node, pkg, file, env)
                if isinstance(key, str):
                    out[key] = value
            return out
        struct = Struct(self._qualify(type_text, file, pkg))
        for element in elements:
            if element.type != "keyed_element":
                continue
            key_node, value_node = children(element)[0], children(element)[1]
            struct.fields[file.text(key_node)] = self._element(value_node, pkg, file, env)
        return struct

    def _element(self, node: Any, pkg: Package, file: GoFile, env: Env) -> Any:
        inner = _unwrap(node)
        if inner.type == "literal_value":
            return self._composite(None, inner, pkg, file, env)
        return self.eval(inner, pkg, file, env)

    def _qualify(self, type_text: str, file: GoFile, pkg: Package) -> str:
        type_text = type_text.lstrip("*&")
        if "." in type_text:
            alias, _, name = type_text.partition(".")
            return f"{file.imports.get(alias, alias)}.{name}"
        return f"{pkg.path}.{type_text}" if type_text else ""

    # builtins (what these tpgresource helpers do, read from their source)

    @staticmethod
    def _merge(*maps: Any) -> Any:
        out: dict[str, Any] = {}
        for m in maps:
            if not isinstance(m, dict):
                return UNKNOWN
            out.update(m)
        return out

    def _datasource_schema(self, rs: Any) -> Any:
        if not isinstance(rs, dict):
            return UNKNOWN
        out: dict[str, Any] = {}
        for key, value in rs.items():
            if not isinstance(value, Struct):
                out[key] = UNKNOWN
                continue
            elem = value.fields.get("Elem")
            if isinstance(elem, Struct) and elem.type == f"{SDK}.Resource":
                elem = Struct(
                    elem.type, {"Schema": self._datasource_schema(elem.fields.get("Schema"))}
                )
            out[key] = Struct(
                value.type, {"Computed": True, "Type": value.fields.get("Type"), "Elem": elem}
            )
        return out

    @staticmethod
    def _fix_flags(schema: Any, required: Any, *keys: Any) -> None:
        if not isinstance(schema, dict):
            return
        for key in keys:
            if isinstance(schema.get(key), Struct):
                schema[key].fields.update(
                    {"Computed": False, "Optional": not required, "Required": bool(required)}
                )

    @staticmethod
    def _delete_fields(schema: Any, *keys: Any) -> None:
        if isinstance(schema, dict):
            for key in keys:
                schema.pop(key, None)

    @staticmethod
    def _maps_copy(dst: Any, src: Any) -> None:
        if isinstance(dst, dict) and isinstance(src, dict):
            dst.update(src)


@dataclass
class _BoundMethod:
    owner: Struct
    name: str


def _field_text(file: GoFile, literal: Any, name: str) -> str:
    """The source text of field `name` in a struct literal (e.g. an enum constant)."""
    for element in children(literal.child_by_field_name("body")):
        if element.type == "keyed_element" and file.text(children(element)[0]) == name:
            return file.text(children(element)[1])
    return ""


def _builtin_key(function_text: str, file: GoFile) -> str:
    alias, _, name = function_text.partition(".")
    path = file.imports.get(alias, "")
    if path.endswith("/google/tpgresource"):
        return f"tpgresource.{name}"
    if path == "maps":
        return f"maps.{name}"
    return function_text


def _unwrap(node: Any) -> Any:
    while node.type == "literal_element":
        node = children(node)[0]
    return node


def _literal_key(file: GoFile, element: Any) -> Any:
    return children(element)[0] if element.type == "keyed_element" else None


def _is_string_key(element: Any) -> bool:
    key = _unwrap(children(element)[0])
    return key.type in ("interpreted_string_literal", "raw_string_literal")


def _expressions(stmt: Any, field_name: str | None = None) -> list[Any]:
    node = stmt.child_by_field_name(field_name) if field_name else None
    if field_name is None:
        found = [c for c in children(stmt) if c.type == "expression_list"]
        node = found[0] if found else None
        if node is None:
            return [c for c in children(stmt)]
    return children(node) if node is not None else []


def _walk(node: Any, *types: str) -> Iterator[Any]:
    for child in node.named_children:
        if child.type in types:
            yield child
        else:
            yield from _walk(child, *types)


def _default_alias(import_path: str) -> str:
    last = import_path.rstrip("/").split("/")[-1]
    if re.fullmatch(r"v\d+", last):
        last = import_path.rstrip("/").split("/")[-2]
    return last.replace("-", "_").split(".")[0]


# --- from evaluated values to schema facts ------------------------------------------------


def _mode(fields: dict[str, Any]) -> str | None:
    required = fields.get("Required") is True
    optional = fields.get("Optional") is True
    computed = fields.get("Computed") is True
    if required:
        return "r"
    if optional and computed:
        return "oc"
    if optional:
        return "o"
    if computed:
        return "c"
    return None


def sdk_block(schema_map: Any, top: Any = None) -> dict[str, Any]:
    """helper/schema: map[string]*schema.Schema -> facts of one block."""
    out: dict[str, Any] = {"attributes": {}, "blocks": {}}
    if not isinstance(schema_map, dict):
        out["open"] = True
        return out
    for name, spec in sorted(schema_map.items()):
        if not isinstance(spec, Struct):
            out["open"] = True
            continue
        fields = spec.fields
        type_name = (
            fields["Type"].name.rsplit(".", 1)[-1]
            if isinstance(fields.get("Type"), Symbol)
            else None
        )
        if type_name is None:
            out["open"] = True
            continue
        mode = _mode(fields)
        elem = fields.get("Elem")
        nested = isinstance(elem, Struct) and elem.type == f"{SDK}.Resource"
        as_attribute = isinstance(fields.get("ConfigMode"), Symbol) and fields[
            "ConfigMode"
        ].name.endswith("SchemaConfigModeAttr")
        if type_name in ("TypeList", "TypeSet") and isinstance(elem, Struct) and nested:
            inner = sdk_block(elem.fields.get("Schema"))
            nesting = "list" if type_name == "TypeList" else "set"
            if mode == "c" or as_attribute:
                out["attributes"][name] = {"mode": mode, "nesting": nesting, "block": inner}
                continue
            block: dict[str, Any] = {"nesting": nesting, **inner}
            min_items = fields.get("MinItems")
            if mode == "r":
                block["min_items"] = max(1, min_items if isinstance(min_items, int) else 0)
            elif isinstance(min_items, int) and min_items > 0:
                block["min_items"] = min_items
            if isinstance(fields.get("MaxItems"), int) and fields["MaxItems"] > 0:
                block["max_items"] = fields["MaxItems"]
            out["blocks"][name] = block
        elif mode is None:
            out["open"] = True
        else:
            out["attributes"][name] = mode
    if top is not None:
        out["attributes"].setdefault("id", "oc")
        timeouts = top.fields.get("Timeouts")
        if isinstance(timeouts, Struct):
            names = sorted(k.lower() for k in timeouts.fields if k != "Default")
            out["blocks"]["timeouts"] = {
                "nesting": "single",
                "attributes": {n: "o" for n in names or ["create", "update", "delete"]},
                "blocks": {},
            }
    if not out.get("open"):
        out.pop("open", None)
    return out


FW_NESTING = {"List": "list", "Set": "set", "Single": "single", "Map": "map"}


def fw_block(attributes: Any, blocks: Any) -> dict[str, Any]:
    """plugin-framework: Attributes/Blocks maps -> facts of one block."""
    out: dict[str, Any] = {"attributes": {}, "blocks": {}}
    for name, attr in (
        sorted((attributes or {}).items()) if isinstance(attributes, dict) else [("", None)]
    ):
        if not isinstance(attr, Struct):
            out["open"] = True
            continue
        kind = attr.type.rsplit(".", 1)[-1]
        mode = _mode(attr.fields) or "o"
        match = re.fullmatch(r"(List|Set|Single|Map)NestedAttribute", kind)
        if match:
            obj = attr.fields.get("NestedObject") if match[1] != "Single" else attr
            inner = fw_block(getattr(obj, "fields", {}).get("Attributes"), None)
            out["attributes"][name] = {
                "mode": mode,
                "nesting": FW_NESTING[match[1]],
                "block": inner,
            }
        else:
            out["attributes"][name] = mode
    if blocks is not None and not isinstance(blocks, dict):
        out["open"] = True
        blocks = {}
    for name, block in sorted((blocks or {}).items()):
        if not isinstance(block, Struct):
            out["open"] = True
            continue
        match = re.fullmatch(r"(List|Set|Single)NestedBlock", block.type.rsplit(".", 1)[-1])
        if match is None:
            out["open"] = True
            continue
        obj = block.fields.get("NestedObject") if match[1] != "Single" else block
        fields = getattr(obj, "fields", {})
        inner = fw_block(fields.get("Attributes", {}), fields.get("Blocks", {}))
        out["blocks"][name] = {"nesting": FW_NESTING[match[1]], **inner}
    if not out.get("open"):
        out.pop("open", None)
    return out


# --- registrations ------------------------------------------------------------------------


def google_registrations(interp: Interpreter) -> Iterator[tuple[str, str, Any]]:
    """(kind, type name, schema facts) for every registry.Schema / registry.Framework*."""
    listing = (
        interp.tree._git(
            "grep", "-l", "-E", r"registry\.(Schema|Framework)", interp.tree.ref, "--", "google/"
        )
        if interp.tree.git
        else b""
    )
    files = sorted({line.split(":", 1)[1] for line in listing.decode().splitlines()})
    directories = sorted({f.rsplit("/", 1)[0] for f in files if not f.endswith("_test.go")})
    for directory in directories:
        pkg = interp.package(f"{interp.module}/{directory}")
        assert pkg is not None
        for file in pkg.files:
            for literal in _walk(file.root, "composite_literal"):
                type_text = file.text(literal.child_by_field_name("type"))
                if type_text not in (
                    "registry.Schema",
                    "registry.FrameworkResource",
                    "registry.FrameworkDataSource",
                ):
                    continue
                value = interp._composite(
                    literal.child_by_field_name("type"),
                    literal.child_by_field_name("body"),
                    pkg,
                    file,
                    Env(),
                )
                name = value.fields.get("Name")
                if not isinstance(name, str):
                    continue
                if type_text == "registry.Schema":
                    kind_name = _field_text(file, literal, "Type")
                    if not kind_name:
                        continue  # list resources (Func:), not schemas
                    resource = value.fields.get("Schema")
                    facts = (
                        sdk_block(resource.fields.get("Schema"), top=resource)
                        if isinstance(resource, Struct)
                        else {"attributes": {}, "blocks": {}, "open": True}
                    )
                    yield ("data" if "DataSource" in kind_name else "resource"), name, facts
                else:
                    kind = "resource" if type_text.endswith("Resource") else "data"
                    constructor = value.fields.get("Func")
                    yield kind, name, framework_facts(interp, constructor)[1]


def framework_facts(interp: Interpreter, constructor: Any) -> tuple[str | None, dict[str, Any]]:
    """Type name (from Metadata) and schema facts (from Schema) of a framework type."""
    instance = interp.call(constructor, [])
    if not isinstance(instance, Struct):
        return None, {"attributes": {}, "blocks": {}, "open": True}
    request = Struct("", {"ProviderTypeName": interp.provider_name})
    response = Struct("", {})
    interp.method(instance.type, "Metadata", instance, [UNKNOWN, request, response])
    type_name = response.fields.get("TypeName")
    response = Struct("", {})
    interp.method(instance.type, "Schema", instance, [UNKNOWN, Struct(""), response])
    schema = response.fields.get("Schema")
    if not isinstance(schema, Struct):
        return type_name if isinstance(type_name, str) else None, {
            "attributes": {},
            "blocks": {},
            "open": True,
        }
    facts = fw_block(schema.fields.get("Attributes", {}), schema.fields.get("Blocks", {}))
    return (type_name if isinstance(type_name, str) else None), facts


def framework_registrations(
    interp: Interpreter, provider_dir: str
) -> Iterator[tuple[str, str, Any]]:
    """Resources()/DataSources() of the provider type in provider_dir."""
    pkg = interp.package(f"{interp.module}/{provider_dir}")
    assert pkg is not None, provider_dir
    for (_receiver, name), (node, file) in sorted(pkg.methods.items()):
        if name not in ("Resources", "DataSources"):
            continue
        kind = "resource" if name == "Resources" else "data"
        body = node.child_by_field_name("body")
        for literal in _walk(body, "composite_literal"):
            for element in children(literal.child_by_field_name("body")):
                constructor = interp.eval(_unwrap(element), pkg, file, Env())
                type_name, facts = framework_facts(interp, constructor)
                if type_name:
                    yield kind, type_name, facts
                else:
                    print(f"  cannot name {file.text(element)}", file=sys.stderr)


def extract(tree: Tree, provider: str) -> dict[str, Any]:
    module, _, style = PROVIDERS[provider]
    interp = Interpreter(tree, module, provider)
    found: dict[str, dict[str, Any]] = {"resource": {}, "data": {}}
    if style == "registry":
        registrations = google_registrations(interp)
    elif style == "framework":
        registrations = framework_registrations(interp, "internal")
    else:
        registrations = framework_registrations(interp, "internal/provider")
    for kind, name, facts in registrations:
        found[kind][name] = facts
    return {"resource_types": found["resource"], "data_sources": found["data"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="git directory (bare is fine) or checkout")
    parser.add_argument("ref", help="tag, e.g. v7.45.0")
    parser.add_argument("--provider", required=True, choices=sorted(PROVIDERS))
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    tree = Tree(args.source, args.ref)
    facts = extract(tree, args.provider)
    module, source, _ = PROVIDERS[args.provider]
    document = {
        "_about": (
            "Schema facts of a Terraform provider, read from its Go source by "
            "scripts/provider_schema.py; checked against infra/ by scripts/check_infra_schema.py. "
            "Attribute modes: r required, o optional, c computed, oc optional+computed. "
            "Do not edit: regenerate (docs/deployment.md, 'Provider schema facts')."
        ),
        "provider": source,
        "version": args.ref.lstrip("v"),
        "source": f"https://{module}",
        "ref": args.ref,
        "commit": tree.commit,
        **facts,
    }
    open_types = sorted(
        name
        for kind in ("resource_types", "data_sources")
        for name, block in facts[kind].items()
        if _has_open(block)
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(_dump(document))
    print(
        f"{args.output}: {len(facts['resource_types'])} resource types, "
        f"{len(facts['data_sources'])} data sources; {len(open_types)} partly unread "
        f"({', '.join(open_types[:8])}{', ...' if len(open_types) > 8 else ''})"
    )
    return 0


def _has_open(block: dict[str, Any]) -> bool:
    if block.get("open"):
        return True
    nested = [b for b in block.get("blocks", {}).values()]
    nested += [a["block"] for a in block.get("attributes", {}).values() if isinstance(a, dict)]
    return any(_has_open(b) for b in nested)


def _dump(document: dict[str, Any]) -> str:
    """One type per line: small diffs when a version changes."""
    lines = ["{"]
    head = {k: v for k, v in document.items() if k not in ("resource_types", "data_sources")}
    for key, value in head.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value)},")
    for i, kind in enumerate(("resource_types", "data_sources")):
        lines.append(f"  {json.dumps(kind)}: {{")
        items = sorted(document[kind].items())
        for j, (name, block) in enumerate(items):
            comma = "," if j < len(items) - 1 else ""
            lines.append(f"    {json.dumps(name)}: {json.dumps(block, sort_keys=True)}{comma}")
        lines.append("  }" + ("," if i == 0 else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
