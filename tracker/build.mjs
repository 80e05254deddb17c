// Minifies src/tracker.js into ../public/tracker.js (the file the server
// serves to storefronts) and enforces the size budget: 1.5 KB gzip.
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const BUDGET = 1536;
const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const outfile = here("../public/tracker.js");

await build({
  entryPoints: [here("src/tracker.js")],
  outfile,
  // The source is its own IIFE; no bundling, so esbuild adds no wrapper.
  bundle: false,
  minify: true,
  target: "es2019",
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
});

const code = readFileSync(outfile);
const gzip = gzipSync(code, { level: 9 }).length;
console.log(`tracker.js: ${code.length} bytes raw, ${gzip} bytes gzip`);
if (gzip > BUDGET) {
  console.error(`tracker.js is over its budget of ${BUDGET} bytes gzip`);
  process.exit(1);
}
