// One ES module for pages without a bundler (examples/frontend vendors it): the client with
// graphql-ws inside, no Node parts. Built from dist/ by `npm run build`.
import { build } from "esbuild";
import { readFileSync } from "node:fs";

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

await build({
  entryPoints: ["dist/index.js"],
  outfile: "dist/browser/billgate-client.js",
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  legalComments: "eof",
  banner: { js: `// @billgate/client ${version} for browsers: the package and graphql-ws (MIT) in one ES module.` },
  logLevel: "warning",
});
