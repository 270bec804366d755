/**
 * What the app does first, through the typed client: compiled with `tsc` (tsconfig.json:
 * strict, exactOptionalPropertyTypes) and run against a real server by `make test`
 * (tests/clients/test_typescript.py). By hand, against `make dev`:
 *
 *   cd clients/typescript && npx tsc && node build/scenario/scenario.js http://localhost:8080
 *
 * Register, create a todo, pin it with a one-field PATCH that leaves every other field as
 * it was, page through a list, and read a 404 and a 422 as typed problems.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import { createSealyClient, etagOf, isProblem, type Problem, type Schemas } from "../src/index.js";

type Todo = Schemas["TodoOut"];
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(): T | undefined {
  return undefined;
}

const baseUrl = process.argv[2] ?? "http://localhost:8080";
let token: string | undefined;
const api = createSealyClient({ baseUrl, token: () => token });

// --- register: a fresh account each run ---------------------------------------------------
const registered = await api.POST("/v1/auth/register", {
  body: {
    email: `ts-${randomUUID()}@example.com`,
    password: "correct horse battery staple",
    username: "ts-scenario",
    timezone: "Europe/London",
  },
});
assert.equal(registered.response.status, 201, JSON.stringify(registered.error));
assert.ok(registered.data);
token = registered.data.tokens.access_token;
assert.equal(registered.data.user.timezone, "Europe/London");

// --- create -----------------------------------------------------------------------------
async function createTodo(title: string): Promise<{ todo: Todo; etag: string }> {
  const { data, error, response } = await api.POST("/v1/todos", {
    // The fields the document gives a default (priority, pinned, done) are typed as
    // required by openapi-typescript's default settings: these are the server's defaults.
    body: {
      title,
      description: "the ferns on the balcony too",
      priority: 2,
      pinned: false,
      done: false,
      deadline: "2030-01-06T09:00:00Z",
      remind_at: "2030-01-06T08:45:00Z",
      recurrence: {
        type: "weekly",
        interval: 1,
        days_of_week: [0, 3],
        start_at: "2030-01-06T09:00:00Z",
      },
    },
  });
  assert.equal(response.status, 201, JSON.stringify(error));
  assert.ok(data);
  assert.ok(response.headers.get("Location")?.endsWith(`/v1/todos/${data.id}`));
  return { todo: data, etag: etagOf(response) };
}

const { todo: created, etag } = await createTodo("Water the plants");
assert.equal(etag, `"${created.version}"`);

// --- a one-field PATCH: every other field stays as it was ---------------------------------
const everyFieldOptional: Schemas["TodoUpdate"] = {}; // compiles: no field is required
assert.deepEqual(everyFieldOptional, {});
const pinned = await api.PATCH("/v1/todos/{item_id}", {
  params: { path: { item_id: created.id }, header: { "If-Match": etag } },
  body: { pinned: true },
});
assert.equal(pinned.response.status, 200, JSON.stringify(pinned.error));
assert.ok(pinned.data);
assert.equal(pinned.data.pinned, true);
assert.equal(pinned.data.version, created.version + 1);
const unchanged = (todo: Todo) => {
  const { pinned: _pinned, version: _version, updated_at: _updated, ...rest } = todo;
  return rest;
};
assert.deepEqual(unchanged(pinned.data), unchanged(created));
assert.ok(created.description && created.deadline && created.remind_at && created.recurrence);

// The ETag just read is stale now: the same write with it is refused, and changes nothing.
const stale = await api.PATCH("/v1/todos/{item_id}", {
  params: { path: { item_id: created.id }, header: { "If-Match": etag } },
  body: { title: "overwritten" },
});
assert.equal(stale.response.status, 412);

// --- paging -------------------------------------------------------------------------------
const second = (await createTodo("Feed the cat")).todo;
const third = (await createTodo("Call the plumber")).todo;
const seen: string[] = [];
let cursor: string | undefined;
let pages = 0;
do {
  const page = await api.GET("/v1/todos", {
    params: { query: { limit: 2, sort: "created_at", ...(cursor ? { cursor } : {}) } },
  });
  assert.equal(page.response.status, 200, JSON.stringify(page.error));
  assert.ok(page.data);
  seen.push(...page.data.items.map((todo) => todo.id));
  cursor = page.data.next_cursor ?? undefined;
  pages += 1;
} while (cursor !== undefined);
assert.equal(pages, 2);
assert.deepEqual(seen, [created.id, second.id, third.id]);

// --- problems, typed as problems ------------------------------------------------------------
const missing = await api.GET("/v1/todos/{item_id}", {
  params: { path: { item_id: randomUUID() } },
});
expectType<Equal<typeof missing.error, Problem | undefined>>();
assert.equal(missing.response.status, 404);
assert.equal(missing.response.headers.get("Content-Type"), "application/problem+json");
assert.ok(missing.error);
const notFound: Problem = missing.error;
assert.equal(notFound.status, 404);
assert.equal(notFound.title, "Not Found");
assert.equal(notFound.errors, undefined);
assert.ok(isProblem(notFound) && notFound.request_id.length > 0);

const invalid = await api.PATCH("/v1/todos/{item_id}", {
  params: { path: { item_id: created.id } },
  body: { priority: 9 },
});
assert.equal(invalid.response.status, 422);
assert.ok(invalid.error);
assert.deepEqual(
  invalid.error.errors?.map((e) => e.field),
  ["priority"],
);

console.log(`typescript scenario: ok (${seen.length} todos over ${pages} pages)`);
