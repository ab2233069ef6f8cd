// Copies the browser bundle (dist/browser/billgate-client.js, from `npm run build`) into
// examples/frontend/vendor/, with graphql-ws's licence: that example has no build step.
// test/example-frontend.test.js fails when the copy differs from a fresh build.
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";

const here = dirname(new URL(import.meta.url).pathname);
const vendor = resolve(here, "..", "..", "..", "examples", "frontend", "vendor");
const graphqlWs = dirname(createRequire(import.meta.url).resolve("graphql-ws/package.json"));

mkdirSync(vendor, { recursive: true });
copyFileSync(resolve(here, "..", "dist", "browser", "billgate-client.js"), join(vendor, "billgate-client.js"));
copyFileSync(join(graphqlWs, "LICENSE.md"), join(vendor, "LICENSE.graphql-ws.md"));
console.log(`copied the browser bundle to ${vendor}`);
