"""Check infra/*.tf against the providers' schemas, without the providers.

    python3 scripts/check_infra_schema.py [--infra infra] [--schemas infra/provider-schemas]

`terraform validate` needs the provider binaries, which come from a registry this
machine (and CI) cannot reach. This check does the part of it that catches most
mistakes, from schema facts kept in the repository (infra/provider-schemas/*.json,
taken from each provider's source at the pinned version by scripts/provider_schema.py):

- every `resource` type and `data` source exists in its provider at that version;
- every argument and nested block in them exists there (and is not computed-only),
  every required argument and block is given, blocks within their max_items; `dynamic`
  blocks name a real block and their `content` is checked like a static one;
- every reference `<type>.<name>[...].<attribute>...`, `data.<type>.<name>...`, and every
  `lifecycle.ignore_changes` path, names a declared resource and an attribute or block its
  schema has, at each level; `var.<name>` and `local.<name>` are declared;
- infra/versions.tf pins each provider to the patch series its facts come from (a
  constraint that admits other minor versions would make the facts the wrong ones).

Only the standard library: `make lint` runs it on a fresh machine with python3.
Exit status 1 with one line per problem (file:line: message), 0 when all is well.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# --- a small HCL reader: blocks, attributes, and expression tokens with line numbers ---------


@dataclass
class Token:
    kind: str  # ident, number, string, punct, newline
    text: str
    line: int
    inner: list[Token] = field(default_factory=list)  # tokens of ${...}/%{...} in a template


@dataclass
class Attribute:
    name: str
    tokens: list[Token]
    line: int


@dataclass
class Block:
    type: str
    labels: list[str]
    body: list[Attribute | Block]
    line: int

    def attributes(self) -> dict[str, Attribute]:
        return {item.name: item for item in self.body if isinstance(item, Attribute)}

    def blocks(self, kind: str | None = None) -> list[Block]:
        return [i for i in self.body if isinstance(i, Block) and kind in (None, i.type)]


class HCLError(Exception):
    pass


PUNCT = sorted(
    [
        "==",
        "!=",
        "<=",
        ">=",
        "&&",
        "||",
        "=>",
        "...",
        "{",
        "}",
        "[",
        "]",
        "(",
        ")",
        "=",
        ",",
        ".",
        ":",
        "?",
        "!",
        "+",
        "-",
        "*",
        "/",
        "%",
        "<",
        ">",
    ],
    key=len,
    reverse=True,
)


class Lexer:
    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line = text, 0, 1

    def error(self, message: str) -> HCLError:
        return HCLError(f"line {self.line}: {message}")

    def tokens(self, until_brace: bool = False) -> list[Token]:
        out: list[Token] = []
        depth = 0
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "\n":
                out.append(Token("newline", "\n", self.line))
                self.line += 1
                self.pos += 1
            elif ch in " \t\r":
                self.pos += 1
            elif ch == "#" or text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos)
                if end < 0:
                    raise self.error("unterminated comment")
                self.line += text.count("\n", self.pos, end)
                self.pos = end + 2
            elif ch == '"':
                out.append(self._string())
            elif text.startswith("<<", self.pos) and re.match(r"<<-?[A-Za-z_]", text[self.pos :]):
                out.append(self._heredoc())
            elif ch.isalpha() or ch == "_":
                match = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*").match(text, self.pos)
                assert match is not None
                out.append(Token("ident", match[0], self.line))
                self.pos = match.end()
            elif ch.isdigit():
                match = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?").match(text, self.pos)
                assert match is not None
                out.append(Token("number", match[0], self.line))
                self.pos = match.end()
            else:
                punct = next((p for p in PUNCT if text.startswith(p, self.pos)), None)
                if punct is None:
                    raise self.error(f"unexpected character {ch!r}")
                if until_brace and punct == "}" and depth == 0:
                    self.pos += 1
                    return out
                depth += {"{": 1, "}": -1}.get(punct, 0)
                out.append(Token("punct", punct, self.line))
                self.pos += len(punct)
        if until_brace:
            raise self.error("unterminated template interpolation")
        return out

    def _template_part(self) -> list[Token]:
        self.pos += 2  # ${ or %{
        if self.text.startswith("~", self.pos):
            self.pos += 1
        inner = self.tokens(until_brace=True)
        return [t for t in inner if t.kind != "newline" and t.text != "~"]

    def _string(self) -> Token:
        start_line = self.line
        self.pos += 1
        inner: list[Token] = []
        chars: list[str] = []
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "\\":
                chars.append(text[self.pos : self.pos + 2])
                self.pos += 2
            elif text.startswith(("$${", "%%{"), self.pos):
                chars.append(text[self.pos + 1 : self.pos + 3])
                self.pos += 3
            elif text.startswith(("${", "%{"), self.pos):
                inner += self._template_part()
            elif ch == '"':
                self.pos += 1
                return Token("string", "".join(chars), start_line, inner)
            elif ch == "\n":
                raise self.error("newline in a quoted string")
            else:
                chars.append(ch)
                self.pos += 1
        raise self.error("unterminated string")

    def _heredoc(self) -> Token:
        match = re.compile(r"<<-?([A-Za-z_][A-Za-z0-9_]*)[ \t]*\n").match(self.text, self.pos)
        if match is None:
            raise self.error("bad heredoc")
        start_line, marker = self.line, match[1]
        self.pos = match.end()
        self.line += 1
        inner: list[Token] = []
        text = self.text
        while self.pos < len(text):
            line_end = text.find("\n", self.pos)
            line_end = len(text) if line_end < 0 else line_end
            if text[self.pos : line_end].strip() == marker:
                self.pos = line_end
                return Token("string", "", start_line, inner)
            while self.pos < line_end:
                if text.startswith(("$${", "%%{"), self.pos):
                    self.pos += 3
                elif text.startswith(("${", "%{"), self.pos):
                    inner += self._template_part()
                    line_end = text.find("\n", self.pos)
                    line_end = len(text) if line_end < 0 else line_end
                else:
                    self.pos += 1
            self.pos = line_end + 1
            self.line += 1
        raise self.error(f"heredoc {marker} is not closed")


def parse_body(tokens: list[Token], pos: int = 0, closing: bool = False) -> tuple[list[Any], int]:
    items: list[Attribute | Block] = []
    while pos < len(tokens):
        token = tokens[pos]
        if token.kind == "newline":
            pos += 1
            continue
        if token.text == "}" and token.kind == "punct":
            if closing:
                return items, pos + 1
            raise HCLError(f"line {token.line}: unexpected }}")
        if token.kind != "ident":
            raise HCLError(f"line {token.line}: expected an argument or block, got {token.text!r}")
        following = tokens[pos + 1] if pos + 1 < len(tokens) else None
        if following is not None and following.kind == "punct" and following.text == "=":
            start, depth, pos = pos + 2, 0, pos + 2
            while pos < len(tokens):
                t = tokens[pos]
                if t.kind == "punct" and t.text in "([{":
                    depth += 1
                elif t.kind == "punct" and t.text in ")]}":
                    if depth == 0:
                        break  # the closing brace of a one-line block
                    depth -= 1
                elif t.kind == "newline" and depth == 0:
                    break
                pos += 1
            expression = [t for t in tokens[start:pos] if t.kind != "newline"]
            items.append(Attribute(token.text, expression, token.line))
            continue
        labels: list[str] = []
        pos += 1
        while pos < len(tokens) and tokens[pos].kind in ("string", "ident"):
            labels.append(tokens[pos].text)
            pos += 1
        if pos >= len(tokens) or tokens[pos].text != "{":
            raise HCLError(f"line {token.line}: expected {{ after block {token.text}")
        body, pos = parse_body(tokens, pos + 1, closing=True)
        items.append(Block(token.text, labels, body, token.line))
    if closing:
        raise HCLError("unclosed block")
    return items, pos


def parse_file(path: Path) -> list[Any]:
    body, _ = parse_body(Lexer(path.read_text()).tokens())
    return body


# --- references in expressions ---------------------------------------------------------


@dataclass
class Step:
    name: str | None  # an attribute name, or None for an index/splat
    line: int


def flatten(tokens: list[Token]) -> Iterator[list[Token]]:
    """The token sequences in which references can appear (template parts separately)."""
    yield tokens
    for token in tokens:
        if token.inner:
            yield from flatten(token.inner)


def traversals(tokens: list[Token]) -> Iterator[tuple[str, list[Step], int]]:
    """(root, steps, line) for every `a.b[c].d` in an expression (object keys excluded)."""
    for sequence in flatten(tokens):
        i = 0
        while i < len(sequence):
            token = sequence[i]
            previous = sequence[i - 1] if i else None
            following = sequence[i + 1] if i + 1 < len(sequence) else None
            is_root = (
                token.kind == "ident"
                and not (previous is not None and previous.kind == "punct" and previous.text == ".")
                and not (following is not None and following.text in ("(", "=", ":"))
            )
            if not is_root:
                i += 1
                continue
            steps: list[Step] = []
            j = i + 1
            while j < len(sequence):
                t = sequence[j]
                if t.text == "." and j + 1 < len(sequence):
                    nxt = sequence[j + 1]
                    if nxt.kind == "ident":
                        steps.append(Step(nxt.text, nxt.line))
                    else:  # .0 or .* (legacy index, splat)
                        steps.append(Step(None, nxt.line))
                    j += 2
                elif t.text == "[":
                    depth, k = 0, j
                    while k < len(sequence):
                        if sequence[k].text == "[":
                            depth += 1
                        elif sequence[k].text == "]":
                            depth -= 1
                            if depth == 0:
                                break
                        k += 1
                    steps.append(Step(None, t.line))
                    j = k + 1
                else:
                    break
            yield token.text, steps, token.line
            i += 1


# --- the schema facts -------------------------------------------------------------------

META_RESOURCE = {"count", "for_each", "depends_on", "provider"}
META_BLOCKS = {"lifecycle", "provisioner", "connection"}
LIFECYCLE = {
    "attributes": {
        "create_before_destroy": "o",
        "prevent_destroy": "o",
        "ignore_changes": "o",
        "replace_triggered_by": "o",
    },
    "blocks": {
        "precondition": {"attributes": {"condition": "r", "error_message": "r"}, "blocks": {}},
        "postcondition": {"attributes": {"condition": "r", "error_message": "r"}, "blocks": {}},
    },
}
SKIPPED_ROOTS = {"module", "path", "terraform", "each", "count", "self"}


@dataclass
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class Config:
    files: dict[str, list[Any]]
    resources: dict[tuple[str, str], tuple[str, Block]] = field(default_factory=dict)
    data: dict[tuple[str, str], tuple[str, Block]] = field(default_factory=dict)
    variables: set[str] = field(default_factory=set)
    locals: set[str] = field(default_factory=set)
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)  # local name -> spec


class Checker:
    def __init__(self, infra: Path, schemas: Path) -> None:
        self.infra = infra
        self.problems: list[Problem] = []
        self.facts: dict[str, dict[str, Any]] = {}
        for path in sorted(schemas.glob("*.json")):
            document = json.loads(path.read_text())
            self.facts[document["provider"]] = document
        files = {}
        for path in sorted(infra.glob("*.tf")):
            try:
                files[path.name] = parse_file(path)
            except HCLError as exc:
                self.problems.append(Problem(f"{infra.name}/{path.name}", 0, str(exc)))
        self.config = Config(files)

    def report(self, file: str, line: int, message: str) -> None:
        self.problems.append(Problem(f"{self.infra.name}/{file}", line, message))

    # declarations

    def collect(self) -> None:
        for file, body in self.config.files.items():
            for block in (b for b in body if isinstance(b, Block)):
                if block.type in ("resource", "data") and len(block.labels) == 2:
                    table = self.config.resources if block.type == "resource" else self.config.data
                    key = (block.labels[0], block.labels[1])
                    if key in table:
                        self.report(
                            file, block.line, f"{block.type} {'.'.join(key)} declared twice"
                        )
                    table[key] = (file, block)
                elif block.type == "variable" and block.labels:
                    self.config.variables.add(block.labels[0])
                elif block.type == "locals":
                    self.config.locals |= set(block.attributes())
                elif block.type == "terraform":
                    for required in block.blocks("required_providers"):
                        for name, attribute in required.attributes().items():
                            self.config.providers[name] = {
                                "file": file,
                                "line": attribute.line,
                                **object_strings(attribute.tokens),
                            }

    def provider_facts(self, type_name: str) -> dict[str, Any] | None:
        local = type_name.split("_", 1)[0]
        spec = self.config.providers.get(local)
        if spec is None:
            return None
        return self.facts.get(spec.get("source", f"hashicorp/{local}"))

    # versions

    def check_versions(self) -> None:
        for name, spec in sorted(self.config.providers.items()):
            source = spec.get("source", f"hashicorp/{name}")
            facts = self.facts.get(source)
            if facts is None:
                self.report(
                    spec["file"],
                    spec["line"],
                    f"no schema facts for provider {source}: add them (scripts/provider_schema.py)",
                )
                continue
            constraint = spec.get("version", "")
            problem = pinned_problem(constraint, facts["version"])
            if problem:
                self.report(spec["file"], spec["line"], f"provider {source}: {problem}")

    # resources and data sources

    def check_blocks(self) -> None:
        for kind, table in (("resource", self.config.resources), ("data", self.config.data)):
            for (type_name, name), (file, block) in sorted(table.items()):
                facts = self.provider_facts(type_name)
                label = f"{'data.' if kind == 'data' else ''}{type_name}.{name}"
                if facts is None:
                    self.report(file, block.line, f"{label}: no provider declares {type_name}")
                    continue
                types = facts["resource_types" if kind == "resource" else "data_sources"]
                if type_name not in types:
                    near = _near(type_name, types)
                    self.report(
                        file,
                        block.line,
                        f"{label}: {facts['provider']} {facts['version']} has no "
                        f"{'resource type' if kind == 'resource' else 'data source'} "
                        f"{type_name}{near}",
                    )
                    continue
                self.check_body(file, block, types[type_name], label, top=kind)
                self.check_ignore_changes(file, block, types[type_name], label)

    def check_body(
        self, file: str, block: Block, schema: dict[str, Any], where: str, top: str | None = None
    ) -> None:
        if schema.get("open"):
            self.report(file, block.line, f"{where}: the schema facts of this block are incomplete")
            return
        attributes, blocks = schema["attributes"], schema["blocks"]
        given = set()
        for item in block.body:
            if isinstance(item, Attribute):
                given.add(item.name)
                if top and item.name in META_RESOURCE:
                    continue
                spec = attributes.get(item.name)
                if spec is None:
                    if item.name in blocks:
                        self.report(
                            file, item.line, f"{where}: {item.name} is a block, not an argument"
                        )
                    else:
                        self.report(
                            file,
                            item.line,
                            f"{where}: unsupported argument {item.name}"
                            + _near(item.name, attributes),
                        )
                    continue
                mode = spec if isinstance(spec, str) else spec.get("mode")
                if mode == "c":
                    self.report(
                        file, item.line, f"{where}: {item.name} is computed, it cannot be set"
                    )
                if isinstance(spec, dict):
                    self.check_object(file, item, spec, f"{where}.{item.name}")
                continue
            if item.type == "dynamic":
                name = item.labels[0] if item.labels else ""
                given.add(name)
                if name not in blocks:
                    self.report(
                        file,
                        item.line,
                        f"{where}: unsupported block type {name}{_near(name, blocks)}",
                    )
                    continue
                extra = set(item.attributes()) - {"for_each", "iterator", "labels"}
                for attribute in sorted(extra):
                    self.report(
                        file, item.line, f"{where}: dynamic {name}: unsupported {attribute}"
                    )
                for content in item.blocks("content"):
                    self.check_body(file, content, blocks[name], f"{where}.{name}")
                continue
            if top and item.type in META_BLOCKS:
                if item.type == "lifecycle":
                    self.check_body(file, item, LIFECYCLE, f"{where}.lifecycle")
                continue
            given.add(item.type)
            if item.type not in blocks:
                hint = (
                    " (an attribute: use `=`)"
                    if item.type in attributes
                    else _near(item.type, blocks)
                )
                self.report(file, item.line, f"{where}: unsupported block type {item.type}{hint}")
                continue
            self.check_body(file, item, blocks[item.type], f"{where}.{item.type}")
        for name, spec in sorted(attributes.items()):
            mode = spec if isinstance(spec, str) else spec.get("mode")
            if mode == "r" and name not in given:
                self.report(file, block.line, f"{where}: the argument {name} is required")
        for name, spec in sorted(blocks.items()):
            count = len(block.blocks(name))
            if spec.get("min_items", 0) > 0 and name not in given:
                self.report(file, block.line, f"{where}: at least one {name} block is required")
            if "max_items" in spec and count > spec["max_items"]:
                self.report(
                    file, block.line, f"{where}: at most {spec['max_items']} {name} block(s)"
                )

    def check_object(self, file: str, item: Attribute, spec: dict[str, Any], where: str) -> None:
        """A nested attribute given as an object literal: its keys must exist."""
        tokens = item.tokens
        if not tokens or tokens[0].text != "{" or spec.get("nesting") != "single":
            return
        nested = spec["block"]
        depth = 0
        for i, token in enumerate(tokens):
            if token.text in "{[(" and token.kind == "punct":
                depth += 1
            elif token.text in "}])" and token.kind == "punct":
                depth -= 1
            elif (
                depth == 1
                and token.kind in ("ident", "string")
                and i + 1 < len(tokens)
                and tokens[i + 1].text == "="
                and token.text not in nested["attributes"]
            ):
                self.report(file, token.line, f"{where}: unsupported attribute {token.text}")

    def check_ignore_changes(
        self, file: str, block: Block, schema: dict[str, Any], label: str
    ) -> None:
        for lifecycle in block.blocks("lifecycle"):
            attribute = lifecycle.attributes().get("ignore_changes")
            if attribute is None:
                continue
            for root, steps, line in traversals(attribute.tokens):
                if root == "all":
                    continue
                self.check_path(file, line, schema, [Step(root, line), *steps], label)

    # references

    def check_references(self) -> None:
        for file, body in self.config.files.items():
            for attribute in walk_attributes(body):
                if attribute.name == "ignore_changes":
                    continue  # paths relative to the resource: check_ignore_changes
                for root, steps, line in traversals(attribute.tokens):
                    self.check_reference(file, root, steps, line)

    def check_reference(self, file: str, root: str, steps: list[Step], line: int) -> None:
        names = [s.name for s in steps]
        if root == "var":
            if names and names[0] not in self.config.variables:
                self.report(file, line, f"var.{names[0]} is not declared")
            return
        if root == "local":
            if names and names[0] not in self.config.locals:
                self.report(file, line, f"local.{names[0]} is not declared")
            return
        if root in SKIPPED_ROOTS:
            return
        if root == "data":
            if len(names) < 2 or names[0] is None or names[1] is None:
                return
            type_name, name, rest, table = names[0], names[1], steps[2:], self.config.data
            label = f"data.{type_name}.{name}"
            kind = "data_sources"
        else:
            declared_types = {t for t, _ in self.config.resources}
            if root not in declared_types:
                if re.match(r"[a-z0-9]+_", root) and root.split("_", 1)[0] in self.config.providers:
                    self.report(file, line, f"reference to {root}, which no resource declares")
                return
            if not names or names[0] is None:
                return
            type_name, name, rest, table = root, names[0], steps[1:], self.config.resources
            label = f"{type_name}.{name}"
            kind = "resource_types"
        if (type_name, name) not in table:
            self.report(file, line, f"reference to {label}, which is not declared")
            return
        facts = self.provider_facts(type_name)
        if facts is None or type_name not in facts[kind]:
            return  # reported at the declaration
        _, declaration = table[(type_name, name)]
        repeated = {"for_each", "count"} & set(declaration.attributes())
        if repeated and rest and rest[0].name is not None:
            self.report(
                file,
                line,
                f"{label} has {sorted(repeated)[0]}: index it ({label}[...].{rest[0].name})",
            )
            return
        while rest and rest[0].name is None:
            rest = rest[1:]
        self.check_path(file, line, facts[kind][type_name], rest, label)

    def check_path(
        self, file: str, line: int, schema: dict[str, Any], steps: list[Step], label: str
    ) -> None:
        block: dict[str, Any] | None = schema
        path = label
        for step in steps:
            if step.name is None:
                continue  # an index into a list/set/map
            if block is None:
                return  # inside a primitive value (map key, object attribute): not ours
            if block.get("open"):
                self.report(file, line, f"{path}: the schema facts of this block are incomplete")
                return
            if step.name in block["blocks"]:
                block = block["blocks"][step.name]
            elif step.name in block["attributes"]:
                spec = block["attributes"][step.name]
                block = spec["block"] if isinstance(spec, dict) else None
            else:
                known = {**block["attributes"], **block["blocks"]}
                self.report(
                    file,
                    line,
                    f"{path} has no attribute {step.name}{_near(step.name, known)}",
                )
                return
            path = f"{path}.{step.name}"

    def run(self) -> list[Problem]:
        self.collect()
        self.check_versions()
        self.check_blocks()
        self.check_references()
        return sorted(self.problems, key=lambda p: (p.file, p.line, p.message))


def walk_attributes(body: list[Any]) -> Iterator[Attribute]:
    for item in body:
        if isinstance(item, Attribute):
            yield item
        else:
            yield from walk_attributes(item.body)


def object_strings(tokens: list[Token]) -> dict[str, str]:
    """{ source = "x", version = "y" } -> {"source": "x", "version": "y"}."""
    out = {}
    for i in range(len(tokens) - 2):
        if (
            tokens[i].kind == "ident"
            and tokens[i + 1].text == "="
            and tokens[i + 2].kind == "string"
        ):
            out[tokens[i].text] = tokens[i + 2].text
    return out


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def pinned_problem(constraint: str, facts_version: str) -> str | None:
    """None if the constraint admits facts_version and nothing outside its patch series."""
    have = _version(facts_version)
    match = re.fullmatch(r"\s*(~>|=)?\s*(\d+\.\d+\.\d+)\s*", constraint)
    want = (
        f'the schema facts are for {facts_version}: pin version = "~> {facts_version}" '
        "(or regenerate the facts for the version you want)"
    )
    if match is None:
        return (
            f'version "{constraint}" admits versions other than {facts_version}\'s series; {want}'
        )
    pinned = _version(match[2])
    if match[1] == "~>":
        if pinned[:2] != have[:2] or have < pinned:
            return f'version "{constraint}" does not admit {facts_version}; {want}'
        return None
    if pinned != have:
        return f'version "{constraint}" is not {facts_version}; {want}'
    return None


def _near(name: str, known: Any) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--infra", type=Path, default=REPO / "infra")
    parser.add_argument("--schemas", type=Path, default=None)
    args = parser.parse_args(argv)
    schemas = args.schemas or args.infra / "provider-schemas"
    checker = Checker(args.infra, schemas)
    problems = checker.run()
    for problem in problems:
        print(problem)
    versions = ", ".join(f"{f['provider']} {f['version']}" for f in checker.facts.values())
    count = len(checker.config.resources) + len(checker.config.data)
    if problems:
        print(f"check_infra_schema: {len(problems)} problem(s) in {count} blocks ({versions})")
        return 1
    print(f"check_infra_schema: {count} resources and data sources match {versions}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
