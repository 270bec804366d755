// Runs the /docs page's script (devtools/docs.html) in Node.js, with the few DOM calls it makes
// answered by a small element tree in place of a browser, and prints what the page shows:
//
//   node render_docs.mjs docs.html document.json   -> the page rendering that document
//   node render_docs.mjs docs.html --status 503    -> the page when the document cannot be read
//
// The output is JSON: {"text": every text of the page, "tables": [[header cells], ...],
// "ids": [element ids]}; tests/clients/test_docs_page.py reads it.
import { readFileSync } from "node:fs";
import vm from "node:vm";

class Node_ {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.children = [];
    this.ownText = "";
    this.id = "";
    this.className = "";
  }
  append(...items) {
    for (const item of items) {
      if (item instanceof Fragment) this.children.push(...item.children);
      else this.children.push(typeof item === "string" ? new Text(item) : item);
    }
  }
  set textContent(value) {
    this.children = [];
    this.ownText = String(value);
  }
  get textContent() {
    return this.ownText + this.children.map((c) => c.textContent).join("");
  }
  scrollIntoView() {}
  *walk() {
    yield this;
    for (const child of this.children) if (child instanceof Node_) yield* child.walk();
  }
}
class Fragment extends Node_ {}
class Text extends Node_ {
  constructor(text) {
    super("#text");
    this.ownText = text;
  }
}

const [page, ...rest] = process.argv.slice(2);
const html = readFileSync(page, "utf8");
const script = html.match(/<script>([\s\S]*?)<\/script>/)[1];
const roots = Object.fromEntries(["intro", "nav", "api"].map((id) => [id, new Node_("div")]));
const all = () => Object.values(roots).flatMap((root) => [...root.walk()]);
const document = {
  createElement: (tag) => new Node_(tag),
  createDocumentFragment: () => new Fragment("#fragment"),
  createTextNode: (text) => new Text(text),
  getElementById: (id) => roots[id] || all().find((e) => e.id === id) || null,
};
const status = rest[0] === "--status" ? Number(rest[1]) : 200;
const body = status === 200 ? readFileSync(rest[0], "utf8") : "";
const fetch = async (url) => {
  if (url !== "/v1/openapi.json") throw new Error(`unexpected fetch of ${url}`);
  return new Response(body || "{}", { status, statusText: status === 200 ? "OK" : "Unavailable" });
};
vm.runInNewContext(script, {
  document, fetch, Node: Node_, location: { hash: "" }, console, JSON, Error, String, Set, Object,
});
// The page renders (or says it cannot) once the fetch settles: wait for that, a bounded while.
for (let turn = 0; roots.api.children.length === 0 && turn < 100_000; turn += 1) {
  await new Promise((resolve) => setImmediate(resolve));
}
const elements = all();
console.log(JSON.stringify({
  text: roots.api.textContent,
  tables: elements.filter((e) => e.tagName === "TABLE")
    .map((t) => [...t.walk()].filter((e) => e.tagName === "TH").map((e) => e.textContent)),
  ids: elements.map((e) => e.id).filter(Boolean),
}));
