// esbuild bundles, written to bench/dist (gitignored):
//   page-<client>.js   IIFE bundles the bench page loads; each sets
//                      window.benchClients[<client>] (bench/clients/*.js)
//   size-<name>.js     minified ESM bundles of what an app would ship for a
//                      client (bench/sizes/*.js), for the bundle-size section

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

export const BENCH = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const DIST = path.join(BENCH, "dist");

const common = {
  bundle: true,
  platform: "browser",
  target: "es2022",
  minify: true,
  legalComments: "none",
  logLevel: "warning",
  // Some npm packages still read Node's `global` or `process.env.NODE_ENV`.
  define: { global: "globalThis", "process.env.NODE_ENV": '"production"' },
};

/** Builds the page bundles; returns { client: file }. */
export async function buildPageBundles() {
  fs.mkdirSync(DIST, { recursive: true });
  const out = {};
  for (const entry of fs.readdirSync(path.join(BENCH, "clients")).filter((f) => f.endsWith(".js"))) {
    const name = entry.replace(/\.js$/, "");
    const outfile = path.join(DIST, `page-${name}.js`);
    await esbuild.build({ ...common, entryPoints: [path.join(BENCH, "clients", entry)], outfile, format: "iife" });
    out[name] = outfile;
  }
  return out;
}

/** Builds the bundle-size entries; returns { name: file }. */
export async function buildSizeBundles() {
  fs.mkdirSync(DIST, { recursive: true });
  const out = {};
  for (const entry of fs.readdirSync(path.join(BENCH, "sizes")).filter((f) => f.endsWith(".js"))) {
    const name = entry.replace(/\.js$/, "");
    const outfile = path.join(DIST, `size-${name}.js`);
    await esbuild.build({ ...common, entryPoints: [path.join(BENCH, "sizes", entry)], outfile, format: "esm" });
    out[name] = outfile;
  }
  return out;
}

/** resupload's JS glue (`pkgDir`/resupload.js), minified by esbuild as an app's bundler would. */
export async function minifyResuploadGlue(pkgDir, name = "size-resupload-glue.js") {
  fs.mkdirSync(DIST, { recursive: true });
  const outfile = path.join(DIST, name);
  await esbuild.build({
    ...common,
    entryPoints: [path.join(pkgDir, "resupload.js")],
    outfile,
    format: "esm",
    // The wasm file is fetched at run time, not bundled.
    external: ["*.wasm"],
  });
  return outfile;
}
