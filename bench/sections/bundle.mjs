// Bundle size: what a page downloads for each client, raw and gzip -9
// (Node's zlib at level 9, each file on its own, as a server sends it).
// resupload: its package as built (pkg/resupload_bg.wasm, pkg/resupload.js
// and the snippets the glue imports, what `import "resupload"` loads; the
// hash worker, loaded only when parts are hashed, is not counted), and
// with the JS glue bundled and minified by esbuild as an app's bundler
// would; then its `resupload/pending` build (pkg/pending/, with Upload's
// static lookups) and its `resupload/queue` build (pkg/queue/, with those
// and UploadQueue).
// The JS clients: esbuild bundles, minified, of what an app imports
// (bench/sizes/*.js).

import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

import * as esbuild from "esbuild";

import { clientVersions } from "../clients/index.mjs";
import { buildSizeBundles, minifyResuploadGlue } from "../lib/build.mjs";
import { REPO } from "../lib/stack.mjs";
import { kib } from "../lib/util.mjs";

export const id = "bundle";
export const title = "Bundle size";
export const needsBrowser = false;
export const enabledByDefault = true;

function measure(files) {
  let raw = 0;
  let gzip = 0;
  for (const file of files) {
    const bytes = fs.readFileSync(file);
    raw += bytes.length;
    gzip += zlib.gzipSync(bytes, { level: 9 }).length;
  }
  return { raw, gzip, files: files.map((f) => path.relative(REPO, f)) };
}

/** The modules `glue` imports statically (the snippets), as esbuild follows them. */
async function staticImports(glue) {
  const { metafile } = await esbuild.build({
    entryPoints: [glue],
    bundle: true,
    write: false,
    metafile: true,
    format: "esm",
    external: ["*.wasm"],
    logLevel: "silent",
  });
  return Object.keys(metafile.inputs)
    .map((input) => path.resolve(input))
    .filter((file) => file !== path.resolve(glue));
}

/** What a page loads for the build in `dir`: its wasm, its glue and the glue's imports. */
async function entryFiles(dir) {
  const glue = path.join(dir, "resupload.js");
  return [path.join(dir, "resupload_bg.wasm"), glue, ...(await staticImports(glue))];
}

export async function run() {
  const pkg = path.resolve(REPO, process.env.RESUPLOAD_PKG_DIR || "pkg");
  const wasm = path.join(pkg, "resupload_bg.wasm");
  const glue = path.join(pkg, "resupload.js");
  const snippets = await staticImports(glue);
  const sizes = await buildSizeBundles();
  const minGlue = await minifyResuploadGlue(pkg);
  const entry = (dir) => (fs.existsSync(path.join(pkg, dir, "resupload.js")) ? path.join(pkg, dir) : null);
  const pending = entry("pending");
  const queue = entry("queue");
  const v = clientVersions();
  const rows = [
    { id: "resupload-wasm", label: "resupload: resupload_bg.wasm", ...measure([wasm]) },
    { id: "resupload-js", label: "resupload: resupload.js (as built)", ...measure([glue]) },
    { id: "resupload-snippets", label: "resupload: the snippets resupload.js imports (as built)", ...measure(snippets) },
    { id: "resupload", label: "**resupload: wasm + JS (glue and snippets) as built**", ...measure([wasm, glue, ...snippets]) },
    { id: "resupload-min", label: "resupload: wasm + JS minified by esbuild", ...measure([wasm, minGlue]) },
    ...(pending
      ? [{ id: "resupload-pending", label: "resupload/pending (Upload with its lookups): wasm + JS as built", ...measure(await entryFiles(pending)) }]
      : []),
    ...(queue
      ? [
          { id: "resupload-queue", label: "resupload/queue (Upload with its lookups + UploadQueue): wasm + JS as built", ...measure(await entryFiles(queue)) },
          { id: "resupload-queue-min", label: "resupload/queue: wasm + JS minified by esbuild", ...measure([path.join(queue, "resupload_bg.wasm"), await minifyResuploadGlue(queue, "size-resupload-queue-glue.js")]) },
        ]
      : []),
    { id: "uppy", label: `@uppy/core + @uppy/aws-s3 ${v["@uppy/aws-s3"]}`, ...measure([sizes.uppy]) },
    { id: "uppy-golden-retriever", label: `@uppy/core + @uppy/aws-s3 + @uppy/golden-retriever ${v["@uppy/golden-retriever"]}`, ...measure([sizes["uppy-golden-retriever"]]) },
    { id: "lib-storage", label: `@aws-sdk/lib-storage + @aws-sdk/client-s3 ${v["@aws-sdk/client-s3"]} (S3Client, Upload)`, ...measure([sizes["lib-storage"]]) },
    { id: "tus", label: `tus-js-client ${v["tus-js-client"]}`, ...measure([sizes.tus]) },
  ];
  const lines = ["| what | raw | gzip -9 |", "| --- | ---: | ---: |"];
  for (const r of rows) lines.push(`| ${r.label} | ${kib(r.raw)} KiB | ${kib(r.gzip)} KiB |`);
  const notes = [
    `JS clients: \`esbuild --bundle --minify --format=esm --platform=browser\` (esbuild ${v.esbuild}) of an entry that imports what an app would use (bench/sizes/*.js). resupload as \`npm run build\` (scripts/build.mjs) writes it: the wasm after wasm-opt -Oz, the glue and its snippets minified by esbuild (each with a sourceMappingURL line), each file gzipped on its own.`,
  ];
  return { markdown: `${lines.join("\n")}\n\n${notes.map((n) => `- ${n}`).join("\n")}`, json: { rows } };
}
