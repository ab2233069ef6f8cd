// examples/frontend has no build step: it loads a copy of the browser bundle. The copy must be
// what `npm run build` makes now (run `make generate-clients` after changing the client).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const built = new URL("../dist/browser/billgate-client.js", import.meta.url);
const vendored = new URL("../../../examples/frontend/vendor/billgate-client.js", import.meta.url);

test("examples/frontend/vendor/billgate-client.js is the current browser bundle", () => {
  const same = readFileSync(built).equals(readFileSync(vendored));
  assert.ok(same, "examples/frontend/vendor/billgate-client.js is stale: run `make generate-clients`");
});

test("the browser bundle is self-contained: no Node modules, no bare imports", () => {
  const source = readFileSync(built, "utf8");
  assert.doesNotMatch(source, /^\s*import\s.*from\s+["'](?!\.)/m);
  assert.doesNotMatch(source, /require\(|^\s*import\s*\(/m);
  assert.match(source, /export \{[^}]*\bBillgate\b/);
});
